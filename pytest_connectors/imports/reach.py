"""What a connector's config may make the process that runs its jobs do.

Locally the connector's owner writes the config and runs the job, so ``${VAR}`` reads the
process environment and any http(s) URL is reached. On the service a caller writes the config
and the service runs it: a caller must never make the service read its environment or reach
its private network. There only the variables the operator allowed are resolved, and keys go
only to public https hosts unless the operator allows private ones.

The rules travel with each job (in its snapshot), so a standalone worker sharing the service's
database applies the service's rules to the jobs the service queued; the service's own workers
apply the rules it runs with now, so a variable the operator stops allowing is not read even by
a job queued before.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from pytest_connectors._support.variables import REFERENCE, lookup, references
from pytest_connectors.errors import InvalidInputError, MissingVariableError
from pytest_connectors.imports.provider import ProviderError

ALLOW_ENV_FLAG = "serve --allow-env NAME"
ALLOW_PRIVATE_FLAG = "serve --allow-private-destinations"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def address_problem(address: IPAddress) -> str | None:
    """Why a key must not be sent to ``address`` from a service, or None for a public one.

    IPv6 forms that carry an IPv4 address (mapped, 6to4, NAT64, Teredo) are judged by it.
    """
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is None and address.teredo is not None:
            carried = address.teredo[1]
        if carried is not None:
            return address_problem(carried)
    for kind, matches in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if matches:
            return f"a {kind} address"
    if not address.is_global:
        return "not a public address"
    return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to; :class:`httpx.ConnectError` if it does not."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"could not resolve {host!r}") from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in found:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


@dataclass(frozen=True)
class Reach:
    """``allowed_env``: the variables a config may name (None: any, the local rule);
    ``private_destinations``: whether keys may go over http or to non-public hosts."""

    allowed_env: frozenset[str] | None = None
    private_destinations: bool = True

    @classmethod
    def service(
        cls, allowed_env: Iterable[str] = (), *, private_destinations: bool = False
    ) -> Reach:
        return cls(frozenset(allowed_env), private_destinations)

    @property
    def is_local(self) -> bool:
        return self.allowed_env is None

    def narrowed(self, other: Reach) -> Reach:
        """What both allow: a job's rules as the worker running it narrows them."""
        if self.allowed_env is None:
            allowed = other.allowed_env
        elif other.allowed_env is None:
            allowed = self.allowed_env
        else:
            allowed = self.allowed_env & other.allowed_env
        return Reach(allowed, self.private_destinations and other.private_destinations)

    # -- travelling with a job ---------------------------------------------------------------

    def snapshot(self) -> dict[str, Any] | None:
        if self.allowed_env is None:
            return None
        return {
            "allowedEnv": sorted(self.allowed_env),
            "privateDestinations": self.private_destinations,
        }

    @classmethod
    def from_snapshot(cls, data: Any) -> Reach:
        if not isinstance(data, Mapping):
            return cls()
        return cls.service(
            [str(name) for name in data.get("allowedEnv") or ()],
            private_destinations=bool(data.get("privateDestinations")),
        )

    # -- the checks ----------------------------------------------------------------------------

    def check_config(self, config: Mapping[str, Any], url_keys: Sequence[str]) -> None:
        """Refuse, as bad input, a config this process may not act on (create, update, connect);
        ``url_keys`` are where its provider sends the secret (`ProviderSpec.url_keys`).

        A host name that does not resolve now passes: it is checked again when the job runs.
        """
        problems = [self._variable_problem(config)]
        problems += [self._destination_problem(config.get(k), k, True) for k in url_keys]
        for problem in problems:
            if problem is not None:
                raise InvalidInputError(problem)

    def check_variables(self, config: Mapping[str, Any]) -> None:
        """Refuse to run a job whose config names a variable not allowed (any more)."""
        problem = self._variable_problem(config)
        if problem is not None:
            raise ProviderError("variable_not_allowed", problem, transient=False)

    def check_destination(self, url: str, key: str) -> None:
        """Refuse to run a job whose resolved destination (``config[key]``) breaks the rules;
        its addresses are checked by :meth:`transport` on every connection."""
        problem = self._destination_problem(url, key, False)
        if problem is not None:
            raise ProviderError("destination_refused", problem, transient=False)

    def environ(self, source: Mapping[str, str] | None = None) -> Mapping[str, str] | None:
        """Where a job's ``${VAR}`` are looked up: ``source`` (None: the process environment)
        locally; on a service, only the allowed variables of it."""
        if self.allowed_env is None:
            return source
        values = {name: lookup(name, source) for name in sorted(self.allowed_env)}
        return {name: value for name, value in values.items() if value is not None}

    def missing_variable(self, error: MissingVariableError) -> str:
        """What to do about a ``${VAR}`` the job found unset: locally, export it; on a
        service, it belongs to the service's environment, which only its operator sets."""
        if self.is_local:
            return str(error)
        name = error.variable
        return (
            f"connector {error.connector!r} refers to ${{{name}}}, which is not set in the "
            f"environment of the service running the job: the variable belongs to the service's "
            f"environment, not yours; its operator sets {name} where `pytest-connectors serve` "
            f"(and any `pytest-connectors worker`) runs, allowed with `serve --allow-env {name}`"
        )

    def transport(self) -> httpx.BaseTransport | None:
        """The transport a job's provider must use (None: httpx's own)."""
        return None if self.private_destinations else PublicOnlyTransport()

    def _variable_problem(self, config: Mapping[str, Any]) -> str | None:
        if self.allowed_env is None:
            return None
        for key, value in config.items():
            if not isinstance(value, str):
                continue
            for name in references(value):
                if name not in self.allowed_env:
                    return (
                        f"config.{key} refers to ${{{name}}}, which this service does not "
                        f"allow: give the value itself, or ask its operator to allow the "
                        f"variable ({ALLOW_ENV_FLAG})"
                    )
        return None

    def _destination_problem(self, url: Any, key: str, resolving: bool) -> str | None:
        if self.is_local or not isinstance(url, str):
            return None
        if resolving and REFERENCE.search(url):
            return None  # resolved only when a job runs, and checked then
        where = f"config.{key}"
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return f"{where} is not a valid URL"
        schemes = ("https", "http") if self.private_destinations else ("https",)
        if parts.scheme not in schemes:
            return (
                f"{where} must be an https URL: this service sends keys only over https "
                f"(its operator allows http with {ALLOW_PRIVATE_FLAG})"
            )
        if "#" in url or "?" in url:
            return f"{where} must not hold a query (?) or a fragment (#): give the API's base URL"
        if "@" in parts.netloc:
            return f"{where} must not hold user info (user@): the key goes in config.apiKey"
        host = parts.hostname
        if not host:
            return f"{where} has no host"
        if self.private_destinations:
            return None
        literal = _literal_address(host)
        if literal is not None:
            addresses = [literal]
        elif host == "localhost" or host.endswith((".localhost", ".localhost.")):
            addresses = [ipaddress.IPv4Address("127.0.0.1")]
        elif resolving:
            try:
                addresses = resolve(host, port or 443)
            except httpx.ConnectError:
                return None
        else:
            return None  # the transport resolves and checks it on every connection
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                return (
                    f"{where} host {host} is {problem}: this service sends keys only to public "
                    f"hosts (its operator allows private ones with {ALLOW_PRIVATE_FLAG})"
                )
        return None


LOCAL = Reach()


class PublicOnlyTransport(httpx.BaseTransport):
    """Connects over https to public addresses only, for every request (redirects included).

    It resolves the host itself, refuses when any address is not public, and connects to the
    address it checked (the certificate is still checked against the host name), so a name that
    resolves elsewhere a moment later (DNS rebinding) does not slip through.
    """

    def __init__(self, inner: httpx.BaseTransport | None = None) -> None:
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        host = url.host
        if url.scheme != "https":
            raise ProviderError(
                "destination_refused",
                f"refused to send a request to {url.scheme}://{host}: this service sends keys "
                f"only over https (its operator allows http with {ALLOW_PRIVATE_FLAG})",
                transient=False,
            )
        literal = _literal_address(host)
        addresses = [literal] if literal is not None else resolve(host, url.port or 443)
        for address in addresses:
            problem = address_problem(address)
            if problem is not None:
                raise ProviderError(
                    "destination_refused",
                    f"refused to connect to {host}, {problem}: this service sends requests only "
                    f"to public hosts (its operator allows private ones with {ALLOW_PRIVATE_FLAG})",
                    transient=False,
                )
        request.url = url.copy_with(host=str(addresses[0]))
        request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()
