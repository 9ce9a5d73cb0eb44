"""The cloud resources that hold or process data, how a plan names them and where they are.

Each data store has a reference in the catalog's own terms (a URI, as pipelines and OpenLineage
name the data in it: `s3://bucket`, `gs://bucket`, `bigquery/project.dataset`) and one or more
places (its primary region, and its replicas' regions where the resource declares them). Places
are given as the cloud writes them (`eu-west-1`, `EUROPE-WEST4`, `West Europe`) and become Locus
region codes (`aws:eu-west-1`, `gcp:europe-west4`, `azure:westeurope`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from governance.models import Action
from monitoring.plans.document import Plan, ResourceChange


@dataclass(frozen=True)
class StoreType:
    """A resource type that holds (store) or processes (process) data."""

    cloud: str  # aws, gcp, azure: the Locus region code's provider prefix
    kind: str
    action: str
    name_field: str
    uri: str  # the reference's template: {name}, {project}
    separators: tuple[str, ...] = ("/",)  # what follows the reference in a contained URI


STORE_TYPES: dict[str, StoreType] = {
    # AWS
    "aws_s3_bucket": StoreType("aws", "object storage", Action.STORE, "bucket", "s3://{name}"),
    "aws_db_instance": StoreType("aws", "database", Action.STORE, "identifier", "rds://{name}"),
    "aws_rds_cluster": StoreType(
        "aws", "database", Action.STORE, "cluster_identifier", "rds://{name}"
    ),
    "aws_dynamodb_table": StoreType("aws", "database", Action.STORE, "name", "dynamodb://{name}"),
    "aws_redshift_cluster": StoreType(
        "aws", "warehouse", Action.STORE, "cluster_identifier", "redshift://{name}"
    ),
    "aws_sagemaker_feature_group": StoreType(
        "aws",
        "feature store",
        Action.STORE,
        "feature_group_name",
        "sagemaker://feature-group/{name}",
    ),
    "aws_sagemaker_model": StoreType(
        "aws", "ML model", Action.PROCESS, "name", "sagemaker://model/{name}"
    ),
    "aws_sagemaker_endpoint": StoreType(
        "aws", "ML endpoint", Action.PROCESS, "name", "sagemaker://endpoint/{name}"
    ),
    "aws_sagemaker_notebook_instance": StoreType(
        "aws", "ML notebook", Action.PROCESS, "name", "sagemaker://notebook/{name}"
    ),
    # Google Cloud
    "google_storage_bucket": StoreType(
        "gcp", "object storage", Action.STORE, "name", "gs://{name}"
    ),
    "google_sql_database_instance": StoreType(
        "gcp", "database", Action.STORE, "name", "cloudsql://{name}"
    ),
    "google_bigquery_dataset": StoreType(
        "gcp", "warehouse", Action.STORE, "dataset_id", "bigquery/{project}.{name}", (".", "/")
    ),
    "google_vertex_ai_dataset": StoreType(
        "gcp", "ML dataset", Action.STORE, "display_name", "vertexai://dataset/{name}"
    ),
    "google_vertex_ai_endpoint": StoreType(
        "gcp", "ML endpoint", Action.PROCESS, "name", "vertexai://endpoint/{name}"
    ),
    # Azure
    "azurerm_storage_account": StoreType(
        "azure", "object storage", Action.STORE, "name", "https://{name}.blob.core.windows.net"
    ),
    "azurerm_mssql_server": StoreType(
        "azure", "database", Action.STORE, "name", "mssql://{name}.database.windows.net"
    ),
    "azurerm_mssql_database": StoreType(
        "azure", "database", Action.STORE, "name", "mssql://{server}.database.windows.net/{name}"
    ),
    "azurerm_cosmosdb_account": StoreType(
        "azure", "database", Action.STORE, "name", "cosmosdb://{name}"
    ),
    "azurerm_machine_learning_workspace": StoreType(
        "azure", "ML workspace", Action.PROCESS, "name", "azureml://{name}"
    ),
}

DATASET_TAG_KEYS = ("locus:dataset", "locus-dataset", "locus_dataset")
PURPOSE_TAG_KEYS = ("locus:purpose", "locus-purpose", "locus_purpose")
TAG_FIELDS = ("tags_all", "tags", "labels", "effective_labels")
# Google's multi-regions and predefined dual-regions, as Cloud Storage and BigQuery document
# them; a multi-region is every Locus region of the cloud that lies in it (see `expand`).
GCP_DUAL_REGIONS = {
    "asia1": ("asia-northeast1", "asia-northeast2"),
    "eur4": ("europe-north1", "europe-west4"),
    "nam4": ("us-central1", "us-east1"),
}
GCP_MULTI_REGIONS: dict[str, Callable[[str, Any], bool]] = {
    "eu": lambda code, facts: facts.jurisdiction == "eu",
    "us": lambda code, facts: facts.country == "US",
    "asia": lambda code, facts: code.startswith("gcp:asia-"),
}


@dataclass(frozen=True)
class Place:
    """Where a resource puts data, as the plan gives it, and the Locus region codes it is."""

    given: str
    source: str  # the field or provider setting it came from
    codes: tuple[str, ...] = ()


def tag_values(after: Mapping[str, Any], keys: Iterable[str]) -> list[str]:
    """The values of the first tag (AWS, Azure) or label (GCP) found under these keys; a value
    may list several, separated by commas or spaces (GCP label values allow neither)."""
    for field in TAG_FIELDS:
        tags = after.get(field)
        if not isinstance(tags, dict):
            continue
        for key in keys:
            value = tags.get(key)
            if isinstance(value, str) and value.strip():
                return [v for v in re.split(r"[\s,]+", value.strip()) if v]
    return []


def store_name(store: StoreType, change: ResourceChange) -> str:
    value = change.after.get(store.name_field)
    return value if isinstance(value, str) else ""


def store_reference(store: StoreType, change: ResourceChange, plan: Plan) -> str:
    """The catalog URI of the store; `terraform://<address>` while its name is not yet known."""
    name = store_name(store, change)
    fields = {"name": name, "project": _gcp_project(change, plan), "server": _server(change)}
    if not name or any(f"{{{k}}}" in store.uri and not v for k, v in fields.items()):
        return f"terraform://{change.address}"
    return store.uri.format(**fields)


def _gcp_project(change: ResourceChange, plan: Plan) -> str:
    project = change.after.get("project")
    if isinstance(project, str) and project:
        return project
    return provider_setting(change, plan, "project")


def _server(change: ResourceChange) -> str:
    server_id = change.after.get("server_id")
    return server_id.rstrip("/").rsplit("/", 1)[-1] if isinstance(server_id, str) else ""


def provider_setting(change: ResourceChange, plan: Plan, setting: str) -> str:
    """A constant (or root variable) the resource's provider configuration sets, else ''."""
    config = _provider_config(change, plan)
    expression = _expression(config, setting)
    if isinstance(expression.get("constant_value"), str):
        return expression["constant_value"]
    for reference in _strings(expression.get("references")):
        if reference.startswith("var."):
            value = plan.variables.get(reference[4:])
            if isinstance(value, str):
                return value
    return ""


