"""The leak matrix: every way a connector can carry a secret, against every output we can provoke.

For each auth type (api-key, bearer, basic) and a secret-looking header, written literally and
as a ``${VAR}`` reference, plus a ``${VAR}`` in the URL's query, the secret is sent to a real
agent that echoes every credential back (tests/agents/leak_agent.py), in replies, in error
bodies, cut by truncation, and through a redirect to another origin. Then the secret, and its
base64 form, is searched in everything a user can see: repr and str of connectors and results,
library errors, CLI output, pytest's -vv -l failure output (locals of library frames included),
the JSON report, JUnit XML and DEBUG logs (httpx's included), and what reached the other origin.

Production data replayed from a database goes through the same outputs: conversations whose
thread keys and messages hold emails, API keys, card, phone and account numbers are imported
from the LangSmith fake into SQLite, replayed against an agent that echoes every message, and
the test ids, terminal, JUnit XML and JSON report are searched for them.
"""

from __future__ import annotations

import base64
import html
import ipaddress
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from production_threads import IMPORT_CONNECTOR, import_threads
from pytester_ini import write_ini
from service_support import ServiceProcess, client, issue_key, langsmith_connector

from pytest_connectors.cli.main import main as cli_main
from pytest_connectors.client.clients import AsyncConnectorClient, ConnectorClient
from pytest_connectors.errors import ConnectorError, InvalidInputError
from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer
from pytest_connectors.imports.facade import Imports
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.launch import UvicornServer

AGENTS = Path(__file__).parents[1] / "agents"
CHAT = "/v1/chat"

# name -> (the connector's fields, the secret, the environment it needs)
CASES: dict[str, tuple[dict[str, Any], str, dict[str, str]]] = {
    "api-key literal": ({"authType": "api-key", "authValue": "ak-lit-Q7w3Rt9yU1"}, "", {}),
    "api-key ${VAR}": (
        {"authType": "api-key", "authValue": "${LEAK_API_KEY}"},
        "ak-var-M2n8Bv5cX4",
        {},
    ),
    "bearer literal": ({"authType": "bearer", "authValue": "br-lit-P0o9I8u7Y6"}, "", {}),
    "bearer ${VAR}": (
        {"authType": "bearer", "authValue": "${LEAK_BEARER}"},
        "br-var-T5r4E3w2Q1",
        {},
    ),
    "basic literal": ({"authType": "basic", "authValue": "leak-user:bs-lit-Z1x2C3v4B5"}, "", {}),
    "basic ${VAR}": (
        {"authType": "basic", "authValue": "${LEAK_BASIC}"},
        "leak-user:bs-var-N6m7L8k9J0",
        {},
    ),
    "header literal": ({"config": {"headers": {"X-Api-Token": "hd-lit-G5f4D3s2A1"}}}, "", {}),
    "header ${VAR}": (
        {"config": {"headers": {"X-API-Key": "${LEAK_HEADER}"}}},
        "hd-var-H8j9K0l1Z2",
        {},
    ),
    "url query ${VAR}": (
        {"config": {"path": CHAT + "?key=${LEAK_URL_KEY}"}},
        "uq-var-V3b4N5m6Q7",
        {},
    ),
}


def _fill_cases() -> None:
    """Literal cases: the secret is the written value; ${VAR} cases: the variable's value."""
    for name, (fields, secret, env) in list(CASES.items()):
        written = fields.get("authValue") or next(
            iter((fields.get("config", {}).get("headers") or {}).values()), None
        )
        if not secret:
            CASES[name] = (fields, str(written), env)
        else:
            raw = str(written or fields["config"]["path"])
            variable = raw[raw.index("${") + 2 : raw.index("}")]
            CASES[name] = (fields, secret, {variable: secret})


_fill_cases()
ENV = {k: v for _, _, env in CASES.values() for k, v in env.items()}


def forms(secret: str) -> list[str]:
    """What must never show: the secret, its distinctive part, and their base64 forms."""
    core = secret.rpartition(":")[2]
    found = {secret, core}
    for text in (secret, core):
        encoded = base64.b64encode(text.encode()).decode()
        found |= {encoded, encoded.rstrip("=")}
    return sorted(found)


