"""The answer a subject downloads: a zip with their data, or a certificate of what was done.

An export holds one JSON and one CSV file per dataset, a cover letter and a manifest that gives
every other file's SHA-256; a certificate lists what was erased where and what happens to the
models trained on it. The build is pure, from the request's rows; the services below store
it, send the link and open it for download.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import secrets
import zipfile
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.actors import Actor
from governance.errors import StateConflict
from governance.site import absolute
from requests.models.subjects import (
    EXPORTING_TYPES,
    MlPropagationDecision,
    SubjectPackage,
    SubjectRequest,
    SubjectRequestStatus,
    SubjectTask,
    seal_bytes,
)
from requests.subjects.access import require_manager
from requests.subjects.verification import secret_hash
from requests.subjects.workflow import (
    event_add,
    ledger_add,
    locked,
    mail_subject,
    officers_notify,
    page_url,
    transition,
)

MANIFEST = "manifest.json"

S = SubjectRequestStatus


@dataclass
class Built:
    kind: str
    filename: str
    content: bytes
    manifest: dict[str, Any]
    manifest_sha256: str
    summary: str


def to_csv(rows: list[dict[str, Any]]) -> str:
    """Rows as CSV, columns in order of first appearance; nested values as JSON."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: json.dumps(v) if isinstance(v, dict | list) else v for k, v in row.items()}
        )
    return out.getvalue()


def _zip(files: dict[str, bytes], at: dt.datetime) -> bytes:
    buffer = io.BytesIO()
    stamp = at.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=stamp), data)
    return buffer.getvalue()


