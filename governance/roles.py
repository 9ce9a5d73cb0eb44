"""Roles are Django groups; this module is the one place that says what each may do."""

from django.contrib.auth.models import Group, Permission
from django.db import models


class Role(models.TextChoices):
    PRIVACY_OFFICER = "privacy_officer", "Privacy officer"
    EXECUTIVE = "executive", "Executive"
    DATA_OWNER = "data_owner", "Data owner"
    ENGINEER = "engineer", "Engineer"
    AUDITOR = "auditor", "Auditor"


_CATALOG_READ = [
    "catalog.view_country",
    "catalog.view_jurisdiction",
    "catalog.view_adequacydecision",
    "catalog.view_region",
    "catalog.view_personaldatacategory",
    "catalog.view_tag",
    "catalog.view_dataset",
    "catalog.view_lineageedge",
    "catalog.view_datasetchange",
]

_GOVERNANCE_READ = [
    "governance.view_purpose",
    "governance.view_localityrule",
    "governance.view_localityruleversion",
    "governance.view_transfergrant",
    "governance.view_trainingrun",
    "governance.view_localitydecision",
    "governance.view_recordeddecision",
    "governance.view_consentnotice",
]
_GLOSSARY_READ = [
    "governance.view_term",
    "governance.view_termrevision",
    "governance.view_termversion",
]
_GLOSSARY_PROPOSE = ["governance.add_term", "governance.change_term"]
_LEDGER_READ = ["governance.view_ledgerentry", "governance.view_ledgercheckpoint"]
# Everyone's exceptions: privacy officers instead see those given them to review (guardian).
_EXCEPTIONS_READ = ["workflows.view_transferexception"]
_EXCEPTIONS_ASK = ["workflows.add_transferexception"]

# Model-wide permissions per role. Object permissions (a data owner's own datasets) are granted
# by the services that create the objects, through django-guardian.
ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.PRIVACY_OFFICER: [
        *_CATALOG_READ,
        "catalog.add_dataset",
        "catalog.change_dataset",
        "catalog.delete_dataset",
        "catalog.add_lineageedge",
        "catalog.delete_lineageedge",
        *_GOVERNANCE_READ,
        "governance.add_localityrule",
        "governance.change_localityrule",
        "governance.delete_localityrule",
        "governance.add_transfergrant",
        "governance.change_transfergrant",
        "governance.add_trainingrun",
        "governance.change_trainingrun",
        "governance.add_consentnotice",
        *_LEDGER_READ,
        "governance.add_ledgercheckpoint",
        "governance.add_recordeddecision",
        "governance.change_recordeddecision",
        *_GLOSSARY_READ,
        *_GLOSSARY_PROPOSE,
        "governance.approve_term",
        "governance.deprecate_term",
        *_EXCEPTIONS_ASK,
        "governance.view_accessreview",
        "governance.add_accessreview",
        "governance.change_accessreview",
    ],
    Role.EXECUTIVE: [
        *_CATALOG_READ,
        *_GOVERNANCE_READ,
        *_LEDGER_READ,
        *_GLOSSARY_READ,
        *_EXCEPTIONS_READ,
    ],
    Role.DATA_OWNER: [
        *_CATALOG_READ,
        *_GOVERNANCE_READ,
        "catalog.add_dataset",
        "governance.add_trainingrun",
        *_GLOSSARY_READ,
        *_GLOSSARY_PROPOSE,
        *_EXCEPTIONS_ASK,
    ],
    Role.ENGINEER: [
        *_CATALOG_READ,
        *_GOVERNANCE_READ,
        "governance.add_trainingrun",
        *_GLOSSARY_READ,
        *_EXCEPTIONS_ASK,
    ],
    Role.AUDITOR: [
        *_CATALOG_READ,
        *_GOVERNANCE_READ,
        *_LEDGER_READ,
        "governance.add_ledgercheckpoint",
        *_GLOSSARY_READ,
        *_EXCEPTIONS_READ,
    ],
}


# Data-subject requests: officers manage them, executives and auditors read them, data owners
# work the tasks of their own datasets (filtered in requests.subjects.selectors) and describe
# their datasets' connectors (checked per dataset by the API).
_SUBJECTS_READ = ["workflows.view_subjectrequest", "workflows.view_subjectevent"]
_SUBJECT_PERMISSIONS: dict[str, list[str]] = {
    Role.PRIVACY_OFFICER: [
        *_SUBJECTS_READ,
        "workflows.add_subjectrequest",
        "workflows.change_subjectrequest",
        "workflows.view_subjecttask",
        "workflows.view_datasetconnector",
        "workflows.add_datasetconnector",
        "workflows.change_datasetconnector",
        "workflows.view_mlpropagationdecision",
        "workflows.view_consentevent",
    ],
    Role.EXECUTIVE: _SUBJECTS_READ,
    Role.AUDITOR: [*_SUBJECTS_READ, "workflows.view_consentevent"],
    Role.DATA_OWNER: [
        "workflows.view_subjecttask",
        "workflows.view_datasetconnector",
        "workflows.add_datasetconnector",
        "workflows.change_datasetconnector",
    ],
}
for _role, _names in _SUBJECT_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_names]