def assert_no_leak(case: str, texts: dict[str, str]) -> None:
    secret = CASES[case][1]
    for where, text in texts.items():
        for form in forms(secret):
            assert form not in text, f"{case}: {form!r} leaked into {where}"


@pytest.fixture(scope="module")
def leak_agents(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[UvicornServer, Path]]:
    """The echoing agent, and the log of the other origin its redirects point to."""
    logs = tmp_path_factory.mktemp("leak-agents")
    other_log = logs / "other.log"
    other_log.touch()
    other = UvicornServer("leak_agent:app", app_dir=AGENTS, env={"LEAK_AGENT_LOG": str(other_log)})
    with other:
        agent = UvicornServer(
            "leak_agent:app",
            app_dir=AGENTS,
            env={"LEAK_AGENT_LOG": str(logs / "agent.log"), "LEAK_AGENT_OTHER": other.url},
        )
        with agent:
            yield agent, other_log


@pytest.fixture(scope="module")
def connectors_file(
    tmp_path_factory: pytest.TempPathFactory, leak_agents: tuple[UvicornServer, Path]
) -> Path:
    path = tmp_path_factory.mktemp("leak-connectors") / "connectors.json"
    store = ConnectorStore(path)
    url = leak_agents[0].url
    for name, (fields, _, _) in CASES.items():
        config = {"path": CHAT, "retries": 0, "timeout": 20_000, **fields.get("config", {})}
        store.create({"name": name, "type": "http", "baseUrl": url, **fields, "config": config})
    return path


@pytest.fixture
def leak_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture(autouse=True)
def _no_other_origin_sees_a_secret(leak_agents: tuple[UvicornServer, Path]) -> Iterator[None]:
    yield
    other_log = leak_agents[1].read_text(encoding="utf-8")
    for case in CASES:
        assert_no_leak(case, {"the other origin": other_log})


# -- the library -----------------------------------------------------------------------------------

MESSAGES = ("hello", "fail", "long", "redirect")


