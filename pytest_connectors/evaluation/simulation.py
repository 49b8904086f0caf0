"""Simulated users: a connector plays the user, turn by turn, toward a scenario's goal.

The simulator is a connector like the judge (an OpenAI-compatible endpoint or a LangGraph
graph), called through the same client. Each turn it is sent the persona, the scenario's
instructions and the transcript so far (``Prompts.simulator``) and answers
``{"message": ..., "status": "continue"|"goal_reached"|"abandoned"}``; a plain-text reply is
taken as the next message. The conversation ends when the simulator says the goal is reached or
abandoned, when ``until(conversation)`` is true, or after ``max_turns`` user turns. A simulator
that gives no next message raises :class:`~pytest_connectors.errors.SimulatorError`: the test
errors. Its calls are never the agent's: they count toward no latency figure or budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pytest_connectors.client.clients import ConnectorClient, shared_client
from pytest_connectors.errors import InvalidInputError, SimulatorError
from pytest_connectors.evaluation.judging import Cost
from pytest_connectors.evaluation.prompts import (
    Prompts,
    UnreadableVerdict,
    UserTurn,
    cut,
    messages_for,
    parse_user_turn,
    render_transcript,
)
from pytest_connectors.evaluation.roles import Role
from pytest_connectors.evaluation.scenarios import Persona, Scenario, ScenarioCase
from pytest_connectors.models.connector import Connector, Message

if TYPE_CHECKING:
    from pytest_connectors.evaluation.conversation import Conversation
    from pytest_connectors.evaluation.judging import Judgement

__all__ = ["Simulation", "Simulator", "simulate", "simulator_env"]

SIMULATOR_ENV = "PYTEST_CONNECTORS_SIMULATOR"
DEFAULT_MAX_TURNS = 10
Ending = Literal["goal_reached", "abandoned", "max_turns", "until"]


class Simulator:
    """A connector that plays the user. Without ``client`` it calls through the shared one."""

    def __init__(
        self,
        connector: Connector,
        *,
        client: ConnectorClient | None = None,
        prompts: Prompts | None = None,
    ) -> None:
        self.connector = connector
        self.prompts = prompts or Prompts()
        self._client = client or shared_client()
        self.cost = Cost()  # every call this simulator made

    def __repr__(self) -> str:
        return f"<Simulator {self.name!r}>"

    @property
    def name(self) -> str:
        return self.connector.name

    def next_turn(
        self, persona: str, scenario: str, messages: list[Message], cost: Cost | None = None
    ) -> UserTurn:
        """What the user says next, or that they stop; SimulatorError when there is no answer."""
        prompt = self.prompts.simulator.format(
            persona=persona or "an ordinary user",
            scenario=scenario,
            transcript=render_transcript(messages),
        )
        result = self._client.invoke(self.connector, messages_for(self.prompts, prompt))
        self.cost.add(result)
        if cost is not None:
            cost.add(result)
        if not result.success:
            raise SimulatorError(
                self.name, f"the call failed: {result.error}", result.raw_response or None
            )
        try:
            return parse_user_turn(result.text)
        except UnreadableVerdict as exc:
            raise SimulatorError(
                self.name,
                f"its reply is not a next message ({exc}); a simulator answers "
                '{"message": "...", "status": "continue"|"goal_reached"|"abandoned"}',
                cut(result.text),
            ) from None


@dataclass
class Simulation:
    """A simulated conversation: how it ended, after how many user turns, at what cost.

    ``assert_criteria(simulation, ...)`` judges its transcript like any conversation's.
    """

    conversation: Conversation
    ended: Ending
    turns: int
    simulator: str
    scenario: str
    persona: str | None = None
    cost: Cost = field(default_factory=Cost)
    judgement: Judgement | None = None

    @property
    def messages(self) -> list[Message]:
        return self.conversation.messages

    @property
    def goal_reached(self) -> bool:
        return self.ended == "goal_reached"

    def as_dict(self) -> dict[str, Any]:
        return {
            "simulator": self.simulator,
            "scenario": self.scenario,
            "persona": self.persona,
            "ended": self.ended,
            "turns": self.turns,
            "calls": self.cost.calls,
            "latency_ms": round(self.cost.latency_ms, 1),
            "total_tokens": self.cost.total_tokens,
        }


# -- which simulator -----------------------------------------------------------------------------

SimulatorRef = Simulator | Connector | str | None

NO_SIMULATOR = (
    "no simulated user is selected: pass simulator=NAME, run pytest with --simulator-connector "
    f"NAME, set `simulator_connector = NAME` in the ini options, or export {SIMULATOR_ENV}=NAME"
)
SIMULATORS: Role[Simulator, Simulation] = Role(
    "simulator",
    SIMULATOR_ENV,
    lambda connector: Simulator(connector),
    lambda: SimulatorError("(none)", NO_SIMULATOR),
)
simulator_env = SIMULATORS.from_env
simulators_from = SIMULATORS.provided


def resolve_simulator(ref: SimulatorRef) -> Simulator:
    """A simulator from a Simulator, a connector, its name, or None (the selected one)."""
    return ref if isinstance(ref, Simulator) else SIMULATORS.resolve(ref)


# -- the loop ------------------------------------------------------------------------------------


def _max_turns(value: int | None, case: ScenarioCase | None) -> int:
    if value is None:
        value = case.scenario.max_turns if case and case.scenario.max_turns else DEFAULT_MAX_TURNS
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"max_turns must be a whole number >= 1; got {value!r}")
    return value


def simulate(
    conversation: Conversation,
    scenario: str | Scenario | ScenarioCase,
    persona: str | Persona | None = None,
    *,
    max_turns: int | None = None,
    simulator: SimulatorRef = None,
    until: Callable[[Conversation], bool] | None = None,
    check: bool = True,
) -> Simulation:
    """Let the simulator play ``persona`` toward ``scenario`` against the conversation's agent.

    A :class:`ScenarioCase` brings its persona, seed messages and ``max_turns``; a
    :class:`Scenario` with one persona brings that persona. ``check=False`` keeps going when
    an agent call fails (the failed turn stays in the transcript).
    """
    __tracebackhide__ = True
    if isinstance(scenario, Scenario):
        if len(scenario.personas) > 1 and persona is None:
            raise InvalidInputError(
                f"scenario {scenario.name!r} has {len(scenario.personas)} personas: pass "
                "persona=, or run each of scenario.cases()"
            )
        scenario = ScenarioCase(scenario, scenario.personas[0] if scenario.personas else None)
    case = scenario if isinstance(scenario, ScenarioCase) else None
    if case is not None:
        persona = persona if persona is not None else case.persona
        instructions, label = case.scenario.instructions, case.scenario.name
        seeds = list(case.scenario.seed_messages)
    elif isinstance(scenario, str) and scenario.strip():
        instructions, label, seeds = scenario, cut(scenario, 60), []
    else:
        raise InvalidInputError("scenario must be a non-empty text, a Scenario or a ScenarioCase")
    limit = _max_turns(max_turns, case)
    user = resolve_simulator(simulator)
    persona_text = "" if persona is None else str(persona)
    cost = Cost()
    ended: Ending = "max_turns"
    turns = 0
    while turns < limit:
        if seeds:
            message = seeds.pop(0)
        else:
            turn = user.next_turn(persona_text, instructions, conversation.messages, cost)
            if turn.status != "continue" or turn.message is None:
                ended = "abandoned" if turn.status == "abandoned" else "goal_reached"
                break
            message = turn.message
        conversation.send(message, check=check)
        turns += 1
        if until is not None and until(conversation):
            ended = "until"
            break
    persona_name = persona.name if isinstance(persona, Persona) else persona
    simulation = Simulation(conversation, ended, turns, user.name, label, persona_name, cost)
    SIMULATORS.observe(simulation)
    return simulation
