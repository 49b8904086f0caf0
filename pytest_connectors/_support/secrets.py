"""The one secrets policy: what counts as secret, and how it is hidden.

Every writer of text the package shows (repr, CLI, reports, logs, failure messages) masks through
this module, so there is one place to change what is hidden and how.
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_connectors._support.variables import REFERENCE

MASK = "****"

_SENSITIVE_WORDS = ("auth", "key", "token", "secret", "cookie", "password", "session")


def is_sensitive_header(name: str) -> bool:
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE_WORDS)


def mask(value: str) -> str:
    """Hide the literal parts of a secret; references are names, not secrets, and stay readable."""
    if not value:
        return value
    parts: list[str] = []
    position = 0
    for match in REFERENCE.finditer(value):
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