@pytest.mark.parametrize("case", list(CASES))
def test_library_outputs_and_logs(
    case: str, connectors_file: Path, leak_env: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    connector = ConnectorStore(connectors_file).find(case)
    texts = {"repr(connector)": repr(connector), "str(connector)": str(connector)}
    with ConnectorClient(path=connectors_file) as client:
        for message in MESSAGES:
            result = client.invoke(connector, message)
            texts[f"{message}: repr"] = repr(result)
            texts[f"{message}: str"] = str(result)
            texts[f"{message}: json"] = result.model_dump_json()
            if message == "hello":
                assert result.success, result.error
                assert "****" in result.text  # the agent did echo it: the provocation worked
            else:
                assert not result.success
        probe = client.test(connector)
        texts["test"] = f"{probe!r} {probe} {probe.model_dump_json()}"
    texts["logs"] = caplog.text
    assert "HTTP Request" in caplog.text  # httpx did log at this level

    assert_no_leak(case, texts)


@pytest.mark.asyncio
@pytest.mark.parametrize("case", list(CASES))
async def test_async_library_outputs(case: str, connectors_file: Path, leak_env: None) -> None:
    texts = {}
    async with AsyncConnectorClient(path=connectors_file) as client:
        for message in MESSAGES:
            result = await client.invoke(case, message)
            texts[message] = f"{result!r} {result.model_dump_json()}"
        probe = await client.test(case)
        texts["test"] = f"{probe!r} {probe.model_dump_json()}"

    assert_no_leak(case, texts)


@pytest.mark.parametrize("case", list(CASES))
def test_library_errors(case: str, connectors_file: Path, leak_env: None) -> None:
    connector = ConnectorStore(connectors_file).find(case)
    record = connector.model_dump(by_alias=True)
    config = record.get("config") or {}
    broken = {
        "unset variable": {**record, "baseUrl": record["baseUrl"] + "/${LEAK_UNSET_VARIABLE}"},
        "non-ASCII header": {
            **record,
            "config": {**config, "headers": {**(config.get("headers") or {}), "X-Other": "é"}},
        },
    }
    texts = {}
    with ConnectorClient() as client:
        for kind, data in broken.items():
            with pytest.raises(ConnectorError) as caught:
                client.invoke(type(connector).model_validate(data), "hello")
            texts[kind] = f"{caught.value!r} {caught.value}"

    assert_no_leak(case, texts)


# -- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_cli_output(
    case: str, connectors_file: Path, leak_env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    file = ["--file", str(connectors_file)]
    commands = [
        ["list"],
        ["list", "--json"],
        ["get", case],
        ["get", case, "--json"],
        ["test", case],
        ["test", case, "--json"],
        *(["invoke", case, "-m", message] for message in MESSAGES),
        *(["invoke", case, "-m", message, "--json"] for message in MESSAGES),
        ["update", case, "--timeout-ms", "0"],
        ["update", case, "--header", "X Bad=1"],
    ]
    texts = {}
    for command in commands:
        try:
            code = cli_main([*command, *file])
        except SystemExit as exit:
            code = int(exit.code or 0)
        out, err = capsys.readouterr()
        assert "Traceback" not in err
        texts[" ".join(command)] = f"exit {code}\n{out}\n{err}"
    assert texts["invoke " + case + " -m hello"].startswith("exit 0")

    assert_no_leak(case, texts)


# -- pytest: -vv -l failures, the JSON report, JUnit XML, captured DEBUG logs ----------------------

SUITE = """
import pytest
from pytest_connectors import ConnectorClient

def test_reply(conversation, connector):
    print(connector, repr(connector))
    reply = conversation.send("hello")
    print(reply)
    assert reply.text == "something else", reply

@pytest.mark.parametrize("message", ["fail", "long", "redirect"])
def test_failed_call(invoke_connector, message):
    reply = invoke_connector(message)
    assert reply.success, reply

def test_send_raises(conversation):
    conversation.send("fail")

def test_library_frames(connector):
    broken = connector.model_copy(update={"base_url": connector.base_url + "/${LEAK_UNSET_VAR}"})
    with ConnectorClient() as client:
        client.invoke(broken, "hello")
"""


@pytest.fixture
def project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    connectors_file: Path,
    leak_env: None,
) -> pytest.Pytester:
    """A pytest project using the leak connectors, their secrets in its environment."""
    monkeypatch.setenv("PYTEST_CONNECTORS_FILE", str(connectors_file))
    write_ini(pytester)
    return pytester


@pytest.mark.parametrize("trace", ["-l", "--full-trace"])
def test_pytest_outputs(trace: str, project: pytest.Pytester) -> None:
    pytester = project
    pytester.makepyfile(test_leaks=SUITE)
    selection = [arg for case in CASES for arg in ("--connector", case)]
    if trace == "--full-trace":  # every frame of every failure: two failures per case suffice
        selection += ["-k", "library_frames or send_raises"]

    result = pytester.runpytest(
        *selection,
        "-vv",
        "-rA",
        trace,
        "-l",
        "--tb=long",
        "--log-level=DEBUG",
        "-o",
        "log_cli=true",
        "-o",
        "log_cli_level=DEBUG",
        "-o",
        "junit_logging=all",
        "--junitxml",
        "junit.xml",
        "--connectors-report",
        "report.json",
        "--connectors-html",
        "report.html",
        "-p",
        "no:cacheprovider",
    )

    outcomes = result.parseoutcomes()
    assert outcomes.get("failed") == (6 if trace == "-l" else 2) * len(CASES), outcomes
    output = "\n".join(result.outlines + result.errlines)
    assert "HTTP 401" in output
    assert "HTTP Request" in output  # httpx logged
    texts = {
        "terminal": output,
        "junit": (pytester.path / "junit.xml").read_text(encoding="utf-8"),
        "report": (pytester.path / "report.json").read_text(encoding="utf-8"),
        # Unescaped: a secret with a quote in it would hide behind &#39; otherwise.
        "html": html.unescape((pytester.path / "report.html").read_text(encoding="utf-8")),
    }
    assert json.loads(texts["report"])["calls"]
    assert "HTTP 401" in texts["html"]
    for case in CASES:
        assert_no_leak(case, texts)


