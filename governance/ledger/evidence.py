"""The auditor's evidence package: one zip that shows what governance did in a period, and how
to check offline that the decision log behind it was not altered.

The package holds the ledger slice (for the offline verifier), the checkpoints, both
verifications' reports, the rules, grants and decisions of the period, the recorded decisions,
any sections other apps contribute through settings.EVIDENCE_SECTIONS (governance may not import
them), a manifest with every file's SHA-256, and a README. Producing one is itself on the ledger.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeAlias

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from catalog.actors import Actor
from catalog.replicas import read_connection, replica_reads
from governance.ledger import proofcheck, signing
from governance.ledger import verify as offline_verifier
from governance.ledger.chain import ledger_append
from governance.ledger.export import export_lines
from governance.ledger.period import (
    decisions_summary,
    grants_document,
    period,
    recorded_decisions_document,
    rules_document,
)
from governance.ledger.tree import latest_tree_head
from governance.ledger.verification import checkpoint_documents, verify_ledger
from governance.models import (
    LedgerEntry,
)
from governance.models.ledger import GENESIS_HASH
from governance.policy.index import policy_version
from governance.roles import Role, has_role
from locus_client import merkle as client_merkle
from locus_client import proofcheck as client_proofcheck
from locus_client import signatures as client_signatures

FORMAT = "locus-evidence/1"
EXPORTED_KIND = "evidence.exported"
MANIFEST = "manifest.json"
README = "README.txt"
LEDGER = "ledger.jsonl"
CHECKPOINTS = "checkpoints.json"
SIGNING_KEY = "signing-key.txt"
LATER_CHECKPOINTS = "checkpoints-later.json"
TREE_HEAD = "tree-head.json"  # the Merkle tree's latest signed head when the package was cut
VERIFIER_DIR = "verifier/governance"  # the package path of governance.ledger.verify
# The checks it shares with the installed `locus` client, in that package's path.
CLIENT_DIR = "verifier/locus_client"
CORE_FILES = frozenset(
    {
        MANIFEST,
        README,
        LEDGER,
        CHECKPOINTS,
        SIGNING_KEY,
        LATER_CHECKPOINTS,
        "verification.json",
        "rules.json",
        "grants.json",
        "decisions-summary.json",
        "recorded-decisions.json",
        f"{VERIFIER_DIR}/__init__.py",
        f"{VERIFIER_DIR}/ledger/__init__.py",
        f"{VERIFIER_DIR}/ledger/verify.py",
        f"{VERIFIER_DIR}/ledger/proofcheck.py",
        f"{CLIENT_DIR}/__init__.py",
        f"{CLIENT_DIR}/merkle.py",
        f"{CLIENT_DIR}/proofcheck.py",
        f"{CLIENT_DIR}/signatures.py",
        TREE_HEAD,
    }
)
# A contributed file's name: relative, plain characters, no '..' (it becomes a path when unzipped).
SECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")

Section = Callable[[dt.datetime, dt.datetime], dict[str, bytes]]
# A JSON document of the package (or a part of one), as json.dumps writes it.
Document: TypeAlias = dict[str, Any]


@dataclass(frozen=True)
class Evidence:
    """A built package: the zip's bytes, its manifest, and the manifest's SHA-256."""

    data: bytes
    manifest: Document
    manifest_sha256: str


def may_export_evidence(user: Actor) -> bool:
    """Auditors and privacy officers export evidence (superusers hold every role)."""
    return has_role(user, Role.AUDITOR, Role.PRIVACY_OFFICER)


def build_evidence(since: dt.datetime, until: dt.datetime) -> bytes:
    """The evidence package for [since, until) as zip bytes (not recorded on the ledger)."""
    return assemble(since, until).data


def evidence_export(
    *, actor: Actor, since: dt.datetime, until: dt.datetime, via: str = "api"
) -> bytes:
    """Build the package for a person and record the export on the ledger: it is auditable."""
    if not may_export_evidence(actor):
        raise PermissionDenied("Only auditors and privacy officers export evidence")
    if until <= since:
        raise ValidationError({"to": "The end of the period must be after its start"})
    with replica_reads():  # a long read: from a replica when one is up to date
        evidence = assemble(since, until)
    with transaction.atomic():
        ledger_append(
            actor=actor,
            kind=EXPORTED_KIND,
            data={
                "from": since.isoformat(),
                "to": until.isoformat(),
                "manifest_sha256": evidence.manifest_sha256,
                "package_sha256": _sha256(evidence.data),
                "package_size": len(evidence.data),
                "files": len(evidence.manifest["files"]),
                "ledger_head": evidence.manifest["ledger_head"],
                "via": via,
            },
        )
    return evidence.data


def assemble(since: dt.datetime, until: dt.datetime) -> Evidence:
    """Read everything from one snapshot where the database offers it, then zip it."""
    generated_at = timezone.now()
    with _consistent_reads():
        files, facts = _ledger_files(since, until)
        files.update(
            {
                "rules.json": _json(rules_document(since, until)),
                "grants.json": _json(grants_document(since, until)),
                "decisions-summary.json": _json(decisions_summary(since, until)),
                "recorded-decisions.json": _json(recorded_decisions_document()),
            }
        )
        files.update(_verifier_files())
        files[TREE_HEAD] = _json(latest_tree_head())
        files.update(contributed_sections(since, until))
        facts["policy_version"] = policy_version()[0]
    files[README] = readme(since, until, generated_at).encode()
    manifest = manifest_document(files, since, until, generated_at, facts)
    manifest_bytes = _json(manifest)
    return Evidence(_zip({MANIFEST: manifest_bytes, **files}), manifest, _sha256(manifest_bytes))


@contextmanager
def _consistent_reads() -> Iterator[None]:
    """On PostgreSQL, one REPEATABLE READ transaction, so that every file sees the same moment.

    Only when no transaction is open yet (the isolation level must be set first). SQLite takes
    its write lock for every transaction here, so there the reads run without one.
    """
    connection = read_connection()  # a replica's, inside replica_reads()
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        yield
        return
    with transaction.atomic(using=connection.alias):
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


# --- The ledger and its verification ---------------------------------------------------------


def _ledger_files(since: dt.datetime, until: dt.datetime) -> tuple[dict[str, bytes], Document]:
    """ledger.jsonl, the checkpoints, and verification.json; plus facts for the manifest."""
    lines = list(export_lines(since=since, until=until))
    header = json.loads(lines[0])
    last_sequence = header["to_sequence"]
    documents = checkpoint_documents()
    # A checkpoint past the slice cannot be checked against it (the verifier would call the
    # slice truncated): it goes in its own file, so the package still holds every checkpoint.
    checkable = [cp for cp in documents if cp["sequence"] <= last_sequence]
    later = [cp for cp in documents if cp["sequence"] > last_sequence]
    uses_hmac = any(cp["algorithm"] == "hmac-sha256" for cp in checkable)
    offline = offline_verifier.verify_export(
        lines,
        checkable,
        signing._hmac_key() if uses_hmac else None,
        trusted_keys=signing.trusted_public_keys(),
    )
    database = verify_ledger().as_dict()
    verification = {
        "ok": offline["ok"] and database["ok"],
        "offline": {**offline, "ledger_file": LEDGER, "checkpoint_file": CHECKPOINTS},
        "database": database,
    }
    files = {
        LEDGER: "".join(lines).encode(),
        SIGNING_KEY: (signing.public_key_b64() + "\n").encode(),
        CHECKPOINTS: _json(checkable),
        LATER_CHECKPOINTS: _json(later),
        "verification.json": _json(verification),
    }
    facts = {
        "ledger_head": _ledger_head(),
        "ledger_export": {
            "entries": header["entries"],
            "genesis": header["genesis"],
            "first_sequence": header["from_sequence"] if header["entries"] else None,
            "last_sequence": last_sequence if header["entries"] else None,
        },
        "checkpoints": {"in_file": len(checkable), "later": len(later)},
        "verification_ok": verification["ok"],
    }
    return files, facts


def _ledger_head() -> Document:
    head = LedgerEntry.objects.order_by("-sequence").values("sequence", "hash").first()
    return head or {"sequence": 0, "hash": GENESIS_HASH}


def _verifier_files() -> dict[str, bytes]:
    """A copy of the standard-library verifier, so the package can be checked without Locus."""
    source = Path(offline_verifier.__file__).read_bytes()
    return {
        f"{VERIFIER_DIR}/__init__.py": b'"""The offline verifier shipped with a Locus evidence package."""\n',
        f"{VERIFIER_DIR}/ledger/__init__.py": b'"""The decision log\'s offline verifier."""\n',
        f"{VERIFIER_DIR}/ledger/verify.py": source,
        f"{VERIFIER_DIR}/ledger/proofcheck.py": _source(proofcheck),
        # Not the client's own __init__, which imports its HTTP client: the checks need none.
        f"{CLIENT_DIR}/__init__.py": b'"""The checks the verifier shares with the locus client."""\n',
        **{
            f"{CLIENT_DIR}/{Path(module.__file__ or '').name}": _source(module)
            for module in (client_merkle, client_proofcheck, client_signatures)
        },
    }


