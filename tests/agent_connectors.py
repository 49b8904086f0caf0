"""Connectors to the example agents, built in memory, their token read from the environment."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pytest_connectors.models.connector import Connector

TOKEN_VARIABLE = "PYTEST_CONNECTORS_TEST_AGENT_TOKEN"


def make_connector(base_url: str, kind: str = "http", **config: Any) -> Connector:
    now = datetime.now(UTC)
    defaults = {"assistantId": "agent"} if kind == "langgraph" else {"path": "/v1/chat/completions"}
    return Connector.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "chat",
            "type": kind,
            "baseUrl": base_url,
            "authType": "bearer",
            "authValue": f"${{{TOKEN_VARIABLE}}}",
            "config": {**defaults, **config},
            "createdAt": now,
            "updatedAt": now,
        }
    )


def http_connector(name: str, url: str, auth_value: str) -> dict[str, Any]:
    """A connector to the example HTTP agent, as a connector file holds it (for pytester)."""
    return {
        "name": name,
        "type": "http",
        "baseUrl": url,
        "authType": "bearer",
        "authValue": auth_value,
        "config": {"method": "POST", "path": "/v1/chat/completions", "timeout": 10_000},
    }