# Retention: officers and auditors read every dataset's runs and holds, data owners their own
# datasets' runs (filtered in requests.retention.selectors); officers place and lift holds.
_RETENTION_PERMISSIONS: dict[str, list[str]] = {
    Role.PRIVACY_OFFICER: [
        "workflows.view_retentionrun",
        "workflows.view_legalhold",
        "workflows.add_legalhold",
        "workflows.change_legalhold",
    ],
    Role.AUDITOR: ["workflows.view_retentionrun", "workflows.view_legalhold"],
    Role.DATA_OWNER: ["workflows.view_retentionrun"],
}
for _role, _names in _RETENTION_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_names]


def _permission(dotted: str) -> Permission:
    app_label, codename = dotted.split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def ensure_roles() -> None:
    """Create the role groups and set exactly their model-wide permissions (idempotent)."""
    for role, dotted_names in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([_permission(name) for name in dotted_names])


def roles_of(user) -> set[str]:
    """The role names a user holds (from the authentication cache, then kept on the user object
    for the request)."""
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_locus_roles", None)
    if cached is None:
        from governance.identity import authcache

        cached = user._locus_roles = authcache.roles(user)
    return cached


def has_role(user, *roles: str) -> bool:
    """True when the user holds one of the roles (superusers hold all)."""
    return bool(user.is_authenticated and (user.is_superuser or roles_of(user) & set(roles)))


# Telemetry and incidents: officers register sources and handle incidents and alerts (in their
# jurisdictions, see monitoring.selectors); executives and auditors read everything; data owners
# read their datasets' violations and incidents.
_MONITORING_READ = [
    "monitoring.view_violation",
    "monitoring.view_incident",
    "monitoring.view_anomalyalert",
    "monitoring.view_unregisteredasset",
    "monitoring.view_flowdaily",
]
_MONITORING_PERMISSIONS: dict[str, list[str]] = {
    Role.PRIVACY_OFFICER: [
        *_MONITORING_READ,
        "monitoring.view_telemetrysource",
        "monitoring.add_telemetrysource",
        "monitoring.change_telemetrysource",
        "monitoring.change_incident",
        "monitoring.change_anomalyalert",
        "monitoring.view_drill",
        "monitoring.add_drill",
        "monitoring.change_drill",
        "monitoring.view_webhookendpoint",
        "monitoring.add_webhookendpoint",
        "monitoring.change_webhookendpoint",
        "monitoring.delete_webhookendpoint",
    ],
    Role.EXECUTIVE: [*_MONITORING_READ, "monitoring.view_drill"],
    Role.AUDITOR: [*_MONITORING_READ, "monitoring.view_telemetrysource", "monitoring.view_drill"],
    Role.DATA_OWNER: _MONITORING_READ,
}
for _role, _names in _MONITORING_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_names]

# OpenLineage: whoever reads monitoring reads the runs; officers say where namespaces run.
_LINEAGE_READ = ["monitoring.view_lineagerun", "monitoring.view_lineageevent"]
_LINEAGE_PERMISSIONS: dict[str, list[str]] = {
    Role.PRIVACY_OFFICER: [
        *_LINEAGE_READ,
        "monitoring.view_lineagenamespaceregion",
        "monitoring.add_lineagenamespaceregion",
        "monitoring.change_lineagenamespaceregion",
        "monitoring.delete_lineagenamespaceregion",
    ],
    Role.EXECUTIVE: _LINEAGE_READ,
    Role.AUDITOR: [*_LINEAGE_READ, "monitoring.view_lineagenamespaceregion"],
    Role.DATA_OWNER: _LINEAGE_READ,
}
for _role, _names in _LINEAGE_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_names]

# Trained models (governance.ml): every role reads them; officers, data owners and engineers
# register them; officers change any, an owner their own (guardian, granted on registration).
_MODELS_READ = [
    "governance.view_trainedmodel",
    "governance.view_trainedmodelchange",
    "governance.view_modeldeployment",
]
_MODEL_PERMISSIONS: dict[str, list[str]] = {
    Role.PRIVACY_OFFICER: [
        *_MODELS_READ,
        "governance.add_trainedmodel",
        "governance.change_trainedmodel",
    ],
    Role.EXECUTIVE: _MODELS_READ,
    Role.AUDITOR: _MODELS_READ,
    Role.DATA_OWNER: [*_MODELS_READ, "governance.add_trainedmodel"],
    Role.ENGINEER: [*_MODELS_READ, "governance.add_trainedmodel"],
}
for _role, _names in _MODEL_PERMISSIONS.items():
    ROLE_PERMISSIONS[_role] = [*ROLE_PERMISSIONS[_role], *_names]
