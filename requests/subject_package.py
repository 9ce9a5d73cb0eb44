"""The answer a subject downloads: a zip with their data, or a certificate of what was done.

An export holds one JSON and one CSV file per dataset, a cover letter and a manifest that gives
every other file's SHA-256; a certificate lists what was erased where and what happens to the
models trained on it. Pure: built from the request's rows, written by subjects.py.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass

from requests.models.subjects import (
    EXPORTING_TYPES,
    MlPropagationDecision,
    SubjectPackage,
    SubjectRequest,
    SubjectTask,
)

MANIFEST = "manifest.json"


@dataclass
class Built:
    kind: str
    filename: str
    content: bytes
    manifest: dict
    manifest_sha256: str
    summary: str


def to_csv(rows: list[dict]) -> str:
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


def manifest_of(request: SubjectRequest, files: dict[str, bytes], at: dt.datetime) -> dict:
    return {
        "request": request.reference,
        "type": request.type,
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


def _cover_letter(request: SubjectRequest, tasks: list[SubjectTask], body: str) -> bytes:
    lines = [
        f"Your {request.get_type_display()} request {request.reference}",
        f"Received: {request.received_at:%Y-%m-%d}. Answered: {dt.date.today().isoformat()}.",
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
    request: SubjectRequest, tasks: list[SubjectTask], decisions: list[MlPropagationDecision]
) -> dict:
    return {
        "request": request.reference,
        "type": request.type,
        "subject": request.subject_key,
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
    request: SubjectRequest,
    tasks: list[SubjectTask],
    decisions: list[MlPropagationDecision],
    at: dt.datetime,
) -> Built:
    """The zip for a finished request, with its manifest."""
    if request.type in EXPORTING_TYPES:
        files, total = _export_files(tasks)
        summary = f"Exported {total} record(s) from {len(tasks)} dataset(s)"
        files["cover-letter.txt"] = _cover_letter(request, tasks, summary + ".")
        kind = SubjectPackage.Kind.EXPORT
    else:
        certificate = _certificate(request, tasks, decisions)
        erased = sum((t.rows_erased or 0) + (t.rows_masked or 0) for t in tasks)
        summary = (
            f"{request.get_type_display()}: done in {len(tasks)} dataset(s)"
            + (f", {erased} row(s) erased or masked" if erased else "")
            + (f", {len(decisions)} model decision(s)" if decisions else "")
        )
        files = {
            "certificate.json": json.dumps(certificate, indent=2, ensure_ascii=False).encode(),
            "cover-letter.txt": _cover_letter(request, tasks, summary + "."),
        }
        kind = SubjectPackage.Kind.CERTIFICATE
    manifest = manifest_of(request, files, at)
    manifest_bytes = json.dumps(manifest, indent=2).encode()
    content = _zip({**files, MANIFEST: manifest_bytes}, at)
    return Built(
        kind=kind,
        filename=f"{request.reference.lower()}-{kind}.zip",
        content=content,
        manifest=manifest,
        manifest_sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        summary=summary,
    )