INTERRUPTED = """
import os, signal, threading

def test_interrupted(invoke_connector):
    threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT)).start()
    invoke_connector("slow")
"""


URL_IN_HTTPX_FRAMES = pytest.mark.xfail(
    strict=True,
    reason="httpx.Request's repr shows the whole URL, and --full-trace -l prints the locals of "
    "httpx's own frames: a secret in the URL shows there (the README says to prefer headers)",
)
# One of each way a secret travels: a secret-named header, Authorization, the URL.
INTERRUPTED_CASES = [
    "api-key ${VAR}",
    "basic literal",
    pytest.param("url query ${VAR}", marks=URL_IN_HTTPX_FRAMES),
]


@pytest.mark.parametrize("case", INTERRUPTED_CASES)
def test_ctrl_c_with_full_trace(case: str, project: pytest.Pytester) -> None:
    project.makepyfile(test_interrupt=INTERRUPTED)

    result = project.runpytest_subprocess(
        "--connector", case, "--full-trace", "-l", "-vv", "-p", "no:cacheprovider"
    )

    output = "\n".join(result.outlines + result.errlines)
    assert "KeyboardInterrupt" in output
    assert "test_interrupt.py" in output
    assert_no_leak(case, {"terminal": output})


# -- import connectors on the service: its environment, and where keys go ------------------------
#
# A caller writes a connector's config and the service acts on it: no config may make the
# service read its environment (beyond the names its operator allows) or send a key to a host
# the caller picks. A loopback "hostile" host records every request it receives.

SERVICE_SECRET = "svc-env-R4t5Y6u7I8o9"
SERVICE_LANGSMITH_KEY = "lsv2_pt_serviceown_K9j8H7g6F5d4"
SERVICE_ENV = {"SERVICE_SECRET": SERVICE_SECRET, "LANGSMITH_API_KEY": SERVICE_LANGSMITH_KEY}
STORED_KEY = API_KEY  # the LangSmith fake's: a job that reaches it gets past the key


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log = tmp_path_factory.mktemp("hostile") / "requests.log"
    log.touch()
    with UvicornServer(
        "leak_agent:app", app_dir=AGENTS, env={"LEAK_AGENT_LOG": str(log)}
    ) as server:
        yield server.url, log


@pytest.fixture
def hostile(hostile_server: tuple[str, Path]) -> tuple[str, Path]:
    """A loopback host logging the method, path, query and headers of every request, and its
    log, emptied for this test."""
    hostile_server[1].write_text("", encoding="utf-8")
    return hostile_server


def assert_never_shown(secrets: list[str], texts: dict[str, str]) -> None:
    for secret in secrets:
        for form in forms(secret):
            for where, text in texts.items():
                assert form not in text, f"{form!r} leaked into {where}"


