"""OpenLineage ingest: RunEvents become runs, judged reads, lineage edges and catalog gaps."""
