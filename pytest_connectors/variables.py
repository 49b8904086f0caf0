"""``${NAME}`` references in connector fields, and keeping their resolved values out of sight.

Values are resolved only when a request is built, so the connector file holds references, never
secrets. Whatever is resolved from an auth value or a header is handed to a :class:`Redactor`
that scrubs it from every text the package shows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping

from .errors import MissingVariableError

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "****"


def references(value: str) -> list[str]:
    return _REFERENCE.findall(value)


def resolve(value: str, *, connector: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace every ``${NAME}`` with the environment's value, or fail naming it."""
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env:
            raise MissingVariableError(name, connector)
        return env[name]

    return _REFERENCE.sub(substitute, value)


def mask(value: str) -> str:
    """Hide the literal parts of a secret; references are names, not secrets, and stay readable."""
    if not value:
        return value
    parts: list[str] = []
    position = 0
    for match in _REFERENCE.finditer(value):
        if match.start() > position:
            parts.append(MASK)
        parts.append(match.group(0))
        position = match.end()
    if position < len(value):
        parts.append(MASK)
    return "".join(parts)


class Redactor:
    """Scrubs known secret values out of text before anyone sees it."""

    __slots__ = ("_secrets",)

    # Shorter values would blank out ordinary words and numbers.
    MIN_LENGTH = 4

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {s for s in secrets if len(s) >= self.MIN_LENGTH}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(sorted(unique, key=len, reverse=True))

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)
