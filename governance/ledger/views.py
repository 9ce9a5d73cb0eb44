"""The decision-log pages: entries, one entry with the chain's status, checkpoints, recorded
decisions, the evidence export page, and the evidence API.

Privacy officers, executives and auditors read the log (governance.view_ledgerentry); the list
never verifies the chain (it must stay fast), an entry's page does. Writes go through
the ledger package (records, checkpoints, exports).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import permissions, serializers
from rest_framework.views import APIView

from catalog.form_views import form_page
from catalog.models import Dataset
from catalog.replicas import replica_view
from governance.ledger import evidence, signing
from governance.ledger.api import (
    WINDOW_NAMES,
    optional_datetime,
    window_name,
    window_parameters,
)
from governance.ledger.chain import actor_names, person_names
from governance.ledger.export import checkpoint_create
from governance.ledger.forms import (
    EvidenceForm,
    LedgerPageFilter,
    RecordedDecisionForm,
    RecordStatusForm,
    default_evidence_period,
)
from governance.ledger.publish import head_file_name, published_to
from governance.ledger.records import recorded_decision_create, recorded_decision_update
from governance.ledger.tree import latest_tree_head
from governance.ledger.verification import checkpoint_documents, verify_ledger
from governance.models import LedgerCheckpoint, LedgerEntry, LocalityRule, RecordedDecision
from governance.views import PAGE_SIZE, recent_page

MAX_PAGE = 10_000
SHORT_HASH = 12
RECORD_ENTRIES_SHOWN = 200

can_read_ledger = permission_required("governance.view_ledgerentry", raise_exception=True)
can_read_checkpoints = permission_required("governance.view_ledgercheckpoint", raise_exception=True)
can_read_records = permission_required("governance.view_recordeddecision", raise_exception=True)


# --- Subjects as links -------------------------------------------------------------------------


@dataclass(frozen=True)
class SubjectLink:
    """A ledger subject reference, with the page it names (empty when none or unknown)."""

    text: str
    url: str = ""


# kind -> (URL name, whether the value is a number)
SUBJECT_PAGES = {
    "dataset": ("catalog:dataset-detail", False),
    "rule": ("governance:rule-detail", True),
    "grant": ("governance:grant-detail", True),
    "decision": ("governance:ledger-record-detail", True),
    "run": ("governance:run-detail", True),
}


def subject_link(reference: str) -> SubjectLink:
    """dataset:slug, rule:N, grant:N, decision:N and run:N link to their pages; others are text."""
    kind, _, value = reference.partition(":")
    page = SUBJECT_PAGES.get(kind)
    if page is None or not value or (page[1] and not value.isdigit()):
        return SubjectLink(reference)
    try:
        return SubjectLink(reference, reverse(page[0], args=[value]))
    except NoReverseMatch:
        return SubjectLink(reference)


def _decorate(entries) -> list[LedgerEntry]:
    """Give each entry its subject links, short hash and actor's name for the templates (the
    entry keeps a pseudonym; readers of the log see the name while the account exists)."""
    entries = list(entries)
    names = actor_names(entries)
    for entry in entries:
        entry.subject_links = [subject_link(ref) for ref in entry.subject_list]
        entry.short_hash = entry.hash[:SHORT_HASH]
        entry.actor_display = names.get(entry.actor_name, entry.actor_name)
    return entries


def _page_number(value: str | None) -> int:
    return min(int(value), MAX_PAGE) if value and value.isdigit() and int(value) > 0 else 1


# --- The log -----------------------------------------------------------------------------------


def _entries() -> QuerySet[LedgerEntry]:
    """Entries without their payloads (the list never needs the hashed bytes)."""
    return LedgerEntry.objects.defer("payload").order_by("-sequence")


RECORD_FORM = "governance/ledger/record_form.html"


@require_safe
@login_required
@can_read_ledger
@replica_view
def ledger_list(request: HttpRequest) -> HttpResponse:
    """The decision log, newest first, searchable and filtered; never verifies the chain."""
    filterset = LedgerPageFilter(request.GET, queryset=_entries())
    if not filterset.is_valid():
        context: dict[str, Any] = {"filter": filterset, "page": None}
        return render(request, "governance/ledger/entry_list.html", context, status=400)
    page = recent_page(filterset.qs, _page_number(request.GET.get("page")))
    page.object_list[:] = _decorate(page.object_list)
    context = {"filter": filterset, "page": page, "filtered": filterset.is_filtered()}
    return render(request, "governance/ledger/entry_list.html", context)


@require_safe
@login_required
@can_read_ledger
def ledger_entry(request: HttpRequest, sequence: int) -> HttpResponse:
    """One entry with every field, its data, its links, and the whole chain's verification."""
    entry = get_object_or_404(LedgerEntry, sequence=sequence)
    _decorate([entry])
    payload = bytes(entry.payload)
    neighbours = set(
        LedgerEntry.objects.filter(sequence__in=[sequence - 1, sequence + 1]).values_list(
            "sequence", flat=True
        )
    )
    context = {
        "entry": entry,
        "payload_text": payload.decode(errors="replace"),
        "data_pretty": _pretty_data(payload),
        "previous": sequence - 1 if sequence - 1 in neighbours else None,
        "next": sequence + 1 if sequence + 1 in neighbours else None,
        "chain": _chain_status(sequence),
    }
    return render(request, "governance/ledger/entry_detail.html", context)


