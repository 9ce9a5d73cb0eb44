"""Locus's pipeline client: `LocusClient` for code, the `locus` command for shells.

The client (`locus_client.client`) needs httpx; the offline checks of receipts and tree heads
(`merkle`, `signatures`, `proofcheck`) need the standard library only, so the client is loaded
on first use and importing them loads nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from locus_client.client import LocusClient, LocusError, LocusUnavailable

__all__ = ["LocusClient", "LocusError", "LocusUnavailable"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from locus_client import client

        return getattr(client, name)
    raise AttributeError(f"module 'locus_client' has no attribute {name!r}")
