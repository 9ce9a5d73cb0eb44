"""A real OpenID Connect provider for the single sign-on tests: panva/oidc-provider (OpenID
Certified, from npm: tests/oidc/, installed by `make install`) in a Node.js process of its own.

`OidcProvider(tmp_dir)`: `start(redirect_uris)` waits until discovery answers; `people(...)`
writes who may sign in and their claims, read by the provider at each sign-in, so a test can
take a group away between two sign-ins; `locus_env()` and `locus_settings()` are the Locus
settings that point at it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.live import ROOT, held_port

PROVIDER_DIR = ROOT / "tests" / "oidc"
START_TIMEOUT_SECONDS = 30.0
CLIENT_ID = "locus"
CLIENT_SECRET = "a test client secret that is long enough"
EU_OFFICERS = "locus-privacy-officer-eu"
GROUP_ROLES = {EU_OFFICERS: "privacy_officer", "locus-executives": "executive"}
GROUP_JURISDICTIONS = {EU_OFFICERS: ["eu"]}


def node_binary() -> str:
    found = shutil.which("node")
    if found is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("The OIDC tests need Node.js and `npm ci --prefix tests/oidc` (make install)")
    return found


def person(name: str, groups: list[str], amr: list[str] | None = None) -> dict:
    """One person at the provider: their claims and how they authenticate (amr)."""
    return {
        "name": name,
        "email": f"{name.lower().replace(' ', '.')}@example.org",
        "groups": groups,
        "amr": amr if amr is not None else ["pwd"],
    }


class OidcProvider:
    def __init__(self, directory: Path):
        self.directory = directory
        # Locus is given the issuer before it starts, the provider starts once Locus answers
        # (it needs Locus's callback): the port is held meanwhile, or another test's server or
        # an outgoing connection could take it.
        self._held = held_port()
        self.port = self._held.getsockname()[1]
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.users_path = directory / "people.json"
        self.process: subprocess.Popen | None = None
        self.people({})

    def people(self, people: dict[str, dict]) -> None:
        """Who may sign in ({sub: person(...)}); takes effect at the next sign-in."""
        self.users_path.write_text(json.dumps(people))

    def start(self, redirect_uris: list[str]) -> None:
        env = {
            "PATH": str(Path(node_binary()).parent),
            "OIDC_TEST_PORT": str(self.port),
            "OIDC_TEST_CLIENT_ID": CLIENT_ID,
            "OIDC_TEST_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_TEST_REDIRECT_URIS": " ".join(redirect_uris),
            "OIDC_TEST_USERS": str(self.users_path),
        }
        self.log_path = self.directory / "oidc-provider.log"
        self._held.close()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [node_binary(), "provider.mjs"],
                cwd=PROVIDER_DIR,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_until_serving()

    def _wait_until_serving(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"oidc-provider exited:\n{self.log_path.read_text()}")
            try:
                answer = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
                continue
            if answer.status_code == 200 and answer.json().get("issuer") == self.issuer:
                return
            self.stop()
            pytest.fail(f"another server answers on the provider's port: {answer.text[:200]}")
        self.stop()
        pytest.fail(f"oidc-provider did not answer:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        self._held.close()
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def locus_settings(self) -> dict:
        """Locus's single sign-on settings for this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_PROVIDER_NAME": "Test IdP",
            "OIDC_SCOPES": ["openid", "email", "profile", "groups"],
            "OIDC_ROLE_CLAIM": "groups",
            "OIDC_GROUP_ROLES": GROUP_ROLES,
            "OIDC_GROUP_JURISDICTIONS": GROUP_JURISDICTIONS,
        }

    def locus_env(self) -> dict[str, str]:
        """The same settings as a live server's environment."""
        return {
            name: json.dumps(value)
            if isinstance(value, dict)
            else (",".join(value) if isinstance(value, list) else value)
            for name, value in self.locus_settings().items()
        }