def _pretty_data(payload: bytes) -> str:
    try:
        data = json.loads(payload).get("data", {})
    except (ValueError, AttributeError):
        return ""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


def _chain_status(sequence: int) -> dict:
    """verify_ledger()'s report, and where this entry stands against the first broken link."""
    try:
        report = verify_ledger().as_dict()
    except ValueError as error:  # a payload that is not JSON but still hashes (never written so)
        report = {"ok": False, "chain_ok": False, "problem": f"unreadable entry: {error}"}
        report.update(first_broken_sequence=None, checkpoints=[], entries=0, head_sequence=0)
    broken = report.get("first_broken_sequence")
    if report["chain_ok"] or broken is None:
        position = "ok" if report["chain_ok"] else "unknown"
    elif sequence < broken:
        position = "before"
    else:
        position = "here" if sequence == broken else "after"
    return {**report, "position": position}


# --- Checkpoints -------------------------------------------------------------------------------


@require_safe
@login_required
@can_read_checkpoints
@replica_view
def checkpoint_list(request: HttpRequest) -> HttpResponse:
    """The signed heads of the chain, newest first, and whether the current head is signed."""
    checkpoints = LedgerCheckpoint.objects.order_by("-sequence", "-id")
    page = Paginator(checkpoints, PAGE_SIZE).get_page(request.GET.get("page"))
    names = person_names(cp.created_by_name for cp in page.object_list)
    for cp in page.object_list:
        cp.created_by_display = names.get(cp.created_by_name, cp.created_by_name)
    head = LedgerEntry.objects.order_by("-sequence").values("sequence", "hash").first()
    head_sequence = head["sequence"] if head else 0
    context = {
        "page": page,
        "head": head,
        "head_signed": checkpoints.filter(sequence=head_sequence).exists(),
        "can_sign": request.user.has_perm("governance.add_ledgercheckpoint"),
        "public_key": signing.public_key_b64(),
        "tree_head": latest_tree_head(),
        "published_to": published_to(),
    }
    return render(request, "governance/ledger/checkpoint_list.html", context)


@require_POST
@login_required
@permission_required("governance.add_ledgercheckpoint", raise_exception=True)
def checkpoint_sign(request: HttpRequest) -> HttpResponse:
    """Sign the chain's head now."""
    checkpoint = checkpoint_create(actor=request.user)
    messages.success(
        request,
        f"Signed the head of the chain at entry #{checkpoint.sequence} ({checkpoint.algorithm}).",
    )
    return redirect("governance:ledger-checkpoints")


