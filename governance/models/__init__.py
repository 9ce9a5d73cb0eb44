"""Governance tables: policy (rules, grants, runs, decisions), trained models, the ledger, the glossary, people."""

from governance.models.consent import ConsentNotice
from governance.models.glossary import Term, TermRevision, TermStatus, TermVersion
from governance.models.identity import ExternalIdentity
from governance.models.ledger import (
    LedgerCheckpoint,
    LedgerEntry,
    LedgerHead,
    RecordedDecision,
)
from governance.models.ml import ModelDeployment, TrainedModel, TrainedModelChange
from governance.models.people import (
    Delivery,
    DigestFrequency,
    Notification,
    NotificationDigest,
    NotificationPreference,
    NotificationSettings,
    NotificationSeverity,
    NotificationTopic,
    Responsibility,
)
from governance.models.policy import (
    Action,
    HouseOutcome,
    LegalOutcome,
    LocalityDecision,
    LocalityRule,
    LocalityRuleVersion,
    Outcome,
    Purpose,
    TrainingRun,
    TrainingRunDataset,
    TransferGrant,
    TransferMechanism,
)
from governance.models.reviews import AccessReview, AccessReviewItem
from governance.models.tree import LedgerQueued, LedgerTreeHead, LedgerTreeNode

__all__ = [
    "AccessReview",
    "AccessReviewItem",
    "Action",
    "ConsentNotice",
    "Delivery",
    "DigestFrequency",
    "ExternalIdentity",
    "HouseOutcome",
    "LedgerCheckpoint",
    "LedgerEntry",
    "LedgerHead",
    "LedgerQueued",
    "LedgerTreeHead",
    "LedgerTreeNode",
    "LegalOutcome",
    "LocalityDecision",
    "LocalityRule",
    "LocalityRuleVersion",
    "ModelDeployment",
    "Notification",
    "NotificationDigest",
    "NotificationPreference",
    "NotificationSettings",
    "NotificationSeverity",
    "NotificationTopic",
    "Outcome",
    "Purpose",
    "RecordedDecision",
    "Responsibility",
    "Term",
    "TermRevision",
    "TermStatus",
    "TermVersion",
    "TrainedModel",
    "TrainedModelChange",
    "TrainingRun",
    "TrainingRunDataset",
    "TransferGrant",
    "TransferMechanism",
]