def _source(module: ModuleType) -> bytes:
    return Path(module.__file__ or "").read_bytes()


# --- Rules, grants, decisions ------------------------------------------------------------------


def contributed_sections(since: dt.datetime, until: dt.datetime) -> dict[str, bytes]:
    """The files of every callable named in settings.EVIDENCE_SECTIONS, checked."""
    files: dict[str, bytes] = {}
    for dotted in getattr(settings, "EVIDENCE_SECTIONS", []):
        section: Section = import_string(dotted)
        for name, content in section(since, until).items():
            _check_section_file(dotted, name, content, files)
            files[name] = content
    return files


def _check_section_file(
    dotted: str, name: object, content: object, taken: dict[str, bytes]
) -> None:
    if not isinstance(name, str) or not SECTION_NAME.match(name) or ".." in name.split("/"):
        raise ImproperlyConfigured(f"Evidence section {dotted} gave a bad file name: {name!r}")
    if name in CORE_FILES or name in taken:
        raise ImproperlyConfigured(f"Evidence section {dotted} gave a file that exists: {name}")
    if not isinstance(content, bytes):
        raise ImproperlyConfigured(f"Evidence section {dotted} gave {name} as non-bytes")


# --- Manifest, README, zip ---------------------------------------------------------------------


def manifest_document(
    files: dict[str, bytes],
    since: dt.datetime,
    until: dt.datetime,
    generated_at: dt.datetime,
    facts: Document,
) -> Document:
    """Every file with its SHA-256 and size; the period, time, policy version and ledger head."""
    return {
        "format": FORMAT,
        "generated_at": generated_at.isoformat(),
        "period": period(since, until),
        **facts,
        "files": [
            {"name": name, "sha256": _sha256(content), "size": len(content)}
            for name, content in sorted(files.items())
        ],
    }


