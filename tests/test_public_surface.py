"""The public names: one table in ``pytest_connectors/__init__.py`` decides them."""

from __future__ import annotations

import types

import pytest_connectors


def test_exported_members() -> None:
    # Every exported name resolves, and says where it lives (the httpx convention).
    for name in pytest_connectors.__all__:
        member = getattr(pytest_connectors, name)
        if isinstance(member, types.UnionType):  # a type alias such as ConnectorConfig
            continue
        assert member.__module__.startswith("pytest_connectors."), name


def test_all_is_exactly_the_table() -> None:
    assert pytest_connectors.__all__ == sorted(pytest_connectors._EXPORTS)
    assert set(pytest_connectors.__all__) <= set(dir(pytest_connectors))


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        pytest_connectors.no_such_name  # noqa: B018
    except AttributeError as error:
        assert "no_such_name" in str(error)
    else:
        raise AssertionError("expected AttributeError")
