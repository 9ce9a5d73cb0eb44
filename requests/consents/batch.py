"""Reading a batch of consent events: every item checked, each fault named by its index and
field, before anything is written (a batch is recorded whole or not at all)."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.utils import timezone
from rest_framework import serializers

from catalog.models import Dataset
from governance.ledger.chain import canonical, pseudonym
from governance.models import ConsentNotice
from requests.models.consents import ConsentState
from requests.models.subjects import Channel

MAX_EVENTS = 1000
CLOCK_SKEW = dt.timedelta(minutes=5)  # a collecting system's clock may run a little ahead


class ConsentItemSerializer(serializers.Serializer):
    """One event as a collecting system sends it."""

    key = serializers.CharField(
        max_length=80,
        required=False,
        help_text="Your idempotency key for the event; without it the event's own fields are "
        "its key (a replay of the same event changes nothing either way)",
    )
    subject = serializers.CharField(
        max_length=320,
        help_text="The subject's identifier (e.g. e-mail): turned into the keyed pseudonym on "
        "arrival, never stored",
    )
    purpose = serializers.SlugField(max_length=60)
    notice = serializers.SlugField(max_length=60, help_text="The consent notice's code")
    notice_version = serializers.CharField(max_length=40)
    dataset = serializers.SlugField(
        max_length=120,
        required=False,
        help_text="One dataset the notice covers; without it, every dataset the notice covers",
    )
    regime = serializers.SlugField(
        max_length=20, required=False, help_text="Jurisdiction code; default the notice's"
    )
    state = serializers.ChoiceField(choices=ConsentState.choices)
    at = serializers.DateTimeField(help_text="When the subject gave or withdrew it")
    channel = serializers.ChoiceField(choices=Channel.choices)


@dataclass(frozen=True)
class ConsentItem:
    """One valid event, for every dataset it names."""

    key: str
    subject_key: str
    purpose: str
    notice: ConsentNotice
    datasets: tuple[Dataset, ...]
    jurisdiction_code: str
    state: str
    at: dt.datetime
    channel: str


@dataclass(frozen=True)
class ItemFault:
    index: int
    field: str
    message: str

    def as_json(self) -> dict:
        return {"index": self.index, "field": self.field, "message": self.message}


def parse_batch(items: list) -> tuple[list[ConsentItem], list[ItemFault]]:
    """The batch's events, or the faults of every bad item (then the events are not used)."""
    validator = ConsentItemSerializer()
    faults: list[ItemFault] = []
    shaped: list[tuple[int, dict]] = []
    for index, item in enumerate(items):
        try:
            if not isinstance(item, dict):
                raise serializers.ValidationError({"non_field_errors": ["Send an object"]})
            shaped.append((index, validator.run_validation(item)))
        except serializers.ValidationError as exc:
            faults += _faults(index, serializers.as_serializer_error(exc))
    notices = _notices({(data["notice"], data["notice_version"]) for _, data in shaped})
    parsed = []
    seen: dict[str, int] = {}
    for index, data in shaped:
        item = _item(data, notices, index, faults)
        if item is None:
            continue
        if item.key in seen:
            faults.append(ItemFault(index, "key", f"The same key as item {seen[item.key]}"))
            continue
        seen[item.key] = index
        parsed.append(item)
    return parsed, sorted(faults, key=lambda fault: fault.index)


def _faults(index: int, errors: dict) -> list[ItemFault]:
    return [
        ItemFault(index, field, " ".join(str(m) for m in messages))
        for field, messages in errors.items()
    ]


def _notices(wanted: set[tuple[str, str]]) -> dict[tuple[str, str], ConsentNotice]:
    """The notices the batch names, with their datasets and purposes (three queries)."""
    codes = {code for code, _ in wanted}
    rows = ConsentNotice.objects.filter(code__in=codes).prefetch_related("datasets", "purposes")
    return {(n.code, n.version): n for n in rows if (n.code, n.version) in wanted}


def _item(
    data: dict, notices: dict[tuple[str, str], ConsentNotice], index: int, faults: list[ItemFault]
) -> ConsentItem | None:
    """The item checked against its notice; a fault is added when it does not fit."""
    notice = notices.get((data["notice"], data["notice_version"]))
    if notice is None:
        faults.append(
            ItemFault(
                index,
                "notice_version",
                f"No consent notice {data['notice']} v{data['notice_version']} is published",
            )
        )
        return None
    covered = {d.slug: d for d in notice.datasets.all()}
    purposes = {p.code for p in notice.purposes.all()}
    fault = _misfit(data, notice, covered, purposes)
    if fault is not None:
        faults.append(ItemFault(index, *fault))
        return None
    datasets = (covered[data["dataset"]],) if "dataset" in data else tuple(covered.values())
    subject_key = pseudonym(data["subject"])
    return ConsentItem(
        key=data.get("key") or _natural_key(data, subject_key),
        subject_key=subject_key,
        purpose=data["purpose"],
        notice=notice,
        datasets=tuple(sorted(datasets, key=lambda d: d.slug)),
        jurisdiction_code=data.get("regime") or notice.jurisdiction_id,
        state=data["state"],
        at=data["at"],
        channel=data["channel"],
    )


def _misfit(
    data: dict, notice: ConsentNotice, covered: dict[str, Dataset], purposes: set[str]
) -> tuple[str, str] | None:
    """(field, reason) when the item asks what its notice does not cover."""
    if data["purpose"] not in purposes:
        return "purpose", f"{notice} does not cover purpose {data['purpose']!r}"
    if "dataset" in data and data["dataset"] not in covered:
        return "dataset", f"{notice} does not cover dataset {data['dataset']!r}"
    if data["at"] > timezone.now() + CLOCK_SKEW:
        return "at", "is in the future: give when the subject gave or withdrew consent"
    if data["at"] < notice.published_at:
        return "at", f"is before {notice} was published ({notice.published_at:%Y-%m-%d %H:%M} UTC)"
    if data.get("regime", notice.jurisdiction_id) != notice.jurisdiction_id:
        return (
            "regime",
            f"{notice} was written under {notice.jurisdiction_id}, not {data['regime']}",
        )
    return None


def _natural_key(data: dict, subject_key: str) -> str:
    """The key of an event sent without one: its own fields, so the same event is the same key."""
    fields = {
        "subject": subject_key,
        "purpose": data["purpose"],
        "notice": f"{data['notice']}@{data['notice_version']}",
        "dataset": data.get("dataset", ""),
        "state": data["state"],
        "at": data["at"].isoformat(),
    }
    return "natural:" + hashlib.sha256(canonical(fields)).hexdigest()[:64]