def _provider_config(change: ResourceChange, plan: Plan) -> dict[str, Any]:
    configured = plan.resources.get(change.config_address, {})
    key = configured.get("provider_config_key")
    if isinstance(key, str):
        # Child modules' keys are written `module:provider.alias` by some versions.
        for candidate in (key, key.rsplit(":", 1)[-1]):
            if candidate in plan.provider_configs:
                return plan.provider_configs[candidate]
    short = change.provider_name.rsplit("/", 1)[-1]
    for config in plan.provider_configs.values():
        if config.get("name") == short and not config.get("alias"):
            return config
    return {}


# --- Places -----------------------------------------------------------------------------------


def places(store: StoreType, change: ResourceChange, plan: Plan) -> list[Place]:
    """Every place the resource keeps data: its region, then its replicas'."""
    found = {
        "aws": _aws_places,
        "gcp": _gcp_places,
        "azure": _azure_places,
    }[store.cloud](change, plan)
    unique: dict[str, Place] = {}
    for place in found:
        unique.setdefault(place.given.lower(), place)
    return list(unique.values())


def _aws_places(change: ResourceChange, plan: Plan) -> list[Place]:
    after = change.after
    region = after.get("region")
    found = (
        [Place(region, "region")]
        if isinstance(region, str) and region
        else _provider_place(change, plan, "region")
    )
    for replica in _blocks(after.get("replica")):
        if isinstance(replica.get("region_name"), str):
            found.append(Place(replica["region_name"], "replica.region_name"))
    return found