def error_of(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


def wait_for(api: httpx.Client, job_id: str) -> dict[str, Any]:
    for _ in range(10):
        job: dict[str, Any] = api.get(f"/api/jobs/{job_id}", params={"wait": 30}).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
    raise AssertionError(f"job {job_id} did not finish: {job}")


def every_way_to_set(
    api: httpx.Client, ref: str, name: str, config: dict[str, Any]
) -> list[tuple[str, httpx.Response]]:
    """``config`` given when creating a connector, updating ``ref`` and connecting ``ref``."""
    return [
        ("create", api.post("/api/connectors", json=langsmith_connector(None, name, **config))),
        ("update", api.patch(f"/api/connectors/{ref}", json={"config": config})),
        ("connect", api.post(f"/api/connectors/{ref}/connect", json={"config": config})),
    ]


def test_a_caller_cannot_make_the_service_read_its_environment(
    tmp_path: Path, hostile: tuple[str, Path]
) -> None:
    hostile_url, hostile_log = hostile
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_1")
    answers: dict[str, str] = {}
    with (
        ServiceProcess(db, workers=1, env=SERVICE_ENV, allow_private_destinations=True) as service,
        client(service.url, key) as api,
    ):
        owned = api.post(
            "/api/connectors", json=langsmith_connector(None, "owned", apiUrl=hostile_url)
        )
        assert owned.status_code == 201, owned.text
        ref = owned.json()["id"]
        for name in ("SERVICE_SECRET", "LANGSMITH_API_KEY", "PYTEST_CONNECTORS_DB", "HOME"):
            reference = f"${{{name}}}"
            for config in (
                {"apiKey": reference},
                {"projectName": reference},
                {"apiUrl": f"http://127.0.0.1:1/{reference}", "apiKey": "caller-key-1"},
                {"apiUrl": f"{hostile_url}/{reference}", "apiKey": "caller-key-2"},
            ):
                for how, response in every_way_to_set(api, ref, f"new {name}", config):
                    where = f"{how} {config}"
                    answers[where] = response.text
                    assert response.status_code == 422, (where, response.text)
                    assert reference in error_of(response), where
                    assert "--allow-env" in error_of(response), where
        stored = api.get(f"/api/connectors/{ref}").json()
        log = service.log_path.read_text(encoding="utf-8")

    assert stored["config"]["apiKey"] == "****" and stored["status"] == "disconnected"
    assert "PATCH /api/connectors/" in log  # the access log was written, and is searched
    assert hostile_log.read_text(encoding="utf-8") == ""  # no job ever called it
    assert_never_shown([db], answers)  # the operator's start line names it, no answer does
    answers |= {"the service's log": log}
    assert_never_shown([SERVICE_SECRET, SERVICE_LANGSMITH_KEY], answers)


def test_a_job_naming_a_variable_no_longer_allowed_fails_without_reading_it(
    tmp_path: Path, hostile: tuple[str, Path]
) -> None:
    hostile_url, hostile_log = hostile
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_1")
    # The operator allowed the variable when the job was queued (no worker ran it then)...
    allowed = ServiceProcess(
        db,
        workers=0,
        env=SERVICE_ENV,
        allow_env=["SERVICE_SECRET"],
        allow_private_destinations=True,
    )
    with allowed, client(allowed.url, key) as api:
        body = langsmith_connector(None, "env key", apiKey="${SERVICE_SECRET}", apiUrl=hostile_url)
        created = api.post("/api/connectors", json=body)
        assert created.status_code == 201, created.text
        assert created.json()["config"]["apiKey"] == "${SERVICE_SECRET}"
        queued = api.post(f"/api/connectors/{created.json()['id']}/connect")
        assert queued.status_code == 200, queued.text
        job_id = queued.json()["job"]["id"]
    # ...and restarted the service without it: the job fails, and the value is never read.
    with (
        ServiceProcess(db, workers=1, env=SERVICE_ENV, allow_private_destinations=True) as service,
        client(service.url, key) as api,
    ):
        job = wait_for(api, job_id)
        log = service.log_path.read_text(encoding="utf-8")

    assert job["status"] == "failed" and job["errorCode"] == "variable_not_allowed", job
    assert "${SERVICE_SECRET}" in job["error"] and "--allow-env" in job["error"]
    assert hostile_log.read_text(encoding="utf-8") == ""
    assert_never_shown([SERVICE_SECRET], {"job": json.dumps(job), "the service's log": log})


def _non_public_host_name() -> str:
    """This machine's name, which resolves (through /etc/hosts) to a non-public address."""
    name = socket.gethostname()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(name, 443)}
    except OSError:
        pytest.skip(f"this machine's name {name!r} does not resolve")
    if any(ipaddress.ip_address(a.split("%")[0]).is_global for a in addresses):
        pytest.skip(f"this machine's name {name!r} resolves to a public address")
    return name