def readme(since: dt.datetime, until: dt.datetime, generated_at: dt.datetime) -> str:
    return f"""Locus evidence package
======================

Period: {since.isoformat()} to {until.isoformat()} (from inclusive, to exclusive)
Generated: {generated_at.isoformat()}

manifest.json lists every other file with its SHA-256 and size. Check them first, e.g.
    sha256sum ledger.jsonl

Verify the decision log offline (Python 3.11+, standard library only), trusting only the
public key Locus publishes (signing-key.txt holds the key that signed this package: compare it
with the published one; a key inside the package proves nothing by itself):

    python -m governance.ledger.verify ledger.jsonl --checkpoint checkpoints.json \
        --trusted-key PUBLISHED_KEY        (or --trusted-keys-file FILE, one key a line)

from a Locus checkout, or, with the copy of the verifier shipped in this package (compare it
with the published source), from this directory:

    PYTHONPATH=verifier python -m governance.ledger.verify ledger.jsonl \
        --checkpoint checkpoints.json --trusted-keys-file signing-key.txt

Exit status 0: the header is signed by a trusted key, every link of the chain holds, its ends
match the header's hashes and every checkpoint matches; 1: broken (the report names the first
broken entry); 2: unreadable input, or no trusted key given. The signed header names the
hashes at both ends, so a cut at either end, or an edited header, is found. A period that does
not start at the chain's first entry is a slice: its first link is pinned by the signed header
(the report's "first_link"); --from-genesis refuses slices. Checkpoints signed by a key that is
not trusted fail; earlier HMAC checkpoints need the operator's key in hex (--hmac-key; manage.py
checkpoint_ledger --show-hmac-key) and otherwise show "signature": null.

Files
-----
ledger.jsonl            a header line (which entries follow: from_sequence, to_sequence, and
                        whether they start at the chain's first entry, "genesis"), then the
                        ledger entries recorded in the period, one JSON object a line
checkpoints.json        the signed checkpoints up to the last entry of ledger.jsonl
signing-key.txt         the public key (base64) that signed the header and the checkpoints
checkpoints-later.json  checkpoints signed past that entry (they pin later parts of the chain)
verification.json       the offline verifier's report on the two files above, and Locus's
                        verification of the whole chain in its database, at export time
rules.json              the enabled locality rules with their snapshots; rule changes of the period
grants.json             the transfer grants honoured during the period or at its end
decisions-summary.json  the policy engine's decisions of the period, counted per outcome,
                        rule and country
recorded-decisions.json the decisions people recorded (ADR style)
verifier/               the offline verifier (governance/) and the checks it shares with the
                        locus client (locus_client/: Merkle proofs, Ed25519, receipts)
Any other file was contributed by another part of Locus (e.g. exception and subject-request
records); the manifest covers it too.
"""


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _json(document: object) -> bytes:
    return (
        json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    ).encode()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
