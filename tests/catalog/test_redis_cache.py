"""The Redis cache (catalog.redis_cache): one redis-py client per pool, shared by every call and
thread, and a rate-limit window counted in one round trip that expires with its window. Against
the real Redis of REDIS_URL; the embedded default has none."""

from __future__ import annotations

import os
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache import caches

from catalog.redis_cache import LocusRedisCache

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs REDIS_URL")


@pytest.fixture
def cache():
    backend = caches["default"]
    assert isinstance(backend, LocusRedisCache)
    return backend


def test_every_call_and_thread_shares_one_client(cache):
    clients = {id(cache._cache.get_client(write=True)) for _ in range(5)}
    with ThreadPoolExecutor(4) as pool:
        clients |= set(pool.map(lambda _: id(cache._cache.get_client()), range(8)))
        keys = [f"shared-{uuid.uuid4().hex}" for _ in range(50)]
        list(pool.map(lambda key: cache.set(key, key, 30), keys))
        assert list(pool.map(cache.get, keys)) == keys
    assert len(clients) == 1


def test_a_window_counter_counts_in_one_round_trip_and_expires_with_its_window(cache):
    key = f"window-{uuid.uuid4().hex}"
    client = cache._cache.get_client(write=True)
    sent = []
    original = client.execute_command
    client.execute_command = lambda *args, **kwargs: sent.append(args) or original(*args, **kwargs)
    try:
        counts = [cache.incr_expiring(key, 61) for _ in range(3)]
    finally:
        del client.execute_command
    assert counts == [1, 2, 3]
    assert sent == []  # nothing sent one command at a time: each count was one pipeline
    assert cache.get(key) == 3  # a plain integer, as the cache's other calls read it
    assert 0 < client.ttl(cache.make_and_validate_key(key)) <= 61


def test_the_counter_and_add_then_incr_agree(cache):
    """The embedded default's path (add, then incr) and Redis's give the same numbers."""
    key = f"agree-{uuid.uuid4().hex}"
    cache.add(key, 0, timeout=30)
    assert cache.incr(key) == 1
    assert cache.incr_expiring(key, 30) == 2