def manifest_of(
    subject_request: SubjectRequest, files: dict[str, bytes], at: dt.datetime
) -> dict[str, Any]:
    return {
        "request": subject_request.reference,
        "type": subject_request.type,
        "generated_at": at.isoformat(),
        "algorithm": "sha256",
        "files": [
            {"path": name, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
            for name, data in sorted(files.items())
        ],
    }


def verify_zip(content: bytes) -> list[str]:
    """Problems with a package: files missing from the manifest or whose hash differs."""
    problems = []
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        manifest = json.loads(archive.read(MANIFEST))
        listed = {entry["path"]: entry["sha256"] for entry in manifest["files"]}
        present = set(archive.namelist()) - {MANIFEST}
        problems += [f"{name}: not in the manifest" for name in sorted(present - set(listed))]
        for name, digest in listed.items():
            if name not in present:
                problems.append(f"{name}: missing")
            elif hashlib.sha256(archive.read(name)).hexdigest() != digest:
                problems.append(f"{name}: SHA-256 differs")
    return problems


def _export_files(tasks: list[SubjectTask]) -> tuple[dict[str, bytes], int]:
    files, total = {}, 0
    for task in tasks:
        rows = task.export_rows
        total += len(rows)
        files[f"datasets/{task.dataset_slug}.json"] = json.dumps(
            rows, indent=2, ensure_ascii=False
        ).encode()
        files[f"datasets/{task.dataset_slug}.csv"] = to_csv(rows).encode()
    return files, total


def _cover_letter(subject_request: SubjectRequest, tasks: list[SubjectTask], body: str) -> bytes:
    lines = [
        f"Your {subject_request.get_type_display()} request {subject_request.reference}",
        f"Received: {subject_request.received_at:%Y-%m-%d}. Answered: {timezone.now():%Y-%m-%d}.",
        f"Your right: {subject_request.right_shown}.",
        "",
        body,
        "",
        "Datasets searched:",
        *(f"  - {t.dataset_slug}: {_task_line(t)}" for t in tasks),
        *([] if tasks else ["  (none of our datasets holds data about you)"]),
        "",
        f"{MANIFEST} gives the SHA-256 of every other file in this package.",
        "You may complain to a data-protection supervisory authority.",
    ]
    return "\n".join(lines).encode()


def _task_line(task: SubjectTask) -> str:
    parts = []
    if task.rows_exported is not None:
        parts.append(f"{task.rows_exported} record(s)")
    if task.rows_erased is not None:
        parts.append(f"{task.rows_erased} row(s) erased")
    if task.rows_masked is not None:
        parts.append(f"{task.rows_masked} row(s) masked")
    if task.note:
        parts.append(task.note)
    return "; ".join(parts) or "done"


def _certificate(
    subject_request: SubjectRequest,
    tasks: list[SubjectTask],
    decisions: list[MlPropagationDecision],
) -> dict[str, Any]:
    return {
        "request": subject_request.reference,
        "type": subject_request.type,
        "subject": subject_request.subject_key,
        "datasets": [
            {
                "dataset": t.dataset_slug,
                "mode": "connector" if t.automatic else "manual",
                "rows_found": t.rows_found,
                "rows_erased": t.rows_erased,
                "rows_masked": t.rows_masked,
                "note": t.note,
                "completed_at": t.completed_at.isoformat() if t.completed_at else None,
                "completed_by": t.completed_by_name,
            }
            for t in tasks
        ],
        "models": [
            {
                "training_run": d.run_name,
                "model": d.model_name,
                "datasets": d.datasets,
                "decision": d.decision,
                "reason": d.reason,
                "decided_by": d.decided_by_name,
            }
            for d in decisions
        ],
    }


def build(
    subject_request: SubjectRequest,
    tasks: list[SubjectTask],
    decisions: list[MlPropagationDecision],
    at: dt.datetime,
) -> Built:
    """The zip for a finished request, with its manifest."""
    if subject_request.type in EXPORTING_TYPES:
        files, total = _export_files(tasks)
        summary = f"Exported {total} record(s) from {len(tasks)} dataset(s)"
        files["cover-letter.txt"] = _cover_letter(subject_request, tasks, summary + ".")
        kind = SubjectPackage.Kind.EXPORT
    else:
        certificate = _certificate(subject_request, tasks, decisions)
        erased = sum((t.rows_erased or 0) + (t.rows_masked or 0) for t in tasks)
        summary = (
            f"{subject_request.get_type_display()}: done in {len(tasks)} dataset(s)"
            + (f", {erased} row(s) erased or masked" if erased else "")
            + (f", {len(decisions)} model decision(s)" if decisions else "")
        )
        files = {
            "certificate.json": json.dumps(certificate, indent=2, ensure_ascii=False).encode(),
            "cover-letter.txt": _cover_letter(subject_request, tasks, summary + "."),
        }
        kind = SubjectPackage.Kind.CERTIFICATE
    manifest = manifest_of(subject_request, files, at)
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    content = _zip({**files, MANIFEST: manifest_bytes}, at)
    return Built(
        kind=kind,
        filename=f"{subject_request.reference.lower()}-{kind}.zip",
        content=content,
        manifest=manifest,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        summary=summary,
    )


# --- The answer: package or certificate -----------------------------------------------------


def _package_token_hash(request_id: int, token: str) -> str:
    return secret_hash(request_id, "package", token)


@transaction.atomic
def subject_request_fulfil(*, request_id: int, actor: Actor = None) -> SubjectRequest | None:
    """Build the answer of a ready request, send the subject its link, close it (once);
    `actor` is the officer who approved it."""
    subject_request = SubjectRequest.objects.select_for_update().filter(pk=request_id).first()
    if subject_request is None or subject_request.status != S.READY:
        return None
    tasks = list(subject_request.tasks.order_by("dataset_slug"))
    decisions = list(subject_request.ml_decisions.all())
    built = build(subject_request, tasks, decisions, timezone.now())
    token = secrets.token_urlsafe(32)
    package = SubjectPackage.objects.create(
        request=subject_request,
        kind=built.kind,
        filename=built.filename,
        content_sealed=seal_bytes(built.content),
        size=len(built.content),
        sha256=hashlib.sha256(built.content).hexdigest(),
        manifest=built.manifest,
        token_hash=_package_token_hash(subject_request.pk, token),
        expires_at=timezone.now() + dt.timedelta(days=settings.SUBJECT_PACKAGE_DAYS),
    )
    subject_request = transition(
        subject_request,
        "complete",
        actor=actor,
        fields={"outcome": built.summary},
        comment=built.summary,
        ledger={"package_sha256": package.sha256, "manifest_sha256": built.manifest_sha256},
    )
    _send_package_link(subject_request, package, token)
    for duplicate in subject_request.duplicates.filter(status=S.DUPLICATE):
        transition(
            duplicate,
            "answered_with_original",
            comment=f"Answered with {subject_request.reference}",
        )
    officers_notify(subject_request, "completed", "answered", built.summary)
    return subject_request


def _send_package_link(
    subject_request: SubjectRequest, package: SubjectPackage, token: str
) -> None:
    link = absolute(page_url("workflows:subject-package", subject_request.pk, token))
    what = "your data" if package.kind == SubjectPackage.Kind.EXPORT else "our confirmation"
    mail_subject(
        subject_request,
        "Your request is answered",
        f"Download {what} at {link} until {package.expires_at:%Y-%m-%d %H:%M} UTC.\n"
        f"SHA-256 of the file: {package.sha256}",
    )


@transaction.atomic
def package_reissue(*, actor: Actor, subject_request: SubjectRequest) -> SubjectPackage:
    """A new download link (the old one stops working), for another SUBJECT_PACKAGE_DAYS."""
    subject_request = locked(subject_request)
    require_manager(actor, subject_request)
    package = SubjectPackage.objects.filter(request=subject_request).first()
    if package is None:
        raise StateConflict({"package": "The request has no package yet"})
    token = secrets.token_urlsafe(32)
    package.token_hash = _package_token_hash(subject_request.pk, token)
    package.expires_at = timezone.now() + dt.timedelta(days=settings.SUBJECT_PACKAGE_DAYS)
    package.save(update_fields=["token_hash", "expires_at"])
    event_add(subject_request, actor=actor, action="package_reissued")
    ledger_add(subject_request, actor=actor, kind="package_reissued")
    _send_package_link(subject_request, package, token)
    return package


class PackageLinkInvalid(PermissionDenied):
    """A download link that is not this request's current one (wrong, reissued, another's)."""


class PackageLinkExpired(PermissionDenied):
    """This request's current download link, past its time."""


def package_for_download(*, request_id: int, token: str) -> SubjectPackage:
    """The package a download link names, if the link is right and has not expired.

    The token is checked against an HMAC over this request's id, so a link made for one
    request never opens another's package, and a reissued link replaces the old one."""
    package = SubjectPackage.objects.filter(request_id=request_id).first()
    if package is None or not hmac.compare_digest(
        package.token_hash, _package_token_hash(request_id, token)
    ):
        raise PackageLinkInvalid("This download link is not valid")
    if package.expires_at <= timezone.now():
        raise PackageLinkExpired("This download link has expired: ask us for a new one")
    SubjectPackage.objects.filter(pk=package.pk).update(downloads=F("downloads") + 1)
    return package


# --- SLA watch ------------------------------------------------------------------------------
