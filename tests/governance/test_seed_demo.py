"""`seed_demo` with debug off: refused unless asked for explicitly, and then without the
well-known demo password (each new account gets a random one, printed once)."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from governance.management.commands.seed_demo import DEMO_PASSWORD, DEMO_USERS

pytestmark = pytest.mark.django_db

USERNAMES = ["admin", *(username for username, *_ in DEMO_USERS)]


def seed(*args: str) -> str:
    out = io.StringIO()
    call_command("seed_demo", "--datasets", "1", *args, stdout=out)
    return out.getvalue()


def test_debug_off_refuses_without_the_flag(settings):
    settings.DEBUG = False

    with pytest.raises(CommandError, match="--allow-production"):
        seed()

    assert not get_user_model().objects.filter(username__in=USERNAMES).exists()


def test_debug_off_with_the_flag_never_sets_the_demo_password(settings):
    settings.DEBUG = False

    out = seed("--allow-production")

    users = get_user_model().objects.filter(username__in=USERNAMES)
    assert users.count() == len(USERNAMES)
    assert DEMO_PASSWORD not in out
    for user in users:
        assert not user.check_password(DEMO_PASSWORD)
        line = next(line for line in out.splitlines() if line.split()[:1] == [user.username])
        assert user.check_password(line.split()[-1])  # shown once, to whoever ran it


def test_debug_on_seeds_the_demo_logins(settings):
    settings.DEBUG = True

    out = seed()

    assert get_user_model().objects.get(username="admin").check_password(DEMO_PASSWORD)
    assert f"password '{DEMO_PASSWORD}'" in out