REFUSED_DESTINATIONS = {
    "http": "http://api.example.com",
    "loopback": "https://127.0.0.1:{port}",
    "localhost": "https://localhost:{port}",
    "loopback v6": "https://[::1]:{port}",
    "v4-mapped loopback": "https://[::ffff:127.0.0.1]:{port}",
    "metadata": "https://169.254.169.254/latest",
    "private": "https://10.0.0.5",
    "private 192": "https://192.168.1.1",
    "unspecified": "https://0.0.0.0:{port}",
    "multicast": "https://224.0.0.1",
    "fragment": "https://api.example.com/admin#",
    "query": "https://api.example.com/admin?",
    "userinfo": "https://user:pass@api.example.com",
    "name of a private host": "https://{host}:{port}",
}


def test_the_service_sends_keys_only_to_public_https_hosts(
    tmp_path: Path, hostile: tuple[str, Path]
) -> None:
    hostile_url, hostile_log = hostile
    port = hostile_url.rsplit(":", 1)[1]
    host = _non_public_host_name()
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_1")
    env = {"PROVIDER_URL": f"https://{host}:{port}", "LOOPBACK_URL": f"https://127.0.0.1:{port}"}
    service = ServiceProcess(
        db, workers=1, env=env, allow_env=list(env), allow_private_destinations=False
    )
    with service, client(service.url, key) as api:
        owned = api.post("/api/connectors", json=langsmith_connector(None, "owned"))
        assert owned.status_code == 201, owned.text
        ref = owned.json()["id"]
        for kind, template in REFUSED_DESTINATIONS.items():
            url = template.format(port=port, host=host)
            config = {"apiUrl": url, "apiKey": "caller-key"}
            for how, response in every_way_to_set(api, ref, kind, config):
                assert response.status_code == 422, (kind, how, response.text)
                assert "config.apiUrl" in error_of(response), (kind, how)
        public = api.patch(
            f"/api/connectors/{ref}",
            json={"config": {"apiUrl": "https://api.eu.smith.langchain.com", "apiKey": "k-2"}},
        )
        assert public.status_code == 200, public.text  # a public https URL is fine
        # A destination known only when the job runs is checked then, on the addresses the
        # job would connect to: a name resolving to loopback, and a literal loopback address.
        jobs = {}
        for variable in env:
            body = langsmith_connector(None, variable, apiUrl=f"${{{variable}}}")
            created = api.post("/api/connectors", json=body)
            assert created.status_code == 201, created.text
            connected = api.post(f"/api/connectors/{created.json()['id']}/connect")
            jobs[variable] = wait_for(api, connected.json()["job"]["id"])

    for variable, job in jobs.items():
        assert job["status"] == "failed", (variable, job)
        assert job["errorCode"] == "destination_refused", (variable, job)
        assert "--allow-private-destinations" in job["error"]
    assert hostile_log.read_text(encoding="utf-8") == ""


def test_a_stored_key_does_not_follow_a_new_destination(
    tmp_path: Path, hostile: tuple[str, Path], langsmith_fake: LangSmithServer
) -> None:
    hostile_url, hostile_log = hostile
    db = str(tmp_path / "service.db")
    key = issue_key(db, "acme", "agt_1")
    with ServiceProcess(db, workers=1) as service, client(service.url, key) as api:
        body = langsmith_connector(None, "prod", apiKey=STORED_KEY, apiUrl=langsmith_fake.url)
        ref = api.post("/api/connectors", json=body).json()["id"]
        # A key holder who sees only "****" points the connector at its own host.
        attempts = {
            "new url": {"apiUrl": hostile_url},
            "new url, masked key": {"apiUrl": hostile_url, "apiKey": "****"},
            "url removed": {"apiUrl": None},
        }
        for kind, config in attempts.items():
            changes = every_way_to_set(api, ref, kind, config)[1:]  # a new one may set any url
            for how, response in changes:
                assert response.status_code == 422, (kind, how, response.text)
                assert "apiKey" in error_of(response), (kind, how)
        assert api.get(f"/api/connectors/{ref}").json()["config"]["apiUrl"] == langsmith_fake.url
        job = wait_for(api, api.post(f"/api/connectors/{ref}/connect").json()["job"]["id"])
        # With a key of its own, the caller may point it anywhere public: the stored key is gone.
        moved = api.patch(
            f"/api/connectors/{ref}", json={"config": {"apiUrl": hostile_url, "apiKey": "own-key"}}
        )
        assert moved.status_code == 200, moved.text

    assert job["errorCode"] == "project_not_found", job  # it reached the fake, not the hostile
    assert_never_shown([STORED_KEY], {"the hostile host": hostile_log.read_text(encoding="utf-8")})


