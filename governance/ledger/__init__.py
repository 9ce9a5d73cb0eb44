"""The decision log: a hash chain of every governance event, its verification, checkpoints,
exports, recorded decisions, and the evidence package for auditors.

Kept free of imports: `python -m governance.ledger.verify` runs on the standard library alone.
"""