def _gcp_places(change: ResourceChange, plan: Plan) -> list[Place]:
    after = change.after
    found = []
    for field in ("location", "region"):
        if isinstance(after.get(field), str) and after[field]:
            found = [Place(after[field], field)]
            break
    for config in _blocks(after.get("custom_placement_config")):
        for location in _strings(config.get("data_locations")):
            found.append(Place(location, "custom_placement_config.data_locations"))
    return found or _provider_place(change, plan, "region")


def _azure_places(change: ResourceChange, plan: Plan) -> list[Place]:
    after = change.after
    found = []
    if isinstance(after.get("location"), str) and after["location"]:
        found.append(Place(after["location"], "location"))
    elif change.type == "azurerm_mssql_database":
        found.extend(_server_place(change, plan))
    for geo in _blocks(after.get("geo_location")):
        if isinstance(geo.get("location"), str):
            found.append(Place(geo["location"], "geo_location.location"))
    return found


def _server_place(change: ResourceChange, plan: Plan) -> list[Place]:
    """A database's place is its server's: the server this plan creates, named by server_id."""
    configured = plan.resources.get(change.config_address, {})
    expression = _expression(configured, "server_id")
    module = change.config_address[: -len(f"{change.type}.{change.name}")]
    for reference in _strings(expression.get("references")):
        target = f"{module}{reference.removesuffix('.id')}"
        for other in plan.changes:
            if other.config_address == target and isinstance(other.after.get("location"), str):
                return [Place(other.after["location"], f"{reference} location")]
    return []


def _provider_place(change: ResourceChange, plan: Plan, setting: str) -> list[Place]:
    value = provider_setting(change, plan, setting)
    return [Place(value, f"provider {setting}")] if value else []


def _expression(configured: dict[str, Any], name: str) -> dict[str, Any]:
    """A configuration expression ({constant_value} or {references}), {} if not an object."""
    expressions = configured.get("expressions")
    found = expressions.get(name) if isinstance(expressions, dict) else None
    return found if isinstance(found, dict) else {}


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block as the plan gives it: a list of objects (or one object)."""
    if isinstance(value, dict):
        return [value]
    return (
        [item for item in value or () if isinstance(item, dict)] if isinstance(value, list) else []
    )


def region_codes(cloud: str, given: str, regions: Mapping[str, Any]) -> tuple[str, ...]:
    """The Locus region codes a place is; () when Locus knows no such region."""
    name = given.strip().lower()
    if cloud == "azure":
        name = name.replace(" ", "")
    if cloud == "gcp":
        if name in GCP_DUAL_REGIONS:
            codes = tuple(f"gcp:{part}" for part in GCP_DUAL_REGIONS[name])
            return codes if all(code in regions for code in codes) else ()
        if name in GCP_MULTI_REGIONS:
            inside = GCP_MULTI_REGIONS[name]
            return tuple(
                sorted(
                    code
                    for code, facts in regions.items()
                    if code.startswith("gcp:") and inside(code, facts)
                )
            )
    code = f"{cloud}:{name}"
    return (code,) if code in regions else ()
