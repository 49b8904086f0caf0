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


# -- the masking types and policy -----------------------------------------------------------------


def test_a_secret_is_a_string_whose_repr_is_masked() -> None:
    from pytest_connectors._support.secrets import Redactor, Secret

    secret = Secret("tok-1234567")

    assert secret == "tok-1234567"
    assert f"Bearer {secret}" == "Bearer tok-1234567"
    assert "tok-1234567" not in repr(secret)
    assert "tok-1234567" not in repr({"Authorization": secret, "list": [secret, (secret,)]})
    assert "tok" not in repr(Redactor([secret]))


def test_mask_url_hides_passwords_and_secret_looking_query_values() -> None:
    from pytest_connectors._support.secrets import mask_url

    assert mask_url("https://u:pw@h.example.com/p?key=abc&lang=en&token=${T}") == (
        "https://u:****@h.example.com/p?key=****&lang=en&token=${T}"
    )
    assert mask_url("http://127.0.0.1:2024") == "http://127.0.0.1:2024"


def test_mask_fields_masks_secret_looking_keys_at_any_depth() -> None:
    from pytest_connectors._support.secrets import mask_fields

    assert mask_fields({"X-Api-Token": "a-b", "n": {"password": "pw", "max_tokens": 5}}) == {
        "X-Api-Token": "****",
        "n": {"password": "****", "max_tokens": 5},
    }


def test_resolved_headers_urls_and_variable_values_are_masked_in_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pytest_connectors.client.target import resolve_target, variable_values
    from pytest_connectors.models.connector import Connector

    monkeypatch.setenv("LEAK_TOKEN", "tok-from-env-777")
    monkeypatch.setenv("LEAK_URL_KEY", "url-key-888")
    connector = Connector.model_validate(
        {
            "id": "1",
            "name": "c",
            "type": "http",
            "baseUrl": "http://127.0.0.1:9",
            "authType": "basic",
            "authValue": "user:${LEAK_TOKEN}",
            "config": {"path": "/chat?key=${LEAK_URL_KEY}", "headers": {"X-Api-Token": "lit-999"}},
            "createdAt": "2024-01-15T10:30:00.000Z",
            "updatedAt": "2024-01-15T10:30:00.000Z",
        }
    )

    target = resolve_target(connector)
    shown = repr((target, target.headers, target.url, variable_values(connector)))

    for secret in ("tok-from-env-777", "url-key-888", "lit-999", "dXNlcjp0b2stZnJvbS1lbnYtNzc3"):
        assert secret not in shown
    assert dict(target.headers)["Authorization"] == "Basic dXNlcjp0b2stZnJvbS1lbnYtNzc3"
    assert target.url == "http://127.0.0.1:9/chat?key=url-key-888"
