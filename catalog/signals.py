"""Signals the catalog sends from inside its services' transactions.

Governance listens to record catalog changes in its ledger, in the same transaction; the catalog
does not import governance (the layers only look left), so it announces and governance records.
"""

from django.dispatch import Signal

# Sent with: actor, change (a DatasetChange row just written).
dataset_changed = Signal()

# Sent with: actor, edge (a LineageEdge), action ("added" or "removed"): a person's edge, not
# one observed by OpenLineage (which the lineage service puts on the ledger itself).
lineage_edge_changed = Signal()
