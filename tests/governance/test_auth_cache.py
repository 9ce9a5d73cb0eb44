"""The authentication cache (governance.identity.authcache): a token's person and a person's
permissions and roles are read once, and every change is seen on the very next request."""

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from governance.identity import authcache
from governance.roles import Role, has_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/purposes/"


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def person():
    return UserFactory(username="casey-cached", roles=[Role.EXECUTIVE])


@pytest.fixture
def token(person):
    return Token.objects.create(user=person)


def _warm(token) -> APIClient:
    client = _client(token.key)
    assert client.get(URL).status_code == 200
    assert cache.get(authcache.token_cache_key(token.key)) is not None  # it is cached now
    return client


def test_a_deleted_token_stops_working_on_the_next_request(token):
    client = _warm(token)
    token.delete()
    assert client.get(URL).status_code == 401


def test_a_rotated_token_stops_working_and_the_new_one_works(person, token):
    client = _warm(token)
    token.delete()
    fresh = Token.objects.create(user=person)
    assert client.get(URL).status_code == 401
    assert _client(fresh.key).get(URL).status_code == 200


def test_a_deactivated_person_is_refused_on_the_next_request(person, token):
    client = _warm(token)
    person.is_active = False
    person.save(update_fields=["is_active"])
    response = client.get(URL)
    assert response.status_code == 401
    assert "inactive" in str(response.json()).lower()


def test_an_inactive_person_in_a_current_entry_is_still_refused(person, token):
    """Even an entry the invalidation missed (a queryset update sends no signal) never lets an
    inactive person in: the entry is dropped with the person's version, and is checked."""
    client = _warm(token)
    User.objects.filter(pk=person.pk).update(is_active=False)
    cached, version = cache.get(authcache.token_cache_key(token.key))
    cached.user.is_active = False
    authcache.cache_token(cached, version)  # an entry that holds the inactive person
    assert client.get(URL).status_code == 401


def test_leaving_a_role_group_removes_the_permission_on_the_next_request(person, token):
    client = _warm(token)
    person.groups.remove(Group.objects.get(name=Role.EXECUTIVE))
    assert client.get(URL).status_code == 403


def test_removal_from_the_group_side_counts_too(person, token):
    client = _warm(token)
    Group.objects.get(name=Role.EXECUTIVE).user_set.remove(person)
    assert client.get(URL).status_code == 403


def test_joining_a_role_group_gives_the_permission_on_the_next_request(token):
    outsider = UserFactory(username="otto-later")
    client = _client(Token.objects.create(user=outsider).key)
    assert client.get(URL).status_code == 403
    outsider.groups.add(Group.objects.get(name=Role.AUDITOR))
    assert client.get(URL).status_code == 200


def test_a_group_losing_a_permission_is_seen_on_the_next_request(token):
    client = _warm(token)
    view_dataset = Permission.objects.get(
        content_type__app_label="catalog", codename="view_dataset"
    )
    group = Group.objects.get(name=Role.EXECUTIVE)
    group.permissions.remove(view_dataset)
    assert client.get(URL).status_code == 403
    group.permissions.add(view_dataset)
    assert client.get(URL).status_code == 200


def test_a_permission_of_ones_own_is_seen_on_the_next_request():
    outsider = UserFactory(username="otto-own")
    client = _client(Token.objects.create(user=outsider).key)
    assert client.get(URL).status_code == 403
    outsider.user_permissions.add(
        Permission.objects.get(content_type__app_label="catalog", codename="view_dataset")
    )
    assert client.get(URL).status_code == 200


def test_roles_follow_the_groups(person):
    assert has_role(User.objects.get(pk=person.pk), Role.EXECUTIVE)
    person.groups.remove(Group.objects.get(name=Role.EXECUTIVE))
    assert not has_role(User.objects.get(pk=person.pk), Role.EXECUTIVE)


def test_a_session_sees_a_permission_change_on_the_next_request(person):
    client = APIClient()
    client.force_login(person)
    assert client.get(URL).status_code == 200
    person.groups.clear()
    assert client.get(URL).status_code == 403


def test_the_cache_never_holds_a_usable_token(token):
    _warm(token)
    assert token.key not in authcache.token_cache_key(token.key)


def test_a_warm_cache_reads_neither_token_nor_permissions(token, django_assert_num_queries):
    client = _client(token.key)
    # Cold: the token's person (twice: its id, then the row cached under the version read in
    # between), the person's own and group permissions, then the page: count and rows.
    with django_assert_num_queries(6):
        assert client.get(URL).status_code == 200
    # Warm: the page alone.
    with django_assert_num_queries(2):
        assert client.get(URL).status_code == 200


class CountingCache:
    """The real cache, each call counted by method (a spy, not a stand-in)."""

    def __init__(self, real):
        self.real, self.calls = real, []

    def __getattr__(self, name):
        method = getattr(self.real, name)

        def counted(*args, **kwargs):
            self.calls.append(name)
            return method(*args, **kwargs)

        return counted


def test_a_warm_request_reads_the_cache_once(token, monkeypatch, django_assert_num_queries):
    """The token, both versions and the permissions in one read (one Redis round trip)."""
    client = _warm(token)
    assert client.get(URL).status_code == 200  # the person's permissions cached too
    spy = CountingCache(cache)
    monkeypatch.setattr(authcache, "cache", spy)
    with django_assert_num_queries(2):  # the page alone: count and rows
        assert client.get(URL).status_code == 200
    assert [call for call in spy.calls if call.startswith("get")] == ["get_many"], spy.calls


def test_a_warm_single_check_reads_neither_token_nor_permissions(engineer, data_owner):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from governance.policy.index import current_index, forget_index
    from tests.factories import make_dataset

    make_dataset(
        data_owner,
        slug="eu-customers",
        uri="s3://locus-eu/customers",
        lawful_basis="consent",
        personal_data_categories=["contact"],
        subject_jurisdictions=["eu"],
        allowed_processing_regions=["aws:eu-central-1"],
    )
    forget_index()
    current_index()  # the policy index compiled: the counts below are the request's own
    client = _client(Token.objects.create(user=engineer).key)
    body = {
        "dataset": "eu-customers",
        "action": "train",
        "region": "aws:eu-central-1",
        "purpose": "model-training",
    }
    with CaptureQueriesContext(connection) as cold:
        assert client.post("/api/v1/locality/check", body, format="json").status_code == 200
    with CaptureQueriesContext(connection) as warm:
        assert client.post("/api/v1/locality/check", body, format="json").status_code == 200
    read = [q["sql"] for q in warm.captured_queries]
    assert not any("authtoken_token" in sql or "auth_permission" in sql for sql in read), read
    # The cold check reads the token twice and the permissions twice; the warm one none of them.
    assert len(cold.captured_queries) - len(warm.captured_queries) == 4, (
        [q["sql"] for q in cold.captured_queries],
        read,
    )


def test_an_unreachable_cache_reads_the_database_and_refuses_nothing(settings, person, token):
    """Redis down: every request reads the token and permissions itself, never a 500."""
    settings.CACHES = {
        "default": {
            "BACKEND": "catalog.redis_cache.LocusRedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",  # nothing listens there
        }
    }
    client = _client(token.key)
    assert client.get(URL).status_code == 200
    person.groups.remove(Group.objects.get(name=Role.EXECUTIVE))
    assert client.get(URL).status_code == 403
    token.delete()
    assert client.get(URL).status_code == 401
