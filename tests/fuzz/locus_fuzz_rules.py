"""What the fuzz run (tests/test_api_fuzz.py) forgives, and why: `locus_fuzz_hooks.filter_failure`
drops a "schema-valid request rejected" (positive_data_acceptance)
only when the answer's body shows a refusal that no OpenAPI 3.0 schema can state, because it
depends on the database or on another field, not on the value's form:

1. A stale `If-Match`: 412 whose body names `If-Match` alone. The schema says the header is a
   string; which string is current (the resource's ETag) is the database's to say.
2. A reference to nothing (or text with a NUL character, which PostgreSQL cannot hold): every refused field says the object it names does not exist (an
   owner's username, a region's code, a dataset's slug or URI, a purpose, a filter's id). The
   schema can say what a slug looks like, not which slugs exist now.
3. A value taken already: a slug or name that must be unique among the rows, a cell given twice
   in one list.
4. Rules between fields or with the object's state, per operation and field (STATE_RULES): the
   schema has no "after that field", "one of these two", "needed when that one is x", and a
   step the object's state does not allow is the state's answer, not the body's.

Anything else (a refused length, pattern, enum, bound, type or format that the schema allows)
still fails the run: the cure is the schema or the API, not this file.
"""

from __future__ import annotations

import re
from typing import Any

# Django's and DRF's words for a reference to nothing, and Locus' own.
REFERENCE_TO_NOTHING = re.compile(
    r"does not exist\.?$"  # DRF's SlugRelatedField and PrimaryKeyRelatedField
    r"|^Select a valid choice\. That choice is not one of the available choices\.$"  # a model
    r"|^Unknown dataset '.*' \(give its slug or URI\)$"
    r"|^Unknown purpose '.*'$"
    r"|^Unknown jurisdiction '.*'"
    r"|^No dataset has the slug or URI "
    r"|^No [\w -]+ has the \w+ "  # "No personal-data category has the code x", "... slug x"
    r"|^No [\w ]+ #\d+$"
    r"|^No rule #\d+$"
    r"|^Give the subject's jurisdiction: one of ",  # the rights endpoint's unknown code
    re.DOTALL,
)
# Text with a NUL character: PostgreSQL's text cannot hold one, so Locus refuses it in any field
# (DRF's words, or governance/api_errors.py's for a value that reached the database); the schema
# would have to repeat a pattern on every string to say so.
NUL = re.compile(r"^Null characters are not allowed\.$|cannot contain NUL \(0x00\) bytes$")
TAKEN = re.compile(
    r"with this \w+ already exists\.$"
    r"|^.+ already has a connector"  # one connector per dataset
    r"|^The glossary already has this term: "
    r"|^.+ is given twice$|^A dataset is listed twice$"  # one cell, one dataset, once in a list
    r"|^.+ is registered already$",  # a model's name and version
    re.DOTALL,
)
# A declaration of privacy techniques (catalog/techniques.py): the schema says what each item
# may be; a rule between the items (each once, secure aggregation with federated, not both
# anonymised and pseudonymised) needs `contains`, which OpenAPI 3.0 lacks.
BETWEEN_TECHNIQUES = re.compile(
    r"^\w+: (A technique is declared twice"
    r"|Secure aggregation aggregates federated updates: declare federated too"
    r"|Data is either anonymised or pseudonymised, not both)$"
)

# A connector's fields that its kind calls for (a SQL connector: a table, its identifier column,
# the database): needed, and in their form, only for that kind.
CONNECTOR_BY_KIND = {
    "table",
    "identifier_column",
    "database",
    "dsn_setting",
    "erase_mode",
    "mask_columns",
    "retention_column",
}

