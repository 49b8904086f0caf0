"""``${NAME}`` references in connector fields, and keeping their resolved values out of sight.

Values are resolved only when a request is built, so the connector file holds references, never
secrets. Whatever is resolved from an auth value or a header is handed to a :class:`Redactor`
that scrubs it from every text the package shows (see ``pytest_connectors._support.secrets``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pytest_connectors.errors import MissingVariableError

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
REFERENCE = re.compile(r"\$\{(" + NAME.pattern + r")\}")


def is_name(text: str) -> bool:
    """Whether ``text`` is a variable name a reference may hold."""
    return NAME.fullmatch(text) is not None


def references(value: str) -> list[str]:
    return REFERENCE.findall(value)


def lookup(name: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The variable's value, from ``environ`` or else the process environment.

    No frame holds ``os.environ`` in a local: pytest prints the locals of failing frames
    (``-l``), and the whole environment would be shown.
    """
    return os.environ.get(name) if environ is None else environ.get(name)


def resolve(value: str, *, connector: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every ``${NAME}`` with the environment's value, or fail naming it."""

    def substitute(match: re.Match[str]) -> str:
        found = lookup(match.group(1), environ)
        if found is None:
            raise MissingVariableError(match.group(1), connector)
        return found

    return REFERENCE.sub(substitute, value)
