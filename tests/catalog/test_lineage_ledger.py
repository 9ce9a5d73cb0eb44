"""A lineage edge a person adds or removes (API) goes on the decision log, as the edges that
OpenLineage observes do; a refused edge leaves nothing there."""

import json

import pytest

from catalog.models import LineageEdge
from governance.ledger.verification import verify_ledger
from governance.models import LedgerEntry
from tests.factories import make_dataset

pytestmark = pytest.mark.django_db

EDGES = "/api/v1/lineage-edges/"


def entries(kind: str) -> list[LedgerEntry]:
    return list(LedgerEntry.objects.filter(kind=kind).order_by("sequence"))


def test_adding_and_removing_an_edge_by_hand_is_on_the_ledger(api_client, data_owner):
    make_dataset(data_owner, slug="raw-events")
    make_dataset(data_owner, slug="clean-events")
    client = api_client(data_owner)

    created = client.post(
        EDGES,
        {"upstream": "raw-events", "downstream": "clean-events", "transformation": "dedupe"},
        format="json",
    )
    assert created.status_code == 201, created.content
    edge = LineageEdge.objects.get()
    assert client.delete(f"{EDGES}{edge.pk}/").status_code == 204

    (added,) = entries("catalog.lineage_edge.added")
    (removed,) = entries("catalog.lineage_edge.removed")
    assert added.sequence < removed.sequence
    for entry in (added, removed):
        assert "dataset:raw-events" in entry.subjects
        assert "dataset:clean-events" in entry.subjects
        assert entry.actor_id == data_owner.pk
    assert json.loads(added.payload)["data"]["transformation"] == "dedupe"
    assert verify_ledger().ok


def test_a_refused_edge_leaves_no_entry(api_client, data_owner, other_owner):
    make_dataset(data_owner, slug="raw-events")
    make_dataset(data_owner, slug="clean-events")

    refused = api_client(other_owner).post(
        EDGES, {"upstream": "raw-events", "downstream": "clean-events"}, format="json"
    )

    assert refused.status_code == 403
    assert not entries("catalog.lineage_edge.added")
