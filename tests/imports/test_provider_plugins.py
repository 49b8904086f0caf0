"""A provider another distribution installs, through the ``pytest_connectors.providers`` entry
points: built as a real distribution (a package and its ``.dist-info``) on a folder the CLI and
the service find on their PYTHONPATH, serving turns from a loopback HTTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from children import python_path
from documentation import block
from provider_plugins import distribution
from service_support import ServiceProcess, client, issue_key

TOKEN = "acme-token-7f3a9c1e5b"

# The whole third-party provider, as docs/imports.md shows it: a spec, a provider and its own
# way to make conversations.
ACME = block("python", 'name="acme"')


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A folder holding acme-traces, and a broken plugin whose import fails."""
    folder = tmp_path / "site"
    distribution(folder, "acme-traces", "acme_traces", ACME, {"acme": "acme_traces:SPEC"})
    distribution(
        folder,
        "broken-traces",
        "broken_traces",
        "raise RuntimeError('this plugin is broken')\n",
        {"broken": "broken_traces:SPEC"},
    )
    return folder


class AcmeServer:
    """The Acme trace store: its turns at ``GET /turns``, for a bearer token."""

    def __init__(self) -> None:
        now = datetime.now(UTC)
        self.turns = [
            self.turn("t1", "th-1", now - timedelta(minutes=30), "hello?", "hi there"),
            self.turn("t2", "th-1", now - timedelta(minutes=29), "the weather?", "sunny"),
            self.turn("t3", "th-2", now - timedelta(minutes=20), "bye", "goodbye"),
        ]
        self.authorizations: list[str | None] = []
        handler = self._handler()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @staticmethod
    def turn(ident: str, thread: str, at: datetime, question: str, answer: str) -> dict[str, Any]:
        return {
            "id": ident,
            "thread": thread,
            "at": at.isoformat(),
            "question": question,
            "answer": answer,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                store.authorizations.append(self.headers.get("Authorization"))
                ok = self.headers.get("Authorization") == f"Bearer {TOKEN}"
                body = json.dumps(store.turns if ok else {"error": "no"}).encode()
                self.send_response(200 if ok else 401)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


@pytest.fixture
def acme() -> Iterator[AcmeServer]:
    server = AcmeServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()
        thread.join(timeout=10)


def plugin_env(site: Path) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([python_path(), str(site)])}


def test_a_third_party_provider_works_through_the_cli(
    site: Path, acme: AcmeServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env |= plugin_env(site)
    db = str(tmp_path / "imports.db")
    outputs: list[str] = []

    def cli(*argv: str, stdin: str = "") -> tuple[int, str]:
        done = subprocess.run(
            [sys.executable, "-m", "pytest_connectors.cli", *argv, "--db", db],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        outputs.extend([done.stdout, done.stderr])
        return done.returncode, done.stdout + done.stderr

    code, out = cli(
        "imports", "create", "--agent", "agt_1", "--name", "acme prod", "--category",
        "llm-tracing", "--provider", "acme", "--provider-key", "-", "--config",
        f"url={acme.url}", "--json", stdin=TOKEN + "\n",
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["config"] == {"token": "****", "url": acme.url}

    code, out = cli("imports", "connect", "acme prod", "--wait")
    assert code == 0, out
    assert "succeeded: 3 fetched, 3 created" in out
    assert acme.authorizations == [f"Bearer {TOKEN}"]

    code, out = cli("conversations", "list", "--connector", "acme prod", "--json")
    assert code == 0, out
    listed = {c["threadKey"]: c for c in json.loads(out)["items"]}
    assert sorted(listed) == ["th-1", "th-2"]
    code, out = cli("conversations", "show", listed["th-1"]["id"])
    assert code == 0, out
    assert "user: hello?" in out and "assistant: sunny" in out

    code, out = cli("imports", "sync", "acme prod", "--wait")
    assert code == 0 and "3 unchanged" in out, out

    # A broken plugin is an error where it is named, and only there.
    code, out = cli("imports", "list")
    assert code == 0 and "acme prod" in out, out
    code, out = cli(
        "imports", "create", "--agent", "agt_1", "--name", "b", "--category", "llm-tracing",
        "--provider", "broken",
    )  # fmt: skip
    assert code == 2, out
    assert out.strip().splitlines() == [
        "pytest-connectors: error: provider 'broken' of broken-traces 1.0 does not load "
        "(RuntimeError: this plugin is broken); reinstall or uninstall it"
    ]
    code, out = cli(
        "imports", "create", "--agent", "agt_1", "--name", "n", "--category", "llm-tracing",
        "--provider", "nope",
    )  # fmt: skip
    assert code == 2, out
    assert "unknown provider 'nope'; known providers: acme, broken, fullstory" in out
    assert "Traceback" not in "".join(outputs)
    assert not any(TOKEN in text for text in outputs)


def test_a_third_party_provider_works_through_the_service(
    site: Path, acme: AcmeServer, tmp_path: Path
) -> None:
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_1")
    body = {
        "name": "acme prod",
        "category": "llm-tracing",
        "provider": "acme",
        "config": {"token": TOKEN, "url": acme.url},
    }
    with (
        ServiceProcess(db, env=plugin_env(site)) as service,
        client(service.url, key) as api,
    ):
        unknown = api.post("/api/connectors", json={**body, "provider": "nope"})
        created = api.post("/api/connectors", json=body)
        assert created.status_code == 201, created.text
        ref = created.json()["id"]
        connected = api.post(f"/api/connectors/{ref}/connect")
        assert connected.status_code == 200, connected.text
        job_id = connected.json()["job"]["id"]
        for _ in range(10):
            job = api.get(f"/api/jobs/{job_id}", params={"wait": 30}).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                break
        listed = api.get("/api/conversations", params={"connector": ref}).json()["items"]
        shown = api.get(f"/api/connectors/{ref}").json()
        log = service.log_path.read_text(encoding="utf-8")

    assert unknown.status_code == 422, unknown.text
    assert "unknown provider 'nope'; known providers: acme, broken" in unknown.text
    assert job["status"] == "succeeded", job
    assert job["stats"]["created"] == 3
    assert sorted(c["threadKey"] for c in listed) == ["th-1", "th-2"]
    turns = next(c for c in listed if c["threadKey"] == "th-1")["turns"]
    assert [t["userMessages"] for t in turns] == [["hello?"], ["the weather?"]]
    assert shown["config"]["token"] == "****"
    assert not any(TOKEN in text for text in (created.text, json.dumps(job), log))
