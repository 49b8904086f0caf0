"""The rules-following model server (examples/model_server) as a judge and a simulated user.

One server per session (per xdist worker); each test that takes ``model_fake`` starts with an
empty script and call log. ``judge_connector(...)`` builds connectors pointing at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pytest_connectors.models.connector import Connector
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.launch import UvicornServer

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL_TOKEN = "judge-secret-token-4f9a7c1e"


class ModelFake:
    """Drives the running model server: queue what its next calls do, read what it was asked."""

    def __init__(self, url: str) -> None:
        self.url = url

    def control(self, **body: Any) -> None:
        httpx.post(f"{self.url}/control", json=body, timeout=10).raise_for_status()

    def script(self, *steps: Any) -> None:
        self.control(script=list(steps))

    def requests(self) -> list[dict[str, Any]]:
        reply = httpx.get(f"{self.url}/calls", timeout=10)
        reply.raise_for_status()
        requests: list[dict[str, Any]] = reply.json()["requests"]
        return requests

    @property
    def calls(self) -> int:
        return len(self.requests())


@pytest.fixture(scope="session")
def model_server() -> Iterator[UvicornServer]:
    server = UvicornServer(
        "app:app", app_dir=EXAMPLES / "model_server", env={"MODEL_SERVER_TOKEN": MODEL_TOKEN}
    )
    with server:
        yield server


@pytest.fixture
def model_fake(model_server: UvicornServer) -> ModelFake:
    fake = ModelFake(model_server.url)
    fake.control(reset=True)
    return fake


@pytest.fixture
def model_connector(model_server: UvicornServer, tmp_path: Path) -> Callable[..., Connector]:
    """``model_connector(name, model="rules-judge", **config)``: a connector in a fresh file."""
    store = ConnectorStore(tmp_path / "judges.json")

    def make(name: str = "Rules Judge", model: str = "rules-judge", **config: Any) -> Connector:
        body = {"model": model, "temperature": 0, "seed": 7, **config.pop("body", {})}
        return store.create(
            {
                "name": name,
                "type": "http",
                "baseUrl": model_server.url,
                "authType": "bearer",
                "authValue": MODEL_TOKEN,
                "config": {"path": "/v1/chat/completions", "body": body, **config},
            }
        )

    return make
