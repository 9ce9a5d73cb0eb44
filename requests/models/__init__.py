"""Workflow tables: transfer exceptions (and, beside them, data-subject requests)."""

from requests.models.consents import ConsentEvent, ConsentState
from requests.models.mail import SubjectMail
from requests.models.retention import LegalHold, RetentionRun
from requests.models.subjects import (
    DatasetConnector,
    MlPropagationDecision,
    SubjectEvent,
    SubjectPackage,
    SubjectReminder,
    SubjectRequest,
    SubjectTask,
    VerificationChallenge,
)
from requests.models.transfers import (
    ExceptionApproval,
    ExceptionEvent,
    ExceptionReminder,
    ExceptionStatus,
    RiskLevel,
    SupplementaryMeasure,
    TransferException,
    TransferExceptionGroupObjectPermission,
    TransferExceptionUserObjectPermission,
)

__all__ = [
    "ConsentEvent",
    "ConsentState",
    "DatasetConnector",
    "ExceptionApproval",
    "ExceptionEvent",
    "ExceptionReminder",
    "ExceptionStatus",
    "LegalHold",
    "MlPropagationDecision",
    "RetentionRun",
    "RiskLevel",
    "SubjectEvent",
    "SubjectMail",
    "SubjectPackage",
    "SubjectReminder",
    "SubjectRequest",
    "SubjectTask",
    "SupplementaryMeasure",
    "TransferException",
    "TransferExceptionGroupObjectPermission",
    "TransferExceptionUserObjectPermission",
    "VerificationChallenge",
]