def test_locally_a_new_destination_also_needs_the_key_and_a_queued_job_follows_the_key(
    tmp_path: Path,
    hostile: tuple[str, Path],
    langsmith_fake: LangSmithServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    hostile_url, hostile_log = hostile
    db = str(tmp_path / "local.db")
    with Imports(db) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "agt_1",
                "name": "prod",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {"apiKey": "first-key", "projectName": "p", "apiUrl": hostile_url},
            }
        )
        queued = imports.connectors.connect(connector.id).job  # waits for a worker
        with pytest.raises(InvalidInputError, match=r"give config\.apiKey again"):
            imports.connectors.update(connector.id, {"config": {"apiUrl": langsmith_fake.url}})
        imports.connectors.update(
            connector.id, {"config": {"apiUrl": langsmith_fake.url, "apiKey": STORED_KEY}}
        )
        job = imports.jobs.wait(queued.id, timeout=60)
    with pytest.raises(SystemExit) as exited:
        cli_main(["imports", "update", "prod", "--config", f"apiUrl={hostile_url}", "--db", db])
    err = capsys.readouterr().err

    # The job queued for the old destination took the new key to the new destination only.
    assert job.error_code == "project_not_found", job
    assert_never_shown([STORED_KEY], {"the hostile host": hostile_log.read_text(encoding="utf-8")})
    assert exited.value.code == 2
    assert "give config.apiKey again" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


# -- pytest: replays of production conversations from a database -----------------------------------

PRODUCTION_SECRETS = {
    "email thread key": "ada.lovelace@example.com",
    "API key thread key": "sk-live-Zx9Qw8Er7Ty6Ui5Op4As",
    "card number": "4111 1111 1111 1111",
    "API key": "sk-proj-Lm3Nb4Vc5Xz6Qa7Ws8Ed",
    "email": "grace.hopper@example.com",
    "phone number": "+1 415 555 2671",
    "IBAN": "DE89 3704 0044 0532 0130 00",
    "service key": "pck_ab12cd34_" + "Q" * 21 + "-" + "z" * 21,
}
P = PRODUCTION_SECRETS
PRODUCTION_THREADS = {
    P["email thread key"]: [
        (f"my card is {P['card number']}, my key {P['API key']}", "Card saved."),
        (f"write to {P['email']} or call {P['phone number']}", f"Wrote to {P['email']}."),
    ],
    P["API key thread key"]: [(f"wire it to {P['IBAN']}", f"Sent to {P['IBAN']}.")],
    "t-plain": [(f"my service key is {P['service key']}", "Noted.")],
}
REPLAY_SUITE = f"""
import pytest

@pytest.mark.replay(source={IMPORT_CONNECTOR!r})
def test_production(replay):
    for turn in replay.case.turns:
        print("production said:", turn.user_messages, turn.answer)
    replay.run().assert_matches(answer="exact")
"""


@pytest.fixture(scope="module")
def production_db(
    tmp_path_factory: pytest.TempPathFactory, langsmith_server: LangSmithServer
) -> Path:
    langsmith_server.fake.reset()
    db = tmp_path_factory.mktemp("production") / "imports.db"
    return import_threads(db, langsmith_server, PRODUCTION_THREADS)


@pytest.fixture
def replay_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    http_agent_server: UvicornServer,
    http_agent_token: str,
) -> pytest.Pytester:
    """A project whose "Echo Agent" answers "You said: <the message>"."""
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.setenv("PYTHONPATH", str(AGENTS.parent.parent))  # this checkout's package
    write_ini(pytester)
    ConnectorStore(pytester.path / "data" / "connectors.json").create(
        {
            "name": "Echo Agent",
            "type": "http",
            "baseUrl": http_agent_server.url,
            "authType": "bearer",
            "authValue": http_agent_token,
            "config": {"path": "/v1/chat/completions"},
        }
    )
    pytester.makepyfile(test_production=REPLAY_SUITE)
    return pytester


