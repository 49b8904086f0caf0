"""The one secrets policy: what counts as secret, and how it is hidden.

Every writer of text the package shows (repr, CLI, reports, logs, failure messages) masks through
this module, so there is one place to change what is hidden and how:

- names: a header, query parameter or unknown key whose name holds one of ``_SENSITIVE_WORDS``
  carries a secret; its literal value is shown as ``****``, ``${VAR}`` references as written;
- resolved values: whatever is resolved from a reference or sent as a credential is held in a
  :class:`Secret` (masked in ``repr``, so ``pytest -l`` tracebacks show ``Secret('****')``) and
  handed to a :class:`Redactor`, which scrubs it (and its base64 form) from any text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from pytest_connectors._support.variables import REFERENCE

MASK = "****"

_SENSITIVE_WORDS = ("auth", "key", "token", "secret", "cookie", "password", "session")


def is_sensitive_name(name: str) -> bool:
    """Whether a header, query parameter or field of this name carries a secret."""
    lowered = name.lower()
    return any(word in lowered for word in _SENSITIVE_WORDS)


is_sensitive_header = is_sensitive_name


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


def mask_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A copy with the string values of secret-looking keys masked, nested mappings included."""
    masked: dict[str, Any] = {}
    for key, value in fields.items():
        if isinstance(value, Mapping):
            value = mask_fields(value)
        elif isinstance(value, str) and is_sensitive_name(str(key)):
            value = mask(value)
        masked[key] = value
    return masked


_USERINFO_PASSWORD = re.compile(r"(://[^/@:?#]*:)([^/@?#]+)(@)")
_QUERY_PARAMETER = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")


def mask_url(url: str) -> str:
    """The URL with its password and the values of secret-looking query parameters masked."""
    url = _USERINFO_PASSWORD.sub(lambda m: m.group(1) + mask(m.group(2)) + m.group(3), url)

    def parameter(match: re.Match[str]) -> str:
        sep, name, value = match.groups()
        return f"{sep}{name}={mask(value) if is_sensitive_name(name) else value}"

    return _QUERY_PARAMETER.sub(parameter, url)


def mask_query(target: str) -> str:
    """A request target with its whole query string masked, for a server's access log.

    A server cannot tell which parameter a client put a key in (or whether the key is a name
    rather than a value), so nothing after the ``?`` is shown."""
    path, mark, query = target.partition("?")
    return f"{path}?{MASK}" if mark and query else target


class Secret(str):
    """A resolved secret: an ordinary ``str`` to every API, but ``repr`` never shows it.

    pytest prints the locals of failing frames with ``repr`` (``-l``, ``--full-trace``), so
    resolved values, and the headers built from them, are held in this type.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"


class Redactor:
    """Scrubs known secret values out of text before anyone sees it."""

    __slots__ = ("_secrets",)

    # Shorter values would blank out ordinary words and numbers.
    MIN_LENGTH = 4

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        unique = {Secret(s) for s in secrets if len(s) >= self.MIN_LENGTH}
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = tuple(sorted(unique, key=len, reverse=True))

    def __repr__(self) -> str:
        return f"Redactor({len(self._secrets)} secrets)"

    def __bool__(self) -> bool:
        return bool(self._secrets)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret in self._secrets)
