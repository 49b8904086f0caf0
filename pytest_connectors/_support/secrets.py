"""The one secrets policy: what counts as secret, and how it is hidden.

Every writer of text the package shows (repr, CLI, reports, logs, failure messages) masks through
this module, so there is one place to change what is hidden and how:

- names: a header, query parameter or unknown key whose name holds one of ``_SENSITIVE_WORDS``
  carries a secret; its literal value is shown as ``****``, ``${VAR}`` references as written;
- resolved values: whatever is resolved from a reference or sent as a credential is held in a
  :class:`Secret` (masked in ``repr``, so ``pytest -l`` tracebacks show ``Secret('****')``) and
  handed to a :class:`Redactor`, which scrubs it (and its base64 form) from any text;
- shapes: recorded production text (exported cases, replay test ids and reports) is passed
  through :func:`mask_shapes`, which hides what looks like personal data or a credential
  wherever it appears, whatever it is called (:data:`SHAPES`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
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


_OPTION_NAME = re.compile(r"-{0,2}[A-Za-z_][\w.-]*")


def mask_arguments(args: Iterable[str]) -> list[str]:
    """A command line as a report may show it: the value of a secret-looking option
    (``--api-key VALUE``, ``--api-key=VALUE``, ``-o token=VALUE``) masked, URLs as ``mask_url``."""
    masked: list[str] = []
    hide_next = False
    for arg in args:
        name, equals, value = arg.partition("=")
        if hide_next:
            masked.append(mask(arg))
        elif equals and _OPTION_NAME.fullmatch(name) and is_sensitive_name(name):
            masked.append(f"{name}={mask(value)}")
        else:
            masked.append(mask_url(arg))
        hide_next = arg.startswith("-") and not equals and is_sensitive_name(arg)
    return masked


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


# -- shapes: what looks secret or personal wherever it appears ------------------------------------


def _luhn_valid(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def _iban_valid(text: str) -> bool:
    compact = text.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    return int("".join(str(int(c, 36)) for c in rearranged)) % 97 == 1


def _ssn_valid(text: str) -> bool:
    area, group, serial = text.split("-")
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _phone_valid(text: str) -> bool:
    return 7 <= sum(c.isdigit() for c in text) <= 15  # E.164 holds at most 15 digits


def _basic_credentials(text: str) -> bool:
    """``Basic`` followed by an ordinary word ("basic information") is not a credential."""
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    return ":" in decoded and decoded.isprintable()


@dataclass(frozen=True)
class Shape:
    """A kind of secret or personal data: where it is, and (optionally) a checksum it must pass.

    ``group`` names the part that is hidden (``value``), so ``Bearer ****`` and
    ``postgres://app:****@db`` stay readable; without it the whole match is hidden.
    """

    name: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool] | None = None

    def mask(self, text: str) -> str:
        hidden: int | str = "value" if "value" in self.pattern.groupindex else 0

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if self.valid is not None and not self.valid(match.group(hidden)):
                return whole
            start, end = (i - match.start() for i in match.span(hidden))
            return whole[:start] + MASK + whole[end:]

        return self.pattern.sub(replace, text)


# Left and right edges of a number: not inside a longer run of digits, letters or dashes.
_NUMBER_START = r"(?<![\w-])"
_NUMBER_END = r"(?![\w-])"

# Token formats after their issuers' documentation, checked against detect-secrets' and
# gitleaks' rules. Order matters: specific shapes before the broad ones that could cut them.
SHAPES: tuple[Shape, ...] = (
    Shape(
        "private key",
        re.compile(
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)",
            re.DOTALL,
        ),
    ),
    Shape("JWT", re.compile(r"\beyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}")),
    Shape("pytest-connectors API key", re.compile(r"\bpck_[a-z0-9]{8}_[A-Za-z0-9_-]{16,}")),
    Shape("GitHub fine-grained token", re.compile(r"\bgithub_pat_[A-Za-z0-9_]{20,}")),
    Shape(
        "GitLab token",
        re.compile(
            r"\b(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-[A-Za-z0-9_-]{20,}"
            r"|\bGR1348941[A-Za-z0-9_-]{20,}"
        ),
    ),
    Shape("Hugging Face token", re.compile(r"\bhf_[A-Za-z0-9]{30,}")),
    Shape("Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}")),
    Shape("npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}")),
    Shape("PyPI token", re.compile(r"\bpypi-AgE[A-Za-z0-9_-]{50,}")),
    Shape(
        "prefixed API key",
        re.compile(r"\b(?:sk|pk|rk|lsv2|ls|ghp|gho|ghu|ghs|ghr|xox[abpres])[-_][A-Za-z0-9_-]{12,}"),
    ),
    Shape("AWS access key", re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b")),
    Shape("bearer credentials", re.compile(r"(?i)\bbearer\s+(?P<value>[A-Za-z0-9._~+/=-]{8,})")),
    Shape(
        "basic credentials",
        re.compile(r"(?i)\bbasic\s+(?P<value>[A-Za-z0-9+/]{6,}={0,2})"),
        _basic_credentials,
    ),
    Shape(
        "URL password",
        # scheme://user:password@host, in free text: the password may hold an unencoded "@".
        re.compile(r"(?<![\w+.-])[A-Za-z][\w+.-]*://[^\s/@:?#]*:(?P<value>[^\s/?#]+)@"),
    ),
    Shape(
        "secret assignment",
        re.compile(
            r"(?i)\b(?:api[_-]?key|secret|token|password|passwd|pwd)\"?\s*[:=]\s*\"?"
            r"(?P<value>[^\s\"',;}]{4,})"
        ),
    ),
    Shape(
        "email address",
        # \w is Unicode-aware: jürgen@beispiel.de and 用户@例子.中国 are addresses too.
        # Starting only where a run of such characters starts keeps long words linear.
        re.compile(r"(?<![\w.%+-])[\w.%+-]+@[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[\w-]+)"),
    ),
    Shape(
        "IBAN",
        re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b"),
        _iban_valid,
    ),
    Shape(
        "card number",
        # 13 to 19 digits, grouped by spaces or dashes, starting as card networks' numbers do
        # (2 to 6), and passing the Luhn check: order numbers and timestamps stay.
        re.compile(_NUMBER_START + r"[2-6]\d(?:[ -]?\d){11,17}" + _NUMBER_END),
        _luhn_valid,
    ),
    Shape(
        "US social security number",
        re.compile(_NUMBER_START + r"\d{3}-\d{2}-\d{4}" + _NUMBER_END),
        _ssn_valid,
    ),
    Shape(
        "phone number",
        # International (+33 6 12 34 56 78) or North American ((415) 555-2671, 415.555.2671);
        # bare runs of digits are ids more often than phone numbers, and stay.
        re.compile(
            r"(?<![\w+])\+\d{1,3}(?:[ .-]?\(?\d{1,4}\)?){2,6}"
            + _NUMBER_END
            + r"|"
            + _NUMBER_START
            + r"(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}"
            + _NUMBER_END
        ),
        _phone_valid,
    ),
)


def mask_shapes(text: str, shapes: Iterable[Shape] = SHAPES) -> str:
    """``text`` with everything that looks like personal data or a credential masked."""
    for shape in shapes:
        text = shape.mask(text)
    return text
