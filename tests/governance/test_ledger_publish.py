"""Publishing signed tree heads where auditors keep them (governance.ledger.publish): into a
directory, one file per size and latest.json, or POSTed to a URL; each head verifies offline,
and a later one is proved to extend an earlier one that was published."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from governance.ledger import signing
from governance.ledger.proofcheck import consistency_problems
from governance.ledger.publish import LATEST, head_file_name
from governance.ledger.tree import consistency_proof, ledger_sequence, ledger_submit
from governance.tasks import ledger_publish
from locus_client.proofcheck import tree_head_problem

pytestmark = pytest.mark.django_db


def _batch(entries: int) -> None:
    for i in range(entries):
        ledger_submit(actor=None, kind="test.queued", data={"i": i})
    ledger_sequence()


def _trusted() -> set[str]:
    return {signing.public_key_b64()}


def test_heads_published_to_a_directory_verify_and_the_later_extends_the_earlier(
    settings, tmp_path
):
    settings.LEDGER_PUBLISH_TO = str(tmp_path / "heads")
    _batch(3)
    assert ledger_publish() == 3
    _batch(4)
    assert ledger_publish() == 7

    published = tmp_path / "heads"
    first = json.loads((published / head_file_name(3)).read_text())
    second = json.loads((published / head_file_name(7)).read_text())
    assert json.loads((published / LATEST).read_text()) == second
    assert sorted(p.name for p in published.iterdir()) == [
        LATEST,
        head_file_name(3),
        head_file_name(7),
    ]
    assert tree_head_problem(first, _trusted()) == ""
    assert tree_head_problem(second, _trusted()) == ""
    # What the auditor does with them: the log of today extends the head published before.
    proof = consistency_proof(3, 7)
    assert consistency_problems(first, second, proof, _trusted()) == []
    forged = {**first, "root": "00" * 32}
    assert consistency_problems(forged, second, proof, _trusted())


class _Collector(BaseHTTPRequestHandler):
    """A receiving end on loopback: keeps each body POSTed, answers with the server's status."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.bodies.append((self.headers["Content-Type"], body))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


@pytest.fixture
def collector():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    server.bodies, server.status = [], 204
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_a_head_is_posted_to_a_url(settings, collector):
    settings.LEDGER_PUBLISH_TO = f"http://127.0.0.1:{collector.server_port}/heads?key=secret"
    _batch(2)
    assert ledger_publish() == 2
    [(content_type, body)] = collector.bodies
    assert content_type == "application/json"
    head = json.loads(body)
    assert head["size"] == 2
    assert tree_head_problem(head, _trusted()) == ""


def test_a_refusing_url_is_an_error_to_try_again(settings, collector):
    collector.status = 503
    settings.LEDGER_PUBLISH_TO = f"http://127.0.0.1:{collector.server_port}/heads"
    _batch(1)
    with pytest.raises(httpx.HTTPStatusError):
        ledger_publish.run()
    assert len(collector.bodies) == 1


def test_an_unwritable_directory_is_an_error_to_try_again(settings, tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the directory should be")
    settings.LEDGER_PUBLISH_TO = str(blocked)
    with pytest.raises(OSError):
        ledger_publish.run()


def test_nowhere_to_publish(settings, tmp_path):
    settings.LEDGER_PUBLISH_TO = ""
    assert ledger_publish() is None
    with pytest.raises(CommandError, match="LEDGER_PUBLISH_TO"):
        call_command("publish_tree_head")


def test_the_command_publishes_where_it_is_told(settings, tmp_path):
    settings.LEDGER_PUBLISH_TO = ""
    _batch(2)
    out = io.StringIO()
    call_command("publish_tree_head", "--to", str(tmp_path), stdout=out)
    assert json.loads(out.getvalue())["size"] == 2
    assert json.loads((tmp_path / head_file_name(2)).read_text())["size"] == 2
    with pytest.raises(CommandError, match="http"):
        call_command("publish_tree_head", "--to", "ftp://example.org/heads")


def test_the_checkpoints_page_shows_the_tree_head_and_where_it_is_published(
    settings, client, auditor
):
    settings.LEDGER_PUBLISH_TO = "https://heads.example.org/locus?token=secret"
    _batch(3)
    client.force_login(auditor)

    page = client.get(reverse("governance:ledger-checkpoints")).content.decode()
    assert "holds 3 entries" in page
    assert "https://heads.example.org" in page and "secret" not in page

    download = client.get(reverse("governance:ledger-tree-head-json"))
    assert download["Content-Disposition"] == f'attachment; filename="locus-{head_file_name(3)}"'
    head = json.loads(download.content)
    assert head["size"] == 3 and tree_head_problem(head, _trusted()) == ""