@require_safe
@login_required
@can_read_checkpoints
def checkpoints_json(request: HttpRequest) -> HttpResponse:
    """Every checkpoint as the document it signs, for publication and the offline verifier."""
    response = JsonResponse(checkpoint_documents(), safe=False, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = 'attachment; filename="locus-checkpoints.json"'
    return response


@require_safe
@login_required
@can_read_checkpoints
def tree_head_json(request: HttpRequest) -> HttpResponse:
    """The latest signed tree head, to publish and to check later proofs against offline."""
    head = latest_tree_head()
    response = JsonResponse(head, json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="locus-{head_file_name(head["size"])}"'
    return response


# --- Recorded decisions ------------------------------------------------------------------------


def _records() -> QuerySet[RecordedDecision]:
    return RecordedDecision.objects.prefetch_related(
        Prefetch("datasets", Dataset.objects.only("id", "slug", "name").order_by("slug")),
        Prefetch("rules", LocalityRule.objects.only("id", "name").order_by("id")),
    )


@require_safe
@login_required
@can_read_records
@replica_view
def record_list(request: HttpRequest) -> HttpResponse:
    """Decisions people recorded, newest first, by status."""
    form = RecordStatusForm(request.GET)
    if not form.is_valid():
        context: dict[str, Any] = {
            "form": form,
            "page": None,
            "can_create": _may_write_records(request.user),
        }
        return render(request, "governance/ledger/record_list.html", context, status=400)
    records = _records().order_by("-created_at", "-id")
    if form.cleaned_data["status"]:
        records = records.filter(status=form.cleaned_data["status"])
    context = {
        "form": form,
        "page": Paginator(records, PAGE_SIZE).get_page(request.GET.get("page")),
        "can_create": _may_write_records(request.user),
    }
    return render(request, "governance/ledger/record_list.html", context)


@require_safe
@login_required
@can_read_records
def record_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One recorded decision, and the ledger entries that mention it (for ledger readers)."""
    record = get_object_or_404(_records(), pk=pk)
    reads_ledger = request.user.has_perm("governance.view_ledgerentry")
    entries = None
    if reads_ledger:
        mentions = _entries().filter(subjects__contains=f" decision:{pk} ").order_by("sequence")
        entries = _decorate(mentions[:RECORD_ENTRIES_SHOWN])
    context = {
        "record": record,
        "entries": entries,
        "can_edit": request.user.has_perm("governance.change_recordeddecision"),
    }
    return render(request, "governance/ledger/record_detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.add_recordeddecision", raise_exception=True)
def record_create(request: HttpRequest) -> HttpResponse:
    """Write a decision down; it goes on the ledger at once."""
    return form_page(
        request,
        form_class=RecordedDecisionForm,
        template=RECORD_FORM,
        context={"record": None},
        act=lambda form: recorded_decision_create(actor=request.user, **form.service_fields()),
        done=lambda record: (
            f"Recorded decision #{record.pk}; it is on the ledger.",
            reverse("governance:ledger-record-detail", args=[record.pk]),
        ),
    )


@require_http_methods(["GET", "POST"])
@login_required
@permission_required("governance.change_recordeddecision", raise_exception=True)
def record_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Amend a recorded decision: a new version on the ledger; the old one stays there."""
    record = get_object_or_404(_records(), pk=pk)
    return form_page(
        request,
        form_class=RecordedDecisionForm,
        template=RECORD_FORM,
        context={"record": record},
        form_kwargs={"initial": RecordedDecisionForm.initial_for(record)},
        act=lambda form: recorded_decision_update(
            actor=request.user, record=record, **form.service_fields()
        ),
        done=lambda saved: (
            f"Saved version {saved.version} of decision #{saved.pk}.",
            reverse("governance:ledger-record-detail", args=[saved.pk]),
        ),
    )


def _may_write_records(user) -> bool:
    return user.has_perm("governance.add_recordeddecision")


# --- Evidence ----------------------------------------------------------------------------------


def _evidence_response(data: bytes, since, until) -> HttpResponse:
    stamp = "%Y%m%dT%H%M%SZ"
    name = f"locus-evidence-{since.strftime(stamp)}-{until.strftime(stamp)}.zip"
    response = HttpResponse(data, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_http_methods(["GET", "POST"])
@login_required
def evidence_page(request: HttpRequest) -> HttpResponse:
    """Choose a period and download its evidence package (the export goes on the ledger)."""
    if not evidence.may_export_evidence(request.user):
        raise PermissionDenied("Only auditors and privacy officers export evidence.")
    if request.method != "POST":
        return _render_evidence(request, EvidenceForm())
    form = EvidenceForm(request.POST)
    if not form.is_valid():
        return _render_evidence(request, form, status=400)
    since, until = form.cleaned_data["since"], form.cleaned_data["until"]
    data = evidence.evidence_export(actor=request.user, since=since, until=until, via="page")
    return _evidence_response(data, since, until)


def _render_evidence(request: HttpRequest, form: EvidenceForm, status: int = 200) -> HttpResponse:
    context = {"form": form, "exports": _recent_exports()}
    return render(request, "governance/ledger/evidence.html", context, status=status)


def _recent_exports() -> list[LedgerEntry]:
    return _decorate(_entries().filter(kind=evidence.EXPORTED_KIND)[:10])


class CanExportEvidence(permissions.BasePermission):
    message = "Only auditors and privacy officers export evidence."

    def has_permission(self, request, view):
        return evidence.may_export_evidence(request.user)


class EvidenceAPIView(APIView):
    """The evidence package for a period (default: the last 30 days) as a zip; the export is
    recorded on the ledger."""

    permission_classes = [permissions.IsAuthenticated, CanExportEvidence]
    blank_means_absent = WINDOW_NAMES

    @extend_schema(
        parameters=window_parameters("Default: `until` minus 30 days", "Default: now"),
        responses={(200, "application/zip"): OpenApiTypes.BINARY},
    )
    def get(self, request):
        since = optional_datetime(request.query_params, "since")
        until = optional_datetime(request.query_params, "until")
        default_since, default_until = default_evidence_period(until or timezone.now())
        since, until = since or default_since, until or default_until
        if until <= since:
            raise serializers.ValidationError(
                {window_name(request.query_params, "until"): ["Must be after `since`."]}
            )
        data = evidence.evidence_export(actor=request.user, since=since, until=until, via="api")
        return _evidence_response(data, since, until)
