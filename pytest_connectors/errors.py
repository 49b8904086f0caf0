"""One exception tree for everything the package raises on purpose.

Remote failures (an agent that is down, slow or wrong) are not exceptions: invoke and test return
a result with ``success=False``. These exceptions are for local misuse and bad local data.
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
