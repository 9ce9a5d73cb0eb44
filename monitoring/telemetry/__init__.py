"""Telemetry in: ingest, judgement, rollups, the risk stream and the sources that send it."""
