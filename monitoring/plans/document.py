"""A Terraform/OpenTofu plan in its JSON form (`terraform show -json plan.out`), read and checked.

Only what the plan check needs is read: `format_version` (major version 1: the format promises
that a new major version is incompatible, so any other is refused), `resource_changes[]`
(`address`, `mode`, `type`, `provider_name`, `change.actions`, `change.after`) and, to find a
resource's provider configuration, `configuration.provider_config`,
`configuration.root_module` (with its `module_calls`) and the root `variables`. Unknown fields
are ignored, as the format asks of its readers. A field that breaks the format raises
`PlanError` naming it by its JSON path: `resource_changes[3].change.actions`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

MAX_RESOURCE_CHANGES = 10_000
# "1", "1.2": the format's major version 1 (the schema's pattern for format_version, too).
MAJOR_VERSION_1 = r"^1(\.|$)"
KNOWN_ACTIONS = frozenset({"no-op", "create", "read", "update", "delete", "forget"})
# The action lists the format documents; a replacement is either order of delete and create.
VALID_ACTION_LISTS = frozenset(
    {
        ("no-op",),
        ("create",),
        ("read",),
        ("update",),
        ("delete",),
        ("forget",),
        ("delete", "create"),
        ("create", "delete"),
        ("create", "forget"),
        ("forget", "create"),
    }
)


class PlanError(Exception):
    """The document is not a plan in the documented JSON form: {json path: [message]}."""

    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.errors = {path: [message]}


@dataclass(frozen=True)
class ResourceChange:
    """One planned change to one resource instance."""

    position: int
    address: str
    module_address: str
    type: str
    name: str
    provider_name: str
    actions: tuple[str, ...]
    after: dict[str, Any]

    @property
    def config_address(self) -> str:
        """The resource's address in the configuration: no instance key."""
        module = re.sub(r"\[[^\]]*\]", "", self.module_address)
        prefix = f"{module}." if module else ""
        return f"{prefix}{self.type}.{self.name}"

    @property
    def writes(self) -> bool:
        """Creates or updates the resource (a replacement creates it anew)."""
        return "create" in self.actions or "update" in self.actions


@dataclass(frozen=True)
class Plan:
    format_version: str
    terraform_version: str
    changes: list[ResourceChange]
    provider_configs: dict[str, dict[str, Any]]
    resources: dict[str, dict[str, Any]]  # resource config address -> its configuration
    variables: dict[str, Any]


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise PlanError(path, "Must be a JSON object.")
    return value


def _string(value: Any, path: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise PlanError(path, "Must be a non-empty string." if required else "Must be a string.")
    return value


def parse_plan(document: Any) -> Plan:
    """The plan's changes and configuration, or PlanError naming the first bad field."""
    plan = _object(document, "plan")
    version = _string(plan.get("format_version"), "format_version")
    if not re.match(MAJOR_VERSION_1, version):
        raise PlanError(
            "format_version", f"Unsupported major version {version!r}: Locus reads 1.x."
        )
    if "planned_values" not in plan and "resource_changes" not in plan:
        raise PlanError(
            "resource_changes",
            "Not a plan: no resource_changes or planned_values (a state file? give the "
            "output of `terraform show -json <planfile>`).",
        )
    changes = plan.get("resource_changes", [])
    if not isinstance(changes, list):
        raise PlanError("resource_changes", "Must be a JSON array.")
    if len(changes) > MAX_RESOURCE_CHANGES:
        raise PlanError(
            "resource_changes", f"At most {MAX_RESOURCE_CHANGES} changes, got {len(changes)}."
        )
    configuration = _object(plan.get("configuration", {}), "configuration")
    return Plan(
        format_version=version,
        terraform_version=_string(
            plan.get("terraform_version"), "terraform_version", required=False
        ),
        changes=[_change(item, position) for position, item in enumerate(changes)],
        provider_configs=_provider_configs(configuration),
        resources=_configured_resources(configuration),
        variables=_variables(plan.get("variables", {})),
    )


def _change(item: Any, position: int) -> ResourceChange:
    path = f"resource_changes[{position}]"
    data = _object(item, path)
    change = _object(data.get("change"), f"{path}.change")
    actions = change.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, str) for a in actions):
        raise PlanError(f"{path}.change.actions", "Must be an array of action names.")
    unknown = sorted(set(actions) - KNOWN_ACTIONS)
    if unknown or tuple(actions) not in VALID_ACTION_LISTS:
        raise PlanError(
            f"{path}.change.actions",
            f"Not a documented action list: {actions!r} (e.g. ['create'], ['update'], "
            "['delete', 'create'], ['no-op']).",
        )
    after = change.get("after")
    if after is not None and not isinstance(after, dict):
        raise PlanError(f"{path}.change.after", "Must be a JSON object or null.")
    mode = data.get("mode", "managed")
    if mode not in ("managed", "data"):
        raise PlanError(f"{path}.mode", "Must be 'managed' or 'data'.")
    kind = _string(data.get("type"), f"{path}.type")  # a data source has its type too
    return ResourceChange(
        position=position,
        address=_string(data.get("address"), f"{path}.address"),
        module_address=_string(
            data.get("module_address"), f"{path}.module_address", required=False
        ),
        type=kind if mode == "managed" else "",  # a data source is read, never a store
        name=_string(data.get("name"), f"{path}.name", required=False),
        provider_name=_string(data.get("provider_name"), f"{path}.provider_name", required=False),
        actions=tuple(actions),
        after=after or {},
    )


