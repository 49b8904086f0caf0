"""The fixtures tests ask for: the selected connector, a bound invoker, a conversation.

A test that needs a connector while none is selected *fails* (its setup error is reported as
the test's failure, with a hint), so it is never mistaken for a broken fixture or skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_connectors.pytest_plugin.state import NO_CONNECTOR, records_key, state_key

if TYPE_CHECKING:
    from pytest_connectors.client.clients import InvokeInput
    from pytest_connectors.evaluation.conversation import (
        BoundInvoker,
        Conversation,
        OnCall,
        OnResult,
    )
    from pytest_connectors.evaluation.session import ConnectorSession
    from pytest_connectors.models.connector import Connector, ConnectorInvokeResult, Message

no_connector_key = pytest.StashKey[bool]()


@pytest.fixture(scope="session")
def connectors_session(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectorSession]:
    """The session's connector file, shared client, and any agent server it launched.

    Launched agents log under pytest's base temporary folder (``agent-logs/``), kept after the
    run as pytest keeps its temporary folders, so a start-up error's log can be opened."""
    from pytest_connectors.evaluation.session import ConnectorSession

    def prepare(connector: Connector, session: ConnectorSession) -> Connector | None:
        hook = pytestconfig.hook.pytest_connectors_prepare
        prepared: Connector | None = hook(connector=connector, session=session, config=pytestconfig)
        return prepared

    session = ConnectorSession(
        pytestconfig.stash[state_key].file,
        prepare=prepare,
        log_dir=tmp_path_factory.getbasetemp() / "agent-logs",
    )
    yield session
    session.close()


@pytest.fixture
def connector_name(request: pytest.FixtureRequest) -> str:
    """The selected connector's name (tests run once per selected connector)."""
    request.node.stash[no_connector_key] = True
    pytest.fail(NO_CONNECTOR, pytrace=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if call.when == "setup" and item.stash.get(no_connector_key, False):
        report.when = "call"  # the test's own failure, not an error of its fixtures
    return report


@pytest.fixture
def connector(connector_name: str, connectors_session: ConnectorSession) -> Connector:
    """The selected connector, its agent started first when it is a managed one."""
    from pytest_connectors.errors import ConnectorError

    try:
        return connectors_session.connector(connector_name)
    except ConnectorError as exc:
        problem = str(exc)
    pytest.fail(problem, pytrace=False)  # outside the handler: the message alone, no chain


def _recorder(item: pytest.Item, connector: str) -> OnResult:
    from pytest_connectors.evaluation.latency import record_of

    records = item.stash.setdefault(records_key, [])

    def record(result: ConnectorInvokeResult) -> None:
        records.append(record_of(item.nodeid, connector, len(records) + 1, result))

    return record


def _call_recorder(item: pytest.Item, connector: str) -> OnCall:
    """Like :func:`_recorder`, with what each call sent (the user text of a conversation)."""
    from pytest_connectors.evaluation.latency import record_of

    records = item.stash.setdefault(records_key, [])

    def record(sent: list[Message], result: ConnectorInvokeResult) -> None:
        records.append(record_of(item.nodeid, connector, len(records) + 1, result, sent))

    return record


def _test_invoker(
    connector: Connector, session: ConnectorSession, item: pytest.Item
) -> BoundInvoker:
    from pytest_connectors.evaluation.conversation import BoundInvoker

    class TestInvoker(BoundInvoker):
        """``run_id=`` names a thread of this test alone; ``thread_id=`` a given thread."""

        __test__ = False

        def _run_id(self, run_id: str | None, thread_id: str | None) -> str | None:
            if run_id is not None and thread_id is not None:
                raise TypeError("pass run_id= (this test's own thread) or thread_id=, not both")
            if run_id is not None:
                return session.threads.thread_for(item.nodeid, run_id)
            return thread_id

        def __call__(
            self,
            data: InvokeInput,
            *,
            run_id: str | None = None,
            thread_id: str | None = None,
            **options: Any,
        ) -> ConnectorInvokeResult:
            __tracebackhide__ = True
            return super().__call__(data, run_id=self._run_id(run_id, thread_id), **options)

        async def ainvoke(
            self,
            data: InvokeInput,
            *,
            run_id: str | None = None,
            thread_id: str | None = None,
            **options: Any,
        ) -> ConnectorInvokeResult:
            __tracebackhide__ = True
            return await super().ainvoke(data, run_id=self._run_id(run_id, thread_id), **options)

    return TestInvoker(connector, client=session.client, on_result=_recorder(item, connector.name))


@pytest.fixture
def invoke_connector(
    connector: Connector, connectors_session: ConnectorSession, request: pytest.FixtureRequest
) -> BoundInvoker:
    """Send messages to the selected connector: ``invoke_connector("hi")``, or
    ``await invoke_connector.ainvoke("hi")`` in async tests; returns the result.

    ``run_id="x"`` keeps a LangGraph thread across calls of this test only (every test, and
    every run of the suite, gets fresh threads); ``thread_id="x"`` reaches the thread the
    library's ``run_id="x"`` names, to share it between tests or inspect a known one."""
    return _test_invoker(connector, connectors_session, request.node)


@pytest.fixture
def conversation(
    connector: Connector, connectors_session: ConnectorSession, request: pytest.FixtureRequest
) -> Conversation:
    """A multi-turn conversation with the selected connector (one LangGraph thread per test):
    ``conversation.send("hi")``, or ``await conversation.asend("hi")`` in async tests."""
    from pytest_connectors.evaluation.conversation import Conversation

    return Conversation(
        connector,
        run_id=f"{request.node.nodeid}#{uuid.uuid4()}",
        client=connectors_session.client,
        on_call=_call_recorder(request.node, connector.name),
    )
