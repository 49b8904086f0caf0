"""Which connectors each test runs against: parametrization from markers, options and ini.

Closest first: ``@pytest.mark.connector(...)``, then ``--connector``, then the ``connector`` ini
value. Bad markers and unknown names are usage errors, reported before anything runs.
"""

from __future__ import annotations

import pytest

from pytest_connectors.pytest_plugin.state import CONNECTOR_FIXTURES, PluginState, state_key


def _parametrized_by_user(metafunc: pytest.Metafunc) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        argnames = marker.args[0] if marker.args else marker.kwargs.get("argnames", "")
        if isinstance(argnames, str):
            argnames = [name.strip() for name in argnames.split(",")]
        if "connector_name" in argnames:
            return True
    return False


def _names_for(metafunc: pytest.Metafunc, state: PluginState) -> list[str]:
    marker = metafunc.definition.get_closest_marker("connector")
    if marker is None:
        if state.selected and not metafunc.config.option.connectors:
            state.check_names(state.selected, "the `connector` ini option")
        return state.selected
    names = list(marker.args)
    if not names or not all(isinstance(n, str) and n for n in names) or marker.kwargs:
        raise pytest.UsageError(
            f"{metafunc.definition.nodeid}: use @pytest.mark.connector('NAME', ...) with one "
            f"or more connector names; got args={marker.args!r} kwargs={marker.kwargs!r}"
        )
    state.check_names(names, f"@pytest.mark.connector of {metafunc.definition.nodeid}")
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not CONNECTOR_FIXTURES.intersection(metafunc.fixturenames):
        return
    if _parametrized_by_user(metafunc):
        return
    state = metafunc.config.stash[state_key]
    try:
        names = _names_for(metafunc, state)
    except pytest.UsageError as exc:
        # Raised here it would be a collection error; collection_modifyitems reports it instead.
        state.problems.append(str(exc))
        return
    unique = list(dict.fromkeys(names))  # naming a connector twice still runs it once
    if unique:
        metafunc.parametrize("connector_name", unique, ids=unique)


def latency_budget(item: pytest.Item) -> tuple[float | None, float | None] | None:
    """``(max_ms, p95_ms)`` from the test's latency marker, or None without one."""
    marker = item.get_closest_marker("latency")
    if marker is None:
        return None
    allowed = {"max_ms", "p95_ms"}
    values = {**dict(zip(("max_ms", "p95_ms"), marker.args, strict=False)), **marker.kwargs}
    bad = [
        key
        for key, value in values.items()
        if key not in allowed
        or isinstance(value, bool)
        or not isinstance(value, int | float)
        or value <= 0
    ]
    if bad or not values:
        raise pytest.UsageError(
            f"{item.nodeid}: use @pytest.mark.latency(max_ms=..., p95_ms=...) with positive "
            f"numbers of milliseconds; got {marker.args!r} {marker.kwargs!r}"
        )
    return values.get("max_ms"), values.get("p95_ms")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    problems = config.stash[state_key].problems
    if problems:
        raise pytest.UsageError(problems[0])
    for item in items:
        latency_budget(item)