def _provider_configs(configuration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    configs = _object(configuration.get("provider_config", {}), "configuration.provider_config")
    for key, value in configs.items():
        _object(value, f"configuration.provider_config.{key}")
    return configs


def _configured_resources(configuration: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each configured resource (its provider_config_key, expressions) by its full address,
    through every module call."""
    found: dict[str, dict[str, Any]] = {}
    pending = [("", configuration.get("root_module", {}), "configuration.root_module")]
    while pending:
        prefix, module, path = pending.pop()
        module = _object(module, path)
        resources = module.get("resources", [])
        if not isinstance(resources, list):
            raise PlanError(f"{path}.resources", "Must be a JSON array.")
        for position, resource in enumerate(resources):
            resource = _object(resource, f"{path}.resources[{position}]")
            if isinstance(resource.get("address"), str):
                found[f"{prefix}{resource['address']}"] = resource
        calls = _object(module.get("module_calls", {}), f"{path}.module_calls")
        for name, call in calls.items():
            call = _object(call, f"{path}.module_calls.{name}")
            if "module" in call:
                pending.append(
                    (
                        f"{prefix}module.{name}.",
                        call["module"],
                        f"{path}.module_calls.{name}.module",
                    )
                )
    return found


def _variables(variables: Any) -> dict[str, Any]:
    found = _object(variables, "variables")
    return {name: value.get("value") for name, value in found.items() if isinstance(value, dict)}


# --- The document as the OpenAPI schema describes it (monitoring.plans.api) ------------------
# What parse_plan reads and refuses, and nothing more: unknown fields are the format's to add.

_OPTIONAL_TEXT = {"type": "string", "nullable": True}
PLAN_MODULE = "PlanModule"
PLAN_MODULE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A module of the configuration: its resources and the modules it calls",
    "properties": {
        "resources": {"type": "array", "items": {"type": "object"}},
        "module_calls": {
            "type": "object",
            "additionalProperties": {
                "type": "object",
                "properties": {"module": {"$ref": f"#/components/schemas/{PLAN_MODULE}"}},
            },
        },
    },
}
RESOURCE_CHANGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "address": {"type": "string", "minLength": 1},
        "module_address": _OPTIONAL_TEXT,
        "mode": {"type": "string", "enum": ["managed", "data"]},
        "type": {"type": "string", "minLength": 1},
        "name": _OPTIONAL_TEXT,
        "provider_name": _OPTIONAL_TEXT,
        "change": {
            "type": "object",
            "properties": {
                "actions": {
                    "type": "array",
                    "items": {"type": "string"},
                    "enum": [list(actions) for actions in sorted(VALID_ACTION_LISTS)],
                },
                "after": {"type": "object", "nullable": True},
            },
            "required": ["actions"],
        },
    },
    "required": ["address", "type", "change"],
}
PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "format_version": {"type": "string", "pattern": MAJOR_VERSION_1},
        "terraform_version": _OPTIONAL_TEXT,
        "resource_changes": {
            "type": "array",
            "items": RESOURCE_CHANGE_SCHEMA,
            "maxItems": MAX_RESOURCE_CHANGES,
        },
        "planned_values": {},
        "configuration": {
            "type": "object",
            "properties": {
                "provider_config": {"type": "object", "additionalProperties": {"type": "object"}},
                "root_module": {"$ref": f"#/components/schemas/{PLAN_MODULE}"},
            },
        },
        "variables": {"type": "object"},
    },
    "required": ["format_version"],
    # a plan has its changes (or at least its planned values): not a state file
    "anyOf": [{"required": ["resource_changes"]}, {"required": ["planned_values"]}],
}
