"""What one OpenLineage RunEvent did (monitoring.lineage.ingest): its answer, with the decision
log's receipts of the entries it wrote."""

from __future__ import annotations

from dataclasses import dataclass, field

from monitoring.models import LineageRun, LineageRunDataset

# The decision-log entries an event may write (each answered with its receipt).
LOCATED = "lineage.run_located"
VIOLATIONS = "telemetry.violations"  # its reads' violations, written by telemetry ingest
EDGES = "lineage.edges_observed"


@dataclass
class LineageResult:
    """The answer to one RunEvent."""

    run: LineageRun
    event_type: str
    duplicate: bool = False
    datasets: list[LineageRunDataset] = field(default_factory=list)
    reads: dict | None = None
    edges_created: list[tuple[str, str]] = field(default_factory=list)
    edges_skipped: list[dict] = field(default_factory=list)
    catalog_gaps: list[str] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)
    # The decision log's receipts of the entries this event wrote, in the order written.
    receipts: list[dict] = field(default_factory=list)

    def wrote(self, kind: str, receipt: dict | None) -> None:
        """Keep the receipt of a decision-log entry of `kind` (none: nothing was written)."""
        if receipt is not None:
            self.receipts.append({"kind": kind, "receipt": receipt})

    @property
    def judged(self) -> bool:
        """Whether every read the event brought was judged by the policy engine."""
        return not self.not_judged

    def as_json(self) -> dict:
        run = self.run
        return {
            "runId": str(run.run_id),
            "eventType": self.event_type,
            "duplicate": self.duplicate,
            "state": run.state,
            "location": {
                "region": run.region or None,
                "rule": run.location_rule,
                "detail": run.location_detail,
            },
            "datasets": [
                {
                    "role": row.role,
                    "namespace": row.namespace,
                    "name": row.name,
                    "uri": row.uri,
                    "dataset": row.dataset.slug if row.dataset else None,
                }
                for row in self.datasets
            ],
            "reads": self.reads,
            "lineage_edges_created": [list(pair) for pair in self.edges_created],
            "lineage_edges_skipped": self.edges_skipped,
            "catalog_gaps": self.catalog_gaps,
            "judged": self.judged,
            "not_judged": self.not_judged,
            "receipts": self.receipts,
        }
