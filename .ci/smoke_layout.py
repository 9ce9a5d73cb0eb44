"""The production layout's smoke test (.ci/smoke-production): an API call on the web process
(granian) and a WebSocket on the ws process (Daphne), as a person made here for it.

Usage: python .ci/smoke_layout.py WEB_URL WS_URL, with the servers' environment (DATABASE_URL,
REDIS_URL, the keys) so that the person and their session are in the servers' database.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
WAIT = 60.0  # a bound for a broken layout, not a speed to reach


def person() -> tuple[str, str]:
    """An executive's API token and session cookie (made once, reused by a later run)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from governance.roles import Role

    user, _ = get_user_model().objects.get_or_create(username="smoke-executive")
    user.groups.add(Group.objects.get(name=Role.EXECUTIVE))
    token, _ = Token.objects.get_or_create(user=user)
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    return token.key, cookie


async def socket_hello(ws_url: str, cookie: str) -> dict:
    from tests import wsclient

    url = ws_url.replace("http://", "ws://") + "/ws/risk/"
    socket = await wsclient.connect(url, origin=ws_url, cookie=cookie)
    try:
        return await socket.receive_json(timeout=WAIT)
    finally:
        await socket.close()


def main(web_url: str, ws_url: str) -> int:
    import django
    import httpx

    django.setup()
    token, cookie = person()
    answer = httpx.get(
        f"{web_url}/api/v1/purposes/", headers={"Authorization": f"Token {token}"}, timeout=WAIT
    )
    print(f"web: GET /api/v1/purposes/ {answer.status_code} ({answer.headers.get('server')})")
    if answer.status_code != 200:
        print(answer.text[:500], file=sys.stderr)
        return 1
    hello = asyncio.run(socket_hello(ws_url, cookie))
    print(f"ws: /ws/risk/ said {hello}")
    return 0 if hello.get("type") == "hello" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
