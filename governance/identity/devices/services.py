"""The verbs of a person's second factor: enrol an authenticator (TOTP), confirm it, check a
code, replace the recovery codes, remove the factor. Each on the decision log.

A code is checked with the device locked (SELECT ... FOR UPDATE), so one code is accepted once
even by two requests at the same moment, and django-otp's throttling counts every wrong code:
after n wrong codes the device refuses the next for 2^(n-1) seconds. A wrong code's count is
committed even though the check fails, so the refusal is raised after the transaction.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from catalog.actors import Actor
from governance.errors import StateConflict
from governance.ledger.chain import ledger_append, person_pseudonym

AUTHENTICATOR_NAME = "Authenticator"
RECOVERY_NAME = "Recovery codes"
WRONG_CODE = "That code is not right: type the 6 digits your authenticator shows now, or an unused recovery code."


class CodeThrottled(ValidationError):
    """Too many wrong codes in a row: the device refuses codes until `locked_until`."""

    def __init__(self, locked_until: dt.datetime):
        self.locked_until = locked_until
        when = locked_until.strftime("%H:%M:%S UTC")
        super().__init__({"code": f"Too many wrong codes: try again after {when}."})


def _person(actor: Actor) -> User:
    """Only a signed-in person has a second factor."""
    if not isinstance(actor, User):
        raise PermissionDenied("Sign in to manage your second factor")
    return actor


def normalised(code: str) -> str:
    """A code as typed, without spaces or dashes; recovery codes in lower case."""
    return "".join(code.split()).replace("-", "").lower()


# --- Enrolment ------------------------------------------------------------------------------


@transaction.atomic
def authenticator_start(*, actor: Actor) -> TOTPDevice:
    """The person's authenticator waiting for its first code (a new secret if none waits)."""
    actor = _person(actor)
    waiting = TOTPDevice.objects.filter(user=actor, confirmed=False).order_by("-id").first()
    return waiting or TOTPDevice.objects.create(
        user=actor, name=AUTHENTICATOR_NAME, confirmed=False
    )


def authenticator_confirm(*, actor: Actor, code: str) -> list[str]:
    """Confirm the waiting authenticator with a code from it: from now on it is the person's
    factor (replacing any earlier one). Returns the new recovery codes, to be shown once."""
    actor = _person(actor)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=actor, confirmed=False)
            .order_by("-id")
            .first()
        )
        if device is None:
            raise StateConflict({"code": "No authenticator is waiting: start the enrolment again"})
        refusal = _check(device, normalised(code))
        if refusal is None:
            TOTPDevice.objects.filter(user=actor).exclude(pk=device.pk).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            codes = _recovery_codes_replace(actor)
            _log(actor, "second_factor.enrolled", recovery_codes=len(codes))
            return codes
    raise refusal


# --- Checking a code ------------------------------------------------------------------------


def second_factor_verify(*, actor: Actor, code: str) -> str:
    """Check a code from the person's authenticator, or one of their recovery codes (used up
    by this). Returns which kind was accepted ("totp" or "recovery"); a wrong code raises."""
    actor = _person(actor)
    code = normalised(code)
    # Authenticators show 6 digits; recovery codes are 8 letters and digits.
    model = TOTPDevice if code.isdigit() and len(code) == 6 else StaticDevice
    with transaction.atomic():
        device = model.objects.select_for_update().filter(user=actor, confirmed=True).first()
        if device is None:
            refusal: ValidationError | None = ValidationError({"code": WRONG_CODE})
        else:
            refusal = _check(device, code)
        if refusal is None and model is StaticDevice:
            left = device.token_set.count()
            _log(actor, "second_factor.recovery_code_used", recovery_codes_left=left)
            return "recovery"
        if refusal is None:
            return "totp"
    raise refusal


def _check(device: TOTPDevice | StaticDevice, code: str) -> ValidationError | None:
    """None when the device accepts the code, else the refusal to raise (after commit)."""
    allowed, info = device.verify_is_allowed()
    if not allowed:
        return CodeThrottled(info["locked_until"])
    if code and device.verify_token(code):
        return None
    return ValidationError({"code": WRONG_CODE})


# --- Recovery codes, removal ----------------------------------------------------------------


def recovery_codes_regenerate(*, actor: Actor, code: str) -> list[str]:
    """New recovery codes for the person, after a code of theirs; the old ones stop working."""
    actor = _person(actor)
    second_factor_verify(actor=actor, code=code)
    with transaction.atomic():
        codes = _recovery_codes_replace(actor)
        _log(actor, "second_factor.recovery_codes_regenerated", recovery_codes=len(codes))
    return codes


def second_factor_remove(*, actor: Actor, code: str) -> None:
    """Remove the person's authenticator and recovery codes, after a code of theirs."""
    actor = _person(actor)
    second_factor_verify(actor=actor, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=actor).delete()
        StaticDevice.objects.filter(user=actor).delete()
        _log(actor, "second_factor.removed")


@transaction.atomic
def second_factor_reset(*, actor: Actor, person: User) -> None:
    """A superuser removes another person's authenticator and recovery codes (they lost both);
    the person enrols again at their next sign-in if their role requires it."""
    if not (isinstance(actor, User) and actor.is_superuser):
        raise PermissionDenied("Only superusers reset another person's second factor")
    TOTPDevice.objects.filter(user=person).delete()
    StaticDevice.objects.filter(user=person).delete()
    ledger_append(
        actor=actor,
        kind="second_factor.removed",
        subjects=[person_pseudonym(person.pk)],
        data={"device": "totp", "reset_by_superuser": True},
    )


def _recovery_codes_replace(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user).delete()
    device = StaticDevice.objects.create(user=user, name=RECOVERY_NAME, confirmed=True)
    codes = _distinct_codes(settings.SECOND_FACTOR_RECOVERY_CODES)
    StaticToken.objects.bulk_create(StaticToken(device=device, token=code) for code in codes)
    return codes


def _distinct_codes(count: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        codes.add(StaticToken.random_token())
    return sorted(codes)


def _log(actor: User, kind: str, **data: int) -> None:
    ledger_append(actor=actor, kind=kind, data={"device": "totp", **data})
