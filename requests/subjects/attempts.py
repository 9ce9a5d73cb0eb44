"""How wrong verification codes slow whoever sends them.

One rule (`wait_after`) for both places it is kept: on the request's row (its wrong codes,
whoever sent them) and in the cache per client address (its wrong codes, whichever request
they were for). Addresses are kept only as a keyed hash, and only as long as they may matter.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac

from django.conf import settings
from django.core.cache import cache

# An address's wrong codes are forgotten this long after its last one.
FORGET_AFTER = dt.timedelta(days=1)


def wait_after(failures: int) -> dt.timedelta:
    """The wait that this many wrong codes earn: none for the first few, then doubling."""
    extra = failures - settings.SUBJECT_VERIFICATION_FREE_FAILURES
    if extra <= 0:
        return dt.timedelta(0)
    seconds = settings.SUBJECT_VERIFICATION_WAIT_SECONDS * 2 ** min(extra - 1, 32)
    return dt.timedelta(seconds=min(seconds, settings.SUBJECT_VERIFICATION_MAX_WAIT_SECONDS))


def _keys(address: str) -> tuple[str, str]:
    digest = hmac.new(settings.SECRET_KEY.encode(), address.encode(), hashlib.sha256).hexdigest()
    return f"subject-verify:failures:{digest}", f"subject-verify:last:{digest}"


def address_wait_until(address: str) -> dt.datetime | None:
    """Until when codes from this address are refused (None: they are not)."""
    if not address:
        return None
    count_key, last_key = _keys(address)
    values = cache.get_many([count_key, last_key])
    if count_key not in values or last_key not in values:
        return None
    last = dt.datetime.fromtimestamp(values[last_key], tz=dt.UTC)
    return last + wait_after(int(values[count_key]))


def address_failed(address: str, now: dt.datetime) -> None:
    """Count one wrong code from this address (atomically: parallel ones all count)."""
    if not address:
        return
    count_key, last_key = _keys(address)
    timeout = FORGET_AFTER.total_seconds()
    cache.add(count_key, 0, timeout)
    try:
        cache.incr(count_key)
    except ValueError:  # expired between add and incr
        cache.add(count_key, 1, timeout)
    cache.touch(count_key, timeout)
    cache.set(last_key, now.timestamp(), timeout)
