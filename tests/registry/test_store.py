"""The connector file: CRUD, the reference format, default location, corruption, concurrency."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from pytest_connectors import registry
from pytest_connectors._support.atomic import file_lock
from pytest_connectors.errors import (
    ConnectorError,
    ConnectorFileError,
    ConnectorNotFoundError,
    DuplicateConnectorNameError,
)
from pytest_connectors.models.connector import Connector, ConnectorType, HttpConnectorConfig
from pytest_connectors.registry.json_file import ConnectorStore

REFERENCE_FILE = Path(__file__).parents[1] / "data" / "reference_connectors.json"
SECRET = "sk-live-SECRET-123"


def http_input(name: str = "prod", **overrides: Any) -> dict[str, Any]:
    return {"name": name, "type": "http", "baseUrl": "https://api.example.com", **overrides}


def langgraph_input(name: str = "graph", **overrides: Any) -> dict[str, Any]:
    return {
        "name": name,
        "type": "langgraph",
        "baseUrl": "http://localhost:2024",
        "config": {"assistantId": "agent"},
        **overrides,
    }


def records(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "connectors.json"


@pytest.fixture
def store(path: Path) -> ConnectorStore:
    return ConnectorStore(path)


# -- create / read -----------------------------------------------------------------------------


def test_a_missing_file_is_an_empty_registry_and_reading_creates_nothing(
    path: Path, store: ConnectorStore
) -> None:
    assert store.list() == []
    assert store.get("anything") is None
    assert store.get_by_name("anything") is None
    assert not path.parent.exists()


def test_the_first_write_creates_the_file_and_its_folder(path: Path, store: ConnectorStore) -> None:
    created = store.create(http_input(authType="bearer", authValue=SECRET))

    [record] = records(path)
    assert record == {
        "id": created.id,
        "name": "prod",
        "type": "http",
        "baseUrl": "https://api.example.com",
        "authType": "bearer",
        "authValue": SECRET,
        "createdAt": record["createdAt"],
        "updatedAt": record["createdAt"],
    }
    assert record["createdAt"].endswith("Z")
    assert ConnectorStore(path).list() == store.list()


def test_ids_are_uuid4_strings(store: ConnectorStore) -> None:
    ids = [store.create(http_input(f"c{i}")).id for i in range(3)]

    assert [uuid.UUID(i).version for i in ids] == [4, 4, 4]
    assert [str(uuid.UUID(i)) for i in ids] == ids
    assert len(set(ids)) == 3


def test_created_connector_equals_the_one_read_back(store: ConnectorStore, path: Path) -> None:
    created = store.create(langgraph_input())

    assert ConnectorStore(path).get(created.id) == created
    assert store.get(created.id) == created


def test_get_get_by_name_and_find(store: ConnectorStore) -> None:
    alpha_id = store.create(http_input("alpha")).id
    beta_id = store.create(langgraph_input("beta")).id
    alpha, beta = store.list()

    assert (alpha.id, alpha.name, beta.id, beta.name) == (alpha_id, "alpha", beta_id, "beta")
    assert store.get(beta_id) == beta
    assert store.get_by_name("alpha") == alpha
    assert store.find("beta") == beta
    assert store.find(alpha_id) == alpha
    assert store.get("no-such-id") is None
    assert store.get_by_name("gamma") is None


def test_find_of_an_unknown_connector_lists_the_known_names(store: ConnectorStore) -> None:
    store.create(http_input("alpha"))
    store.create(langgraph_input("beta"))

    with pytest.raises(ConnectorNotFoundError) as caught:
        store.find("gamma")

    assert caught.value.known == ["alpha", "beta"]
    assert str(caught.value) == "unknown connector 'gamma'; known connectors: 'alpha', 'beta'"


def test_find_in_an_empty_registry_says_how_to_add_one(store: ConnectorStore) -> None:
    with pytest.raises(ConnectorNotFoundError, match="pytest-connectors create"):
        store.find("gamma")


def test_a_duplicate_name_on_create_is_refused(store: ConnectorStore, path: Path) -> None:
    store.create(http_input("alpha"))
    before = path.read_bytes()

    with pytest.raises(DuplicateConnectorNameError) as caught:
        store.create(langgraph_input("alpha"))

    assert caught.value.name == "alpha"
    assert "'alpha'" in str(caught.value)
    assert path.read_bytes() == before


def test_a_duplicate_name_on_rename_is_refused(store: ConnectorStore, path: Path) -> None:
    store.create(http_input("alpha"))
    beta = store.create(http_input("beta"))
    before = path.read_bytes()

    with pytest.raises(DuplicateConnectorNameError, match="'alpha'"):
        store.update(beta.id, {"name": "alpha"})

    assert path.read_bytes() == before
    assert store.update(beta.id, {"name": "beta"}) is not None  # its own name is no clash


def test_invalid_input_is_refused_before_the_file_is_touched(
    store: ConnectorStore, path: Path
) -> None:
    with pytest.raises(ValueError, match="http:// or https://"):
        store.create(http_input(baseUrl="ftp://example.com"))
    with pytest.raises(ValueError, match="assistantId"):
        store.create(langgraph_input(config=None))

    assert not path.exists()


# -- update / delete ---------------------------------------------------------------------------


def test_update_applies_only_the_fields_given(store: ConnectorStore, path: Path) -> None:
    created = store.create(
        http_input(authType="bearer", authValue="${TOKEN}", config={"path": "/v1/chat"})
    )
    [before] = records(path)

    updated = store.update(created.id, {"baseUrl": "https://new.example.com"})

    assert updated is not None
    assert updated.base_url == "https://new.example.com"
    assert (updated.id, updated.name, updated.auth_value) == (created.id, "prod", "${TOKEN}")
    assert updated.config == HttpConnectorConfig(path="/v1/chat")
    [after] = records(path)
    assert after["createdAt"] == before["createdAt"]
    assert after["updatedAt"] >= before["updatedAt"]
    assert {k: v for k, v in after.items() if k != "updatedAt"} == {
        **{k: v for k, v in before.items() if k != "updatedAt"},
        "baseUrl": "https://new.example.com",
    }


def test_update_with_none_clears_an_optional_field(store: ConnectorStore) -> None:
    created = store.create(http_input(authType="bearer", authValue="${TOKEN}"))

    updated = store.update(created.id, {"authType": None, "authValue": None})

    assert updated is not None
    assert (updated.auth_type, updated.auth_value) == (None, None)


def test_update_can_change_the_type_with_a_fitting_config(store: ConnectorStore) -> None:
    created = store.create(http_input())

    updated = store.update(created.id, {"type": "langgraph", "config": {"assistantId": "a"}})

    assert updated is not None
    assert updated.type is ConnectorType.LANGGRAPH


def test_update_and_delete_of_an_unknown_id(store: ConnectorStore, path: Path) -> None:
    store.create(http_input())
    before = path.read_bytes()

    assert store.update("no-such-id", {"name": "x"}) is None
    assert store.delete("no-such-id") is False
    assert path.read_bytes() == before


def test_delete_removes_only_that_connector(store: ConnectorStore) -> None:
    alpha = store.create(http_input("alpha"))
    store.create(http_input("beta"))
    beta = store.get_by_name("beta")

    assert store.delete(alpha.id) is True

    assert store.list() == [beta]
    assert store.get(alpha.id) is None
    assert store.delete(alpha.id) is False


def test_no_temporary_file_is_left_after_writes(store: ConnectorStore, path: Path) -> None:
    created = store.create(http_input())
    store.update(created.id, {"baseUrl": "https://b.example.com"})
    store.create(langgraph_input())
    store.delete(created.id)

    leftovers = sorted(p.name for p in path.parent.iterdir())
    assert [n for n in leftovers if n not in {"connectors.json", "connectors.json.lock"}] == []


def test_update_merges_config_keys_and_headers_like_the_cli(store: ConnectorStore) -> None:
    created = store.create(
        langgraph_input(config={"assistantId": "agent", "headers": {"X-A": "1", "X-B": "2"}})
    )

    updated = registry.update_connector(
        created.id,
        {"config": {"timeout": 5000, "headers": {"X-B": "two", "X-C": "3"}}},
        path=store.path,
    )

    assert updated is not None
    assert updated.config is not None
    assert updated.config.model_dump(exclude_none=True) == {
        "assistantId": "agent",
        "timeout": 5000,
        "headers": {"X-A": "1", "X-B": "two", "X-C": "3"},
    }
    assert store.get(created.id) == updated


def test_none_in_a_config_patch_clears_that_key_or_header(store: ConnectorStore) -> None:
    created = store.create(
        http_input(config={"path": "/v1", "timeout": 100, "headers": {"X-A": "1", "X-B": "2"}})
    )

    updated = store.update(created.id, {"config": {"timeout": None, "headers": {"X-A": None}}})

    assert updated is not None
    assert updated.config == HttpConnectorConfig(path="/v1", headers={"X-B": "2"})


def test_a_config_object_as_patch_applies_only_the_fields_it_was_given(
    store: ConnectorStore,
) -> None:
    created = store.create(http_input(config={"path": "/v1", "method": "PUT"}))

    updated = store.update(created.id, {"config": HttpConnectorConfig(timeout=250)})

    assert updated is not None
    assert updated.config == HttpConnectorConfig(path="/v1", method="PUT", timeout=250)


def test_changing_the_type_drops_the_config_keys_of_the_old_type(store: ConnectorStore) -> None:
    created = store.create(http_input(config={"path": "/v1", "timeout": 100, "streaming": True}))

    updated = store.update(created.id, {"type": "langgraph", "config": {"assistantId": "a"}})

    assert updated is not None
    assert updated.config is not None
    assert updated.config.model_dump(by_alias=True, exclude_none=True) == {
        "assistantId": "a",
        "timeout": 100,
        "streaming": True,
    }


def test_an_invalid_merged_config_names_the_field_as_in_the_file(store: ConnectorStore) -> None:
    created = store.create(langgraph_input())

    with pytest.raises(ValueError) as caught:
        store.update(created.id, {"config": {"retryBackoffMs": -1}})

    [error] = caught.value.errors()  # type: ignore[attr-defined]
    assert error["loc"] == ("config", "retry_backoff_ms")


# -- the file on disk ----------------------------------------------------------------------------


def test_the_cache_sees_an_in_place_edit_of_the_same_size(
    store: ConnectorStore, path: Path
) -> None:
    store.create(http_input("alpha"))
    assert store.names() == ["alpha"]
    inode = path.stat().st_ino
    text = path.read_text(encoding="utf-8")
    mtime = path.stat().st_mtime_ns

    with path.open("r+", encoding="utf-8") as handle:  # same inode, same size
        handle.write(text.replace('"alpha"', '"omega"'))
    os.utime(path, ns=(mtime + 5_000_000_000, mtime + 5_000_000_000))

    assert path.stat().st_ino == inode
    assert store.names() == ["omega"]
    assert store.find("omega").name == "omega"


def test_a_stale_cache_is_never_the_base_of_a_write(store: ConnectorStore, path: Path) -> None:
    created = store.create(http_input("alpha"))
    assert store.names() == ["alpha"]  # now cached
    stat = path.stat()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('"alpha"', '"omega"'), encoding="utf-8")
    # Disguised as the cached version: same mtime (and size, and maybe inode).
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    store.update(created.id, {"baseUrl": "https://b.example.com"})

    [record] = records(path)
    assert (record["name"], record["baseUrl"]) == ("omega", "https://b.example.com")


def test_paths_are_normalised(tmp_path: Path) -> None:
    store = ConnectorStore(tmp_path / "a" / ".." / "." / "c.json")

    assert store.path == tmp_path / "c.json"


@pytest.mark.parametrize("kind", ["directory", "under-a-file"])
def test_a_path_that_cannot_be_a_file_is_a_clear_error(kind: str, tmp_path: Path) -> None:
    if kind == "directory":
        target = tmp_path / "folder"
        target.mkdir()
        expected = "is a directory"
    else:
        (tmp_path / "plain").write_text("x")
        target = tmp_path / "plain" / "c.json"
        expected = "not a directory"
    store = ConnectorStore(target)

    for attempt in (store.list, lambda: store.create(http_input())):
        with pytest.raises(ConnectorFileError, match=expected) as caught:
            attempt()
        assert str(target) in str(caught.value)


# -- the reference file format ------------------------------------------------------------------


def test_the_reference_file_loads() -> None:
    graph, api = ConnectorStore(REFERENCE_FILE).list()

    assert (graph.name, graph.type, api.name, api.type) == (
        "Support Agent",
        ConnectorType.LANGGRAPH,
        "Production API",
        ConnectorType.HTTP,
    )
    assert graph.config is not None
    assert graph.config.model_dump(exclude_none=True) == {
        "assistantId": "support-agent",
        "streaming": True,
    }
    assert (api.auth_type, api.auth_value) == ("bearer", "my-token")
    assert isinstance(api.config, HttpConnectorConfig)
    assert (api.config.method, api.config.path, api.config.timeout) == ("POST", "/v1/chat", 30000)
    assert api.config.headers == {"X-Custom-Header": "value"}
    assert api.model_extra == {"projectId": "proj-42", "metadata": {"owner": "qa-team", "tier": 1}}


def test_rewriting_the_reference_file_keeps_unknown_keys_and_other_records(
    tmp_path: Path,
) -> None:
    path = tmp_path / "connectors.json"
    shutil.copyfile(REFERENCE_FILE, path)
    original = records(path)
    store = ConnectorStore(path)
    api = store.get_by_name("Production API")
    assert api is not None

    store.update(api.id, {"baseUrl": "https://api2.example.com", "authValue": "${API_TOKEN}"})

    text = path.read_text(encoding="utf-8")
    rewritten = json.loads(text)
    assert rewritten[0] == original[0]
    expected = {**original[1], "baseUrl": "https://api2.example.com", "authValue": "${API_TOKEN}"}
    assert {k: v for k, v in rewritten[1].items() if k != "updatedAt"} == {
        k: v for k, v in expected.items() if k != "updatedAt"
    }
    assert rewritten[1]["updatedAt"] > original[1]["updatedAt"]
    # Written as JSON.stringify(connectors, null, 2) writes it, non-ASCII text unescaped.
    assert text.rstrip("\n") == json.dumps(rewritten, indent=2, ensure_ascii=False)
    assert "Agent de support — serveur" in text


def test_an_unknown_key_with_a_null_value_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "connectors.json"
    record = json.loads(REFERENCE_FILE.read_text(encoding="utf-8"))[0]
    record["archivedAt"] = None
    record["config"]["checkpointer"] = None
    path.write_text(json.dumps([record], indent=2), encoding="utf-8")
    store = ConnectorStore(path)

    store.update(record["id"], {"baseUrl": "http://localhost:2025"})

    [rewritten] = records(path)
    assert "archivedAt" in rewritten
    assert rewritten["archivedAt"] is None
    assert rewritten["config"] == {
        "assistantId": "support-agent",
        "streaming": True,
        "checkpointer": None,
    }


# -- the auth value stays out of error messages --------------------------------------------------


def test_a_validation_error_does_not_show_the_auth_value(store: ConnectorStore) -> None:
    with pytest.raises(ValueError) as on_create:
        store.create(langgraph_input(config=None, authType="bearer", authValue=SECRET))
    assert SECRET not in str(on_create.value)

    created = store.create(http_input(authType="bearer", authValue=SECRET))
    with pytest.raises(ValueError) as on_update:
        store.update(created.id, {"type": "langgraph"})
    assert SECRET not in str(on_update.value)


# -- corrupt files -----------------------------------------------------------------------------

GOOD_RECORD = {
    "id": "9b2e4d71-0c3a-4f58-8e6b-2a7d1c9f4e30",
    "name": "good",
    "type": "http",
    "baseUrl": "https://api.example.com",
    "authType": "bearer",
    "authValue": SECRET,
    "createdAt": "2024-01-15T10:30:00.000Z",
    "updatedAt": "2024-01-15T10:30:00.000Z",
}


def _without(record: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k != key}


CORRUPT_FILES = {
    "invalid-json": (
        '[\n  {"name": "a", "authValue": "sk-live-SECRET-123"}\n  {"name": "b"}\n]\n',
        ["line 3, column 3"],
    ),
    "object-not-array": (
        json.dumps({"connectors": [GOOD_RECORD]}, indent=2),
        ["expected a JSON array", "dict"],
    ),
    "missing-baseUrl": (
        json.dumps([GOOD_RECORD, _without({**GOOD_RECORD, "name": "bad"}, "baseUrl")], indent=2),
        ["record 1", "'bad'", "'baseUrl'"],
    ),
    "bad-type": (
        json.dumps([{**GOOD_RECORD, "type": "grpc"}], indent=2),
        ["record 0", "'type'"],
    ),
    "duplicate-name": (
        json.dumps([GOOD_RECORD, {**GOOD_RECORD, "id": "other"}], indent=2),
        ["record 1", "'good'"],
    ),
    "duplicate-id": (
        json.dumps([GOOD_RECORD, {**GOOD_RECORD, "name": "other"}], indent=2),
        ["record 1", "'other'", f"the id {GOOD_RECORD['id']!r} is used twice"],
    ),
    "field-named-as-in-the-file": (
        json.dumps([{**GOOD_RECORD, "config": {"retryBackoffMs": -1}}], indent=2),
        ["record 0", "field 'config.retryBackoffMs'"],
    ),
    "deeply-nested": ("[" * 100_000 + "]" * 100_000, ["nested too deeply"]),
}


@pytest.mark.parametrize("kind", list(CORRUPT_FILES))
def test_a_corrupt_file_is_reported_with_its_place_and_never_rewritten(
    kind: str, path: Path
) -> None:
    content, places = CORRUPT_FILES[kind]
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    before = path.read_bytes()
    store = ConnectorStore(path)

    attempts = [
        store.list,
        lambda: store.create(http_input("new")),
        lambda: store.update(GOOD_RECORD["id"], {"baseUrl": "https://x.example.com"}),
        lambda: store.delete(GOOD_RECORD["id"]),
    ]
    for attempt in attempts:
        with pytest.raises(ConnectorFileError) as caught:
            attempt()
        message = str(caught.value)
        assert str(path) in message
        for place in places:
            assert place in message
        assert SECRET not in message
        assert isinstance(caught.value, ConnectorError)

    assert path.read_bytes() == before


# -- module-level functions and the default file ------------------------------------------------


def test_module_functions_with_an_explicit_path(tmp_path: Path) -> None:
    path = tmp_path / "c.json"

    created = registry.create_connector(http_input(), path=path)
    updated = registry.update_connector(created.id, {"name": "renamed"}, path=path)

    assert updated is not None
    assert updated.name == "renamed"
    [stored] = registry.list_connectors(path=path)
    assert (stored.id, stored.name) == (created.id, "renamed")
    assert registry.get_connector(created.id, path=path) == stored
    assert registry.get_connector_by_name("renamed", path=path) == stored
    assert registry.get_connector_by_name("prod", path=path) is None
    assert registry.delete_connector(created.id, path=path) is True
    assert registry.list_connectors(path=path) == []
    assert registry.update_connector(created.id, {"name": "x"}, path=path) is None
    assert registry.delete_connector(created.id, path=path) is False


def test_the_default_file_is_data_connectors_json_in_the_current_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)

    created = registry.create_connector(http_input())

    assert [r["id"] for r in records(tmp_path / "data" / "connectors.json")] == [created.id]
    assert registry.get_connector(created.id) == registry.list_connectors()[0]


def test_the_environment_variable_chooses_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTEST_CONNECTORS_FILE", "env/agents.json")  # relative to the cwd

    created = registry.create_connector(http_input())

    assert [r["id"] for r in records(tmp_path / "env" / "agents.json")] == [created.id]
    assert not (tmp_path / "data").exists()
    assert registry.get_connector_by_name("prod") == registry.get_connector(created.id)
    assert registry.list_connectors()[0].id == created.id


def test_an_explicit_path_wins_over_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PYTEST_CONNECTORS_FILE", str(tmp_path / "env.json"))

    registry.create_connector(http_input(), path=tmp_path / "explicit.json")

    assert [r["name"] for r in records(tmp_path / "explicit.json")] == ["prod"]
    assert not (tmp_path / "env.json").exists()
    assert registry.list_connectors() == []


def test_get_connector_types_describes_both_types() -> None:
    assert registry.get_connector_types() == {
        "http": "Generic HTTP/REST API connector",
        "langgraph": "LangGraph Dev API connector for langgraph-backed agents",
    }
    assert set(registry.get_connector_types()) == set(ConnectorType)


# -- several processes at once -------------------------------------------------------------------

WORKER = textwrap.dedent(
    """
    import pathlib, sys, time
    from pytest_connectors.registry.json_file import ConnectorStore

    path, go, mode, index, rounds = sys.argv[1:]
    store = ConnectorStore(path)
    print("ready", flush=True)
    while not pathlib.Path(go).exists():
        time.sleep(0.001)
    if mode == "create":
        store.create({"name": f"agent-{index}", "type": "http", "baseUrl": "http://127.0.0.1"})
    elif mode == "header":
        shared = store.get_by_name("shared")
        store.update(shared.id, {"config": {"headers": {f"X-Worker-{index}": index}}})
    else:
        connector = store.get_by_name(f"agent-{index}")
        for k in range(int(rounds)):
            store.update(connector.id, {"baseUrl": f"http://127.0.0.1/{index}/{k}"})
    """
)
PROCESSES = 8


def run_together(tmp_path: Path, path: Path, mode: str, rounds: int = 1) -> None:
    """Start the workers, wait until all are ready, then release them at once."""
    go = tmp_path / "go"
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(path), str(go), mode, str(i), str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    try:
        ready = [w.stdout.readline().strip() if w.stdout else "" for w in workers]
        assert ready == ["ready"] * PROCESSES
        go.touch()
        errors = [w.communicate(timeout=60)[1] for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [w.returncode for w in workers] == [0] * PROCESSES, errors


def test_concurrent_creates_from_separate_processes_all_land(tmp_path: Path, path: Path) -> None:
    run_together(tmp_path, path, "create")

    names = sorted(r["name"] for r in records(path))
    assert names == sorted(f"agent-{i}" for i in range(PROCESSES))
    assert len(ConnectorStore(path).list()) == PROCESSES


def test_concurrent_updates_from_separate_processes_lose_nothing(
    tmp_path: Path, path: Path
) -> None:
    store = ConnectorStore(path)
    for i in range(PROCESSES):
        store.create({"name": f"agent-{i}", "type": "http", "baseUrl": "http://127.0.0.1"})
    rounds = 5

    run_together(tmp_path, path, "update", rounds)

    final = {c.name: c.base_url for c in ConnectorStore(path).list()}
    assert final == {f"agent-{i}": f"http://127.0.0.1/{i}/{rounds - 1}" for i in range(PROCESSES)}


def test_concurrent_config_updates_of_one_connector_all_land(tmp_path: Path, path: Path) -> None:
    store = ConnectorStore(path)
    store.create(langgraph_input("shared"))

    run_together(tmp_path, path, "header")

    [shared] = ConnectorStore(path).list()
    assert shared.config is not None
    assert shared.config.headers == {f"X-Worker-{i}": str(i) for i in range(PROCESSES)}
    assert getattr(shared.config, "assistant_id", None) == "agent"


def test_a_connector_is_immutable() -> None:
    connector = Connector.model_validate(GOOD_RECORD)

    with pytest.raises(ValueError, match="frozen"):
        connector.name = "other"  # type: ignore[misc]


def test_a_file_deleted_after_reading_is_an_empty_registry_again(tmp_path: Path) -> None:
    store = ConnectorStore(tmp_path / "connectors.json")
    created = store.create({"name": "agent", "type": "http", "baseUrl": "http://127.0.0.1:9"})
    assert store.find("agent") == created
    (tmp_path / "connectors.json").unlink()
    assert store.list() == []
    with pytest.raises(ConnectorNotFoundError):
        store.find("agent")


def test_the_json_file_is_a_connector_source(tmp_path: Path) -> None:
    from pytest_connectors.registry import ConnectorSource

    source: ConnectorSource = ConnectorStore(tmp_path / "connectors.json")
    assert source.list() == []
    assert source.names() == []


# -- the lock and killed writers ------------------------------------------------------------------


def test_a_writer_waiting_on_the_lock_says_so_then_gives_up(
    store: ConnectorStore, path: Path
) -> None:
    store.create(http_input("alpha"))
    before = path.read_bytes()
    waits: list[Path] = []
    waiting = ConnectorStore(path, lock_timeout_s=2.5, on_lock_wait=waits.append)

    with file_lock(path), pytest.raises(ConnectorFileError) as caught:
        waiting.create(http_input("beta"))

    assert waits == [path.with_name("connectors.json.lock")]
    message = str(caught.value)
    assert "connectors.json.lock" in message
    assert "another process" in message
    assert path.read_bytes() == before
    assert waiting.create(http_input("beta")).name == "beta"  # free again


def test_a_writer_waits_for_the_lock_and_then_writes(store: ConnectorStore, path: Path) -> None:
    import threading

    waits: list[Path] = []
    waiting = ConnectorStore(path, on_lock_wait=waits.append)
    held = threading.Event()
    released = threading.Event()

    def hold() -> None:
        with file_lock(path):
            held.set()
            released.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60), "the lock holder never took the lock"
        timer = threading.Timer(2.0, released.set)
        timer.start()
        created = waiting.create(http_input("beta"))
    finally:
        released.set()
        holder.join()

    assert len(waits) == 1
    assert store.get(created.id) == created


KILLED_WRITER = textwrap.dedent(
    """
    import os, sys, time
    from pytest_connectors.registry.json_file import ConnectorStore

    def hang(fd):
        print("writing", flush=True)
        time.sleep(600)

    os.fsync = hang  # killed after the temporary file is written, before it is renamed
    ConnectorStore(sys.argv[1]).create(
        {"name": "doomed", "type": "http", "baseUrl": "http://127.0.0.1"}
    )
    """
)


def test_temporary_files_of_a_killed_writer_are_cleaned_up(
    store: ConnectorStore, path: Path
) -> None:
    store.create(http_input("alpha"))
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout is not None
        assert writer.stdout.readline().strip() == "writing"
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(60)
        if writer.stdout is not None:
            writer.stdout.close()
    stale = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    assert len(stale) == 1

    store.create(http_input("beta"))

    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []
    assert store.names() == ["alpha", "beta"]