# (method, path) -> the fields whose refusal depends on another field or on the object's state
# (each a regular expression that the whole field name matches).
STATE_RULES: dict[tuple[str, str], set[str]] = {
    # the end after the start (and within the mechanism's longest period); an SCC module only
    # with standard contractual clauses, a derogation only with Art. 49 (the saved values
    # where a PATCH leaves a field out)
    ("POST", "/api/v1/transfer-exceptions/"): {"ends_at", "scc_module", "derogation"},
    ("PATCH", "/api/v1/transfer-exceptions/{id}/"): {"ends_at", "scc_module", "derogation"},
    # a grant's end after its start
    ("POST", "/api/v1/transfer-grants/"): {"valid_until"},
    # `until` (or its alias `to`) after `since`
    ("GET", "/api/v1/evidence"): {"until", "to"},
    ("GET", "/api/v1/ledger/export"): {"until", "to"},
    # a proof between two tree sizes: the first no larger than the second, both within the
    # log's size now; an inclusion proof's tree size within it too
    ("GET", "/api/v1/ledger/proof/consistency"): {"first", "second"},
    ("GET", "/api/v1/ledger/proof/inclusion"): {"tree_size"},
    # a subject (or its key) or a dataset: one of them
    ("GET", "/api/v1/consents/current/"): {"subject"},
    # accepting the risk needs a reason; the other decisions do not
    ("POST", "/api/v1/subject-ml-decisions/{id}/decide/"): {"reason"},
    # an export's task: the subject's rows, or a note saying why there are none; another
    # task (an erasure's): a note saying what was done (the request's type says which); an
    # uploaded file is read by its name (.json, .csv, .zip) and content, which a schema's
    # `format: binary` cannot state
    ("POST", "/api/v1/subject-tasks/{id}/complete/"): {"rows", "note", "upload"},
    # what a connector needs depends on its kind: a SQL connector its table, column and database
    ("POST", "/api/v1/dataset-connectors/"): CONNECTOR_BY_KIND,
    # a rule names at least one region or one country: either list may be the empty one
    # (and a glossary term it names must be approved now: the term's state)
    ("POST", "/api/v1/locality-rules/"): {"regions", "countries", "term"},
    ("PUT", "/api/v1/locality-rules/{id}/"): {"regions", "countries", "term"},
    ("PATCH", "/api/v1/locality-rules/{id}/"): {"regions", "countries", "term"},
    # a dataset's jurisdiction covers its storage region's country (given or saved)
    ("POST", "/api/v1/datasets/"): {"jurisdiction"},
    # (and the slug is the saved one's: it names the dataset for good)
    ("PUT", "/api/v1/datasets/{slug}/"): {"jurisdiction", "slug"},
    ("PATCH", "/api/v1/datasets/{slug}/"): {"jurisdiction", "slug"},
    # a connector stays with the dataset it was made for (the saved one), and what it needs
    # depends on its kind, as on a create
    ("PUT", "/api/v1/dataset-connectors/{id}/"): {"dataset", *CONNECTOR_BY_KIND},
    ("PATCH", "/api/v1/dataset-connectors/{id}/"): {"dataset", *CONNECTOR_BY_KIND},
    # a request is not received in the future (the clock), and its type is one its law gives
    # and an agent's authority described needs the agent's name
    ("POST", "/api/v1/subject-requests/"): {"type", "received_at", "agent_name"},
    # an owner when the bulk action is to assign
    ("POST", "/api/v1/incidents/bulk/"): {"owner"},
    # an edge between two datasets, never one to itself, never closing a cycle; a technique's
    # source is the edge's upstream (the field is named by the technique's place in the list)
    ("POST", "/api/v1/lineage-edges/"): {"upstream", "downstream", r"techniques\[\d+\]\.source"},
    # a hold's end in the future: the clock's to say
    ("POST", "/api/v1/retention/holds/"): {"until"},
    # the rule as the operation needs it: all its fields for a create, the changed ones for an
    # update of the saved rule named by `rule_id`, none for a delete
    ("POST", "/api/v1/locality/replay"): {"rule", "rule_id"},
    # a request type the jurisdiction's law gives (the rights endpoint lists them per code)
    ("POST", "/api/v1/subject-intake/"): {"type"},
}


def _messages(value: Any) -> list[str]:
    """Every message of a DRF error body, however nested."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [m for item in value for m in _messages(item)]
    if isinstance(value, dict):
        return [m for item in value.values() for m in _messages(item)]
    return [repr(value)]


def _forgiven(message: str) -> bool:
    return any(
        rule.search(message) for rule in (REFERENCE_TO_NOTHING, TAKEN, NUL, BETWEEN_TECHNIQUES)
    )


def schema_cannot_say(method: str, path: str, status: int, body: Any) -> bool:
    """Whether a refusal of schema-valid data is one the schema cannot express (module doc)."""
    if not isinstance(body, dict) or not body:
        return False
    if status == 412:
        return set(body) == {"If-Match"}
    if status != 400:
        return False
    state_fields = STATE_RULES.get((method.upper(), path), set())
    return all(
        any(re.fullmatch(rule, field) for rule in state_fields)
        or all(_forgiven(message) for message in _messages(reasons))
        for field, reasons in body.items()
    )
