r"""One exception tree for everything the package raises on purpose; catch ``ConnectorError``.

Remote failures of an agent (down, slow or wrong) are not exceptions: invoke and test return a
result with ``success=False``. These exceptions are for local misuse, bad local data, and the
import providers and connectors service the imports talk to. Every class here is exported from
``pytest_connectors`` (``tests/test_public_surface.py``); the assertion failures a test sees
(``ToolCallMismatch``, ``ConnectorCallFailed``, ``ReplayMismatch``) are ``AssertionError``\ s
exported next to the code that raises them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class ConnectorError(Exception):
    """Base class: catch this to handle any error of the package."""


class ConnectorNotFoundError(ConnectorError, LookupError):
    def __init__(self, ref: str, known: Sequence[str] = ()) -> None:
        self.ref = ref
        self.known = list(known)
        hint = (
            f"known connectors: {', '.join(repr(n) for n in known)}"
            if known
            else "no connectors are defined yet (create one with `pytest-connectors create`)"
        )
        super().__init__(f"unknown connector {ref!r}; {hint}")

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateConnectorNameError(ConnectorError, ValueError):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a connector named {name!r} already exists; choose another name")


class ConnectorFileError(ConnectorError):
    """The connector file cannot be read; it is left exactly as it was."""

    def __init__(self, path: Path, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem} (the file was not changed; fix it and retry)")


class MissingVariableError(ConnectorError, LookupError):
    def __init__(self, variable: str, connector: str) -> None:
        self.variable = variable
        self.connector = connector
        super().__init__(
            f"connector {connector!r} refers to ${{{variable}}}, but the environment variable "
            f"{variable} is not set; export it and retry"
        )

    def __str__(self) -> str:
        return str(self.args[0])


class ReportFileError(ConnectorError, ValueError):
    """A JSON report (a baseline, a shard) cannot be read as one: missing, not JSON, old."""


class InvalidInputError(ConnectorError, ValueError):
    """A call was made with input that cannot be sent (no messages, a bad role, ...)."""


class ServerStartError(ConnectorError):
    """A local agent server could not be started; the message holds the end of its log."""


# -- import connectors and their database ------------------------------------------------------


class DatabaseError(ConnectorError):
    """The database cannot be opened or used (bad URL, unreachable server, unreadable file)."""


class SchemaVersionError(DatabaseError):
    """The database was written by a newer version of the package; this one must not touch it."""

    def __init__(self, found: int, supported: int) -> None:
        self.found = found
        self.supported = supported
        super().__init__(
            f"the database has schema version {found}, but this pytest-connectors understands "
            f"up to {supported}; upgrade pytest-connectors (the database was not changed)"
        )


class RecordNotFoundError(ConnectorError, LookupError):
    """No such record, or one the caller's scope does not reach (the two look the same)."""

    def __init__(self, kind: str, ref: str) -> None:
        self.kind = kind
        self.ref = ref
        super().__init__(f"no {kind} {ref!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class ImportConnectorNotFoundError(RecordNotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__("import connector", ref)


class JobNotFoundError(RecordNotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__("job", ref)


class ConversationNotFoundError(RecordNotFoundError):
    def __init__(self, ref: str) -> None:
        super().__init__("conversation", ref)


class DuplicateImportConnectorError(ConnectorError, ValueError):
    def __init__(self, name: str, agent_id: str) -> None:
        self.name = name
        self.agent_id = agent_id
        super().__init__(
            f"agent {agent_id!r} already has an import connector named {name!r}; "
            "choose another name"
        )


class OutOfScopeError(ConnectorError, PermissionError):
    """The caller's key may not act for that agent or tenant."""


class JobTimeoutError(ConnectorError, TimeoutError):
    def __init__(self, job_id: str, status: str, waited: float) -> None:
        self.job_id = job_id
        self.status = status
        super().__init__(
            f"job {job_id} is still {status} after {waited:g} s; wait longer or check that a "
            "worker is running (`pytest-connectors worker`)"
        )


class MissingDependencyError(ConnectorError, ImportError):
    """An optional dependency that this call needs is not installed; the message says how."""


class ApiKeyNotFoundError(ConnectorError, LookupError):
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        super().__init__(
            f"no API key with prefix {prefix!r}; `pytest-connectors keys list` shows them"
        )

    def __str__(self) -> str:
        return str(self.args[0])


# -- remote parties: import providers and the connectors service -------------------------------


class ProviderError(ConnectorError):
    """A provider call failed. ``transient`` failures are retried; others fail the job at once.

    ``code`` is stable and machine-readable (``auth_failed``, ``project_not_found``,
    ``plan_without_export``, ``rate_limited``, ``server_error``, ``timeout``, ``malformed_page``,
    ``reply_too_large``, ``too_many_pages``, ...); the message is one line saying what happened
    and what to do, never holding a secret nor quoting the provider's reply.
    """

    def __init__(self, code: str, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.code = code
        self.transient = transient


class ProviderPluginError(InvalidInputError):
    """A provider of the ``pytest_connectors.providers`` entry points cannot be used: it does not
    load, is not a ``ProviderSpec`` of its entry's name, or two distributions claim its name.
    Raised only where that provider is asked for; ``distribution`` names the culprit."""

    def __init__(self, distribution: str, problem: str) -> None:
        super().__init__(problem)
        self.distribution = distribution


class ServiceError(ConnectorError):
    """The service answered with an error, or could not be reached; ``status`` 0 for the latter."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class ServiceAuthError(ServiceError, PermissionError):
    """The service refused the API key (none, unknown, revoked or expired)."""


# -- judges -------------------------------------------------------------------------------------


class JudgeError(ConnectorError):
    """A judge gave no verdict (down, too slow, or a reply that is not one): the test errors.

    It is never a pass, and never the agent's failure: the message names the judge and quotes
    its reply (secrets masked).
    """

    def __init__(self, judge: str, problem: str, reply: str | None = None) -> None:
        self.judge = judge
        self.problem = problem
        self.reply = reply
        message = f"judge {judge!r} gave no verdict: {problem}"
        if reply is not None:
            message += f"\n  its reply: {reply!r}"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class CriteriaNotMet(ConnectorError, AssertionError):
    """A judged conversation missed a success criterion or met a failure criterion.

    ``judgement`` holds every criterion's verdict, score and reason; the message lists them.
    """

    def __init__(self, message: str, judgement: object) -> None:
        super().__init__(message)
        self.judgement = judgement


class SimulatorError(ConnectorError):
    """A simulated user gave no next message (down, too slow, or an unreadable reply).

    Like :class:`JudgeError`, the test errors: it is the test's tool that failed, not the agent.
    """

    def __init__(self, simulator: str, problem: str, reply: str | None = None) -> None:
        self.simulator = simulator
        self.problem = problem
        self.reply = reply
        message = f"simulated user {simulator!r} gave no next message: {problem}"
        if reply is not None:
            message += f"\n  its reply: {reply!r}"
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class ScenarioFileError(ConnectorError, ValueError):
    """A scenario or persona file cannot be read; the message names the file and the field."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class ScoreNotMet(ConnectorError, AssertionError):
    """A deterministic scorer (``contains``, ``matches``, ``json_matches``, ``similar``)
    rejected an answer; ``score`` holds its verdict, score and reason."""

    def __init__(self, message: str, score: object) -> None:
        super().__init__(message)
        self.score = score
