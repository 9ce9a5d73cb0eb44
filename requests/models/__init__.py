"""Workflow tables: transfer exceptions (and, beside them, data-subject requests)."""

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
    "ExceptionApproval",
    "ExceptionEvent",
    "ExceptionReminder",
    "ExceptionStatus",
    "RiskLevel",
    "SupplementaryMeasure",
    "TransferException",
    "TransferExceptionGroupObjectPermission",
    "TransferExceptionUserObjectPermission",
]
