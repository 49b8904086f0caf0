"""``${NAME}`` references: resolved from the environment at use, never written resolved."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_connectors._support.secrets import mask
from pytest_connectors._support.variables import references, resolve
from pytest_connectors.errors import ConnectorError, MissingVariableError
from pytest_connectors.registry.json_file import ConnectorStore


def test_resolve_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "tok-1")
    monkeypatch.setenv("AGENT_HOST", "agent.internal")

    assert resolve("Bearer ${AGENT_TOKEN}", connector="prod") == "Bearer tok-1"
    assert resolve("https://${AGENT_HOST}:${AGENT_HOST}", connector="prod") == (
        "https://agent.internal:agent.internal"
    )


def test_resolve_uses_a_given_mapping_instead_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "from-environment")

    assert resolve("${AGENT_TOKEN}", connector="prod", environ={"AGENT_TOKEN": "x"}) == "x"


def test_resolve_leaves_text_without_references_alone() -> None:
    assert resolve("$AGENT_TOKEN {AGENT_TOKEN} $ {}", connector="prod", environ={}) == (
        "$AGENT_TOKEN {AGENT_TOKEN} $ {}"
    )


def test_a_missing_variable_names_the_variable_and_the_connector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("AGENT_TOKEN_UNSET", raising=False)

    with pytest.raises(MissingVariableError) as caught:
        resolve("Bearer ${AGENT_TOKEN_UNSET}", connector="Production API")

    error = caught.value
    assert isinstance(error, ConnectorError)
    assert (error.variable, error.connector) == ("AGENT_TOKEN_UNSET", "Production API")
    assert "AGENT_TOKEN_UNSET" in str(error)
    assert "'Production API'" in str(error)


def test_an_empty_variable_counts_as_set() -> None:
    assert resolve("[${EMPTY}]", connector="prod", environ={"EMPTY": ""}) == "[]"


def test_references_lists_the_variable_names() -> None:
    assert references("${A}/x/${B_2}/$C/${3D}") == ["A", "B_2"]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("sk-live-SECRET-123", "****"),
        ("${AGENT_TOKEN}", "${AGENT_TOKEN}"),
        ("Bearer ${AGENT_TOKEN}", "****${AGENT_TOKEN}"),
        ("${USER}:${PASSWORD}", "${USER}****${PASSWORD}"),
        ("${AGENT_TOKEN}-suffix", "${AGENT_TOKEN}****"),
        ("", ""),
    ],
)
def test_mask_hides_literals_and_keeps_references(value: str, shown: str) -> None:
    assert mask(value) == shown


def test_the_store_writes_references_not_their_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_TOKEN", "sk-live-SECRET-123")
    monkeypatch.setenv("AGENT_URL", "https://agent.example.com")
    path = tmp_path / "connectors.json"
    store = ConnectorStore(path)

    created = store.create(
        {
            "name": "prod",
            "type": "http",
            "baseUrl": "${AGENT_URL}",
            "authType": "bearer",
            "authValue": "${AGENT_TOKEN}",
            "config": {"headers": {"X-Key": "${AGENT_TOKEN}"}},
        }
    )
    store.update(created.id, {"authValue": "${AGENT_TOKEN_2}"})

    text = path.read_text()
    assert "sk-live-SECRET-123" not in text
    assert "agent.example.com" not in text
    [record] = json.loads(text)
    assert record["baseUrl"] == "${AGENT_URL}"
    assert record["authValue"] == "${AGENT_TOKEN_2}"
    assert record["config"]["headers"] == {"X-Key": "${AGENT_TOKEN}"}
    assert created.auth_value == "${AGENT_TOKEN}"
