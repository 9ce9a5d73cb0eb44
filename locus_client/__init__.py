"""Locus's pipeline client: `LocusClient` for code, the `locus` command for shells."""

from locus_client.client import LocusClient, LocusError, LocusUnavailable

__all__ = ["LocusClient", "LocusError", "LocusUnavailable"]
