"""What ingest finds and people handle: violations grouped into incidents, access anomalies,
and the notices and webhooks that tell people."""
