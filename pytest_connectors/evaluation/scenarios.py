"""Scenarios and personas as data files in the repository, EvalStudio's fields.

A file (JSON, or YAML with PyYAML installed) holds one scenario, a list of them, or
``{"personas": [...], "scenarios": [...]}``. A scenario has a ``name``, ``instructions`` (or
``description``: what the simulated user wants, told to the simulator alone), ``successCriteria``
and ``failureCriteria`` (a text or a list, judged against the transcript), ``personas`` (names of
personas defined in any file of the same folder, or inline ``{"name", "description"}``),
``seedMessages`` (user messages sent as written before the simulator takes over) and
``maxTurns``. snake_case spellings are read too. Each scenario runs once per persona (once
without a persona when it names none): one :class:`ScenarioCase` each.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from pytest_connectors.errors import MissingDependencyError, ScenarioFileError

if TYPE_CHECKING:
    from pytest_connectors.evaluation.conversation import Conversation
    from pytest_connectors.evaluation.judging import JudgeRef
    from pytest_connectors.evaluation.simulation import Simulation, SimulatorRef

__all__ = ["Persona", "Scenario", "ScenarioCase", "load_scenarios"]

SUFFIXES = (".json", ".yaml", ".yml")
MAX_FILE_BYTES = 1_000_000
MAX_TURNS_LIMIT = 100


@dataclass(frozen=True)
class Persona:
    """Who the simulated user is: told to the simulator with every turn."""

    name: str
    description: str

    def __str__(self) -> str:
        return f"{self.name}: {self.description}" if self.description else self.name


@dataclass(frozen=True)
class Scenario:
    name: str
    instructions: str
    success: tuple[str, ...] = ()
    failure: tuple[str, ...] = ()
    personas: tuple[Persona, ...] = ()
    seed_messages: tuple[str, ...] = ()
    max_turns: int | None = None
    source: str | None = None

    def cases(self) -> list[ScenarioCase]:
        """One case per persona, or one without a persona when the scenario names none."""
        return [ScenarioCase(self, p) for p in self.personas] or [ScenarioCase(self, None)]


@dataclass(frozen=True)
class ScenarioCase:
    """One scenario played by one persona: what ``@pytest.mark.scenario`` gives each test."""

    scenario: Scenario
    persona: Persona | None

    @property
    def id(self) -> str:
        persona = f" as {self.persona.name}" if self.persona is not None else ""
        return f"{self.scenario.name}{persona}"

    def __str__(self) -> str:
        return self.id

    def run(
        self,
        conversation: Conversation,
        *,
        simulator: SimulatorRef = None,
        judge: JudgeRef = None,
        max_turns: int | None = None,
        samples: int = 1,
        confirm: int = 0,
    ) -> Simulation:
        """Simulate the conversation, then judge it against the scenario's own criteria
        (:class:`~pytest_connectors.errors.CriteriaNotMet` on a miss)."""
        __tracebackhide__ = True
        from pytest_connectors.evaluation.judging import assert_criteria
        from pytest_connectors.evaluation.simulation import simulate

        simulation = simulate(conversation, self, max_turns=max_turns, simulator=simulator)
        if self.scenario.success or self.scenario.failure:
            simulation.judgement = assert_criteria(
                simulation,
                self.scenario.success,
                self.scenario.failure,
                judge=judge,
                samples=samples,
                confirm=confirm,
            )
        return simulation


# -- files ---------------------------------------------------------------------------------------


def _texts(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


# Bookkeeping fields of EvalStudio's files, read and dropped; any other unknown key is an error.
_BOOKKEEPING = frozenset({"id", "createdAt", "updatedAt", "projectId", "tags"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _drop_bookkeeping(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v for k, v in value.items() if k not in _BOOKKEEPING}
        return value


class _PersonaData(_Strict):
    name: str = Field(min_length=1)
    description: str = Field(
        default="", validation_alias=AliasChoices("description", "instructions", "prompt")
    )


class _ScenarioData(_Strict):
    name: str = Field(min_length=1)
    instructions: str = Field(
        min_length=1, validation_alias=AliasChoices("instructions", "description")
    )
    success: list[str] = Field(
        default=[], validation_alias=AliasChoices("successCriteria", "success_criteria", "success")
    )
    failure: list[str] = Field(
        default=[], validation_alias=AliasChoices("failureCriteria", "failure_criteria", "failure")
    )
    personas: list[str | _PersonaData] = []
    seed_messages: list[str] = Field(
        default=[], validation_alias=AliasChoices("seedMessages", "seed_messages")
    )
    max_turns: int | None = Field(
        default=None,
        ge=1,
        le=MAX_TURNS_LIMIT,
        validation_alias=AliasChoices("maxTurns", "max_turns"),
    )

    @field_validator("success", "failure", "seed_messages", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _texts(value)

    @field_validator("success", "failure", "seed_messages")
    @classmethod
    def _not_blank(cls, value: list[str]) -> list[str]:
        if not all(item.strip() for item in value):
            raise ValueError("must not hold an empty text")
        return value


def _problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"]) or "the file"
    return f"{where}: {error['msg']}"


def _read(path: Path) -> Any:
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ScenarioFileError(path, f"larger than {MAX_FILE_BYTES} bytes; split it")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioFileError(path, f"cannot read it: {exc}") from None
    if path.suffix == ".json":
        try:
            return json.loads(text)
        except ValueError as exc:
            raise ScenarioFileError(path, f"not valid JSON: {exc}") from None
    try:
        yaml: Any = importlib.import_module("yaml")  # optional, and untyped
    except ImportError:
        raise MissingDependencyError(
            f"{path}: YAML scenario files need PyYAML: pip install pyyaml (or use JSON)"
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioFileError(path, f"not valid YAML: {str(exc).splitlines()[0]}") from None


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ScenarioFileError(path, "no such file or folder of scenarios")
    files = sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    if not files:
        raise ScenarioFileError(path, f"no scenario files ({', '.join(SUFFIXES)}) in this folder")
    return files


def load_scenarios(path: str | Path) -> list[Scenario]:
    """Every scenario of a file or folder, personas resolved; ScenarioFileError names the
    file and field at fault."""
    personas: dict[str, Persona] = {}
    found: list[tuple[Path, _ScenarioData]] = []
    for file in _files(Path(path)):
        data = _read(file)
        # A collection has "scenarios", or "personas" and no name (a scenario lists its own).
        if isinstance(data, dict) and ("scenarios" in data or "name" not in data):
            extra = sorted(set(data) - {"scenarios", "personas"})
            if extra:
                raise ScenarioFileError(file, f"unknown top-level key {extra[0]!r}")
            persona_items, scenario_items = data.get("personas") or [], data.get("scenarios") or []
        else:
            persona_items, scenario_items = [], data if isinstance(data, list) else [data]
        if not isinstance(persona_items, list) or not isinstance(scenario_items, list):
            raise ScenarioFileError(file, "'personas' and 'scenarios' must be lists")
        try:
            for item in persona_items:
                persona = _PersonaData.model_validate(item)
                personas[persona.name] = Persona(persona.name, persona.description)
            found += [(file, _ScenarioData.model_validate(item)) for item in scenario_items]
        except ValidationError as exc:
            raise ScenarioFileError(file, _problem(exc)) from None
    scenarios = [_scenario(file, data, personas) for file, data in found]
    names = [s.name for s in scenarios]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ScenarioFileError(path, f"two scenarios are named {twice[0]!r}; names must differ")
    return scenarios


def _scenario(file: Path, data: _ScenarioData, personas: dict[str, Persona]) -> Scenario:
    chosen: list[Persona] = []
    for item in data.personas:
        if isinstance(item, str):
            if item not in personas:
                known = ", ".join(repr(n) for n in personas) or "none"
                raise ScenarioFileError(
                    file, f"scenario {data.name!r} names persona {item!r}; known: {known}"
                )
            chosen.append(personas[item])
        else:
            chosen.append(Persona(item.name, item.description))
    return Scenario(
        name=data.name,
        instructions=data.instructions,
        success=tuple(data.success),
        failure=tuple(data.failure),
        personas=tuple(chosen),
        seed_messages=tuple(data.seed_messages),
        max_turns=data.max_turns,
        source=str(file),
    )
