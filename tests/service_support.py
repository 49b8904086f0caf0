"""Helpers for the service tests: the real service under uvicorn, keys, and a tiny API client.

``ServiceProcess`` runs ``pytest-connectors serve`` exactly as a user does (a subprocess on a
free loopback port, importing this checkout); ``in_process`` gives the same app over
``httpx.ASGITransport`` for tests that need no second process.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from children import python_path

from pytest_connectors.servers.launch import LocalServer
from pytest_connectors.servers.serve import ServiceServer
from pytest_connectors.storage.api_keys import create_api_key
from pytest_connectors.storage.store import Store

ROOT = Path(__file__).resolve().parent.parent


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This checkout first on the path; no PYTEST_* setting leaks into the child."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = python_path(ROOT)
    env.update(extra or {})
    return env


class ServiceProcess(ServiceServer):
    """The service as a user runs it, importing this checkout; stop() ends it, start() again.

    The providers of the tests are fakes on loopback, so keys may go to private hosts unless a
    test says otherwise (``allow_private_destinations=False``: the service's default).
    """

    def __init__(
        self,
        db: str,
        *,
        workers: int = 1,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
        allow_env: Sequence[str] = (),
        allow_private_destinations: bool = True,
    ) -> None:
        super().__init__(
            db,
            workers=workers,
            port=port,
            env=child_env(env),
            allow_env=allow_env,
            allow_private_destinations=allow_private_destinations,
        )


def readme_server(
    line: str, ready_path: str, *, cwd: Path | None = None, env: Mapping[str, str] | None = None
) -> LocalServer:
    """A ``pytest-connectors ...`` server command as a README block writes it (comment and all),
    on a free port instead of the one it names (``--port`` replaced or added)."""
    words = shlex.split(line, comments=True)
    assert words[0] == "pytest-connectors", line
    words = [sys.executable, "-m", "pytest_connectors.cli", *words[1:]]
    if "--port" in words:
        del words[words.index("--port") : words.index("--port") + 2]
    command = [*words, "--port", "{port}"]
    return LocalServer(command, ready_path=ready_path, cwd=cwd, env=child_env(env))


def on_port(text: str, ports: Mapping[int, int]) -> str:
    """``text`` with each ``127.0.0.1:<old>`` and ``--port <old>`` moved to its new port."""
    for old, new in ports.items():
        text = re.sub(rf"(127\.0\.0\.1:|--port ){old}\b", rf"\g<1>{new}", text)
    return text


def issue_key(db: str, tenant: str, agent: str | None = None, **extra: Any) -> str:
    with Store(db) as store:
        return create_api_key(store, tenant_id=tenant, agent_id=agent, **extra).key


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def client(base_url: str, key: str | None = None, **options: Any) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        headers=headers(key) if key else {},
        timeout=options.pop("timeout", 30),
        trust_env=False,
        **options,
    )


def langsmith_connector(agent: str | None, name: str, **config: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "category": "llm-tracing",
        "provider": "langsmith",
        "config": {"apiKey": "ls-secret-value-123", "projectName": "support-prod", **config},
    }
    if agent is not None:
        body["agentId"] = agent
    return body
