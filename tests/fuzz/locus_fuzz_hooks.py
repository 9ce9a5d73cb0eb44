"""Schemathesis hooks for tests/test_api_fuzz.py, loaded through SCHEMATHESIS_HOOKS: this folder
alone is put on the fuzz command's path, never the project root, whose `requests/` app would
shadow PyPI's requests. The rules, and why each is no fault of the API, are in locus_fuzz_rules.
"""

from __future__ import annotations

import json

import schemathesis
from locus_fuzz_rules import schema_cannot_say


@schemathesis.hook
def filter_failure(context, failure, case, response) -> bool:
    """Keep every failure but a positive-data refusal that the schema cannot express."""
    if type(failure).__name__ != "RejectedPositiveData":
        return True
    try:
        body = json.loads(response.content)
    except ValueError:
        return True
    operation = case.operation
    return not schema_cannot_say(operation.method, operation.path, response.status_code, body)
