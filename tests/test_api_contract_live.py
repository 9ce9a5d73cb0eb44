"""The API's error shape through the real server (Daphne), for what only the server can meet."""

import httpx
import pytest
from rest_framework.authtoken.models import Token

from governance.roles import Role
from tests.factories import UserFactory
from tests.live import live_locus, live_locus_process  # noqa: F401  (fixtures)

pytestmark = pytest.mark.live


def test_a_malformed_multipart_body_gets_the_api_answer_not_a_bare_400(live_locus):  # noqa: F811
    user = UserFactory(username="olga-owner", roles=[Role.DATA_OWNER])
    token = Token.objects.create(user=user)
    boundary = "c637e12e2b1a998d80d1b087531af51c"

    response = httpx.post(
        f"{live_locus}/api/v1/subject-tasks/1/complete/",
        content=f"--{boundary}--\r\n".encode(),
        headers={
            "Authorization": f"Token {token.key}",
            "Content-Type": f"multipart/form-data; boundary={boundary}",
        },
    )

    assert response.headers["Content-Type"] == "application/json"
    assert response.status_code == 404  # Locus answered: no task 1
    assert "detail" in response.json()