def replay_outputs(project: pytest.Pytester, db: Path, *extra: str) -> dict[str, str]:
    """Everything a CI run of the replays keeps: terminal, JUnit XML, the JSON report."""
    copy = project.path / "imports.db"  # the session writes its native traces there
    copy.write_bytes(db.read_bytes())
    result = project.runpytest_subprocess(
        "--connector",
        "Echo Agent",
        f"--connectors-db={copy}",
        "-vv",
        "-rA",
        "-l",
        "--tb=long",
        "-o",
        "junit_logging=all",
        "--junitxml",
        "junit.xml",
        "--connectors-report",
        "report.json",
        "--connectors-html",
        "report.html",
        "-p",
        "no:cacheprovider",
        *extra,
    )
    result.assert_outcomes(failed=len(PRODUCTION_THREADS))
    report = json.loads((project.path / "report.json").read_text(encoding="utf-8"))
    assert [c["answer"].startswith("You said: ") for c in report["calls"]] == [True] * 4
    return {
        "terminal": "\n".join(result.outlines + result.errlines),
        "junit": (project.path / "junit.xml").read_text(encoding="utf-8"),
        "report": json.dumps(report),  # as JSON writes it: the same escapes
        "report file": (project.path / "report.json").read_text(encoding="utf-8"),
        "html report": html.unescape((project.path / "report.html").read_text(encoding="utf-8")),
    }


@pytest.mark.parametrize("workers", [[], ["-p", "xdist", "-n", "2"]], ids=["serial", "xdist"])
def test_replays_from_a_database_keep_production_secrets_out_of_reports(
    workers: list[str], replay_project: pytest.Pytester, production_db: Path
) -> None:
    texts = replay_outputs(replay_project, production_db, *workers)
    for where, text in texts.items():
        for what, secret in PRODUCTION_SECRETS.items():
            assert secret not in text, f"the {what} {secret!r} leaked into the {where}"
    assert "replay diverged at turn 1" in texts["html report"]  # shown where it diverged
    assert 'class="replay"' in texts["html report"]  # production beside the candidate, masked
    terminal = texts["terminal"]
    assert "test_production[Echo Agent-t-plain]" in terminal  # plain keys stay as they are
    assert "You said: my card is ****, my key ****" in terminal  # the diff is there, masked
    assert "production said: ['wire it to ****'] Sent to ****." in terminal  # captured output


def test_unredacted_replays_show_production_as_it_was(
    replay_project: pytest.Pytester, production_db: Path
) -> None:
    texts = replay_outputs(replay_project, production_db, "--replay-unredacted")
    for what in ("email thread key", "API key thread key", "card number", "IBAN"):
        assert PRODUCTION_SECRETS[what] in texts["terminal"], what
        assert PRODUCTION_SECRETS[what] in texts["junit"], what
    assert PRODUCTION_SECRETS["email"] in texts["report"]


def test_the_marker_can_show_one_test_unredacted(
    replay_project: pytest.Pytester, production_db: Path
) -> None:
    replay_project.makepyfile(
        test_production=REPLAY_SUITE.replace(
            f"source={IMPORT_CONNECTOR!r}", f"source={IMPORT_CONNECTOR!r}, redact=False"
        )
    )
    result = replay_project.runpytest_subprocess(
        "--connector", "Echo Agent", f"--connectors-db={production_db}", "--co", "-q"
    )
    assert f"test_production.py::test_production[Echo Agent-{P['email thread key']}]" in (
        result.outlines
    )
    replay_project.makepyfile(
        test_production=REPLAY_SUITE.replace(
            f"source={IMPORT_CONNECTOR!r}", f"source={IMPORT_CONNECTOR!r}, redact='no'"
        )
    )
    result = replay_project.runpytest_subprocess(
        "--connector", "Echo Agent", f"--connectors-db={production_db}", "--co", "-q"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: *test_production: @pytest.mark.replay(redact=...) is True or False, got 'no'"]
    )
