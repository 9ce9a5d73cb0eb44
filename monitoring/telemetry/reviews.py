"""Telemetry sources as a kind of access that access reviews review (settings.
ACCESS_REVIEW_SUBJECTS): a source scoped to datasets is reviewed by each one's owner, a source
for any dataset by privacy officers."""

from __future__ import annotations

from collections.abc import Iterator

from catalog.actors import Actor
from catalog.models import Dataset
from governance.reviews.subjects import Access
from monitoring.models import TelemetrySource
from monitoring.telemetry.services import telemetry_source_revoke_reviewed

TELEMETRY_SOURCE = "telemetry_source"


class TelemetrySources:
    name = TELEMETRY_SOURCE

    def accesses(self) -> Iterator[Access]:
        sources = TelemetrySource.objects.filter(status=TelemetrySource.Status.ACTIVE)
        for source in sources.prefetch_related("datasets"):
            holder = f"telemetry source {source.name}"
            datasets = [ds.pk for ds in source.datasets.all()]
            if not datasets:
                yield Access(self.name, str(source.pk), holder, "reports on any dataset")
            for ds_id in datasets:
                yield Access(self.name, str(source.pk), holder, "reports on it", ds_id)

    def revoke(self, *, actor: Actor, reference: str, dataset: Dataset | None) -> bool:
        source = TelemetrySource.objects.filter(
            pk=int(reference), status=TelemetrySource.Status.ACTIVE
        ).first()
        if source is None:
            return False
        telemetry_source_revoke_reviewed(actor=actor, source=source, reason="access review")
        return True


TELEMETRY_SOURCES = TelemetrySources()
