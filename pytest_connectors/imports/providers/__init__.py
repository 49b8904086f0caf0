"""The one registry of providers: the built-in ones, one line each, and those other
distributions declare in the ``pytest_connectors.providers`` entry-point group.

Specs load on first use, once: a command that never names a provider imports none. A plugin
that does not load, or whose name two distributions claim, is an error where that provider is
asked for (naming the distribution), never for the others. Providers are built only when a job
runs: that is when ``${VAR}`` is resolved.
"""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib.metadata import Distribution, EntryPoint, distributions

import httpx

from pytest_connectors._support.variables import references, resolve
from pytest_connectors.errors import InvalidInputError, ProviderPluginError
from pytest_connectors.imports.limits import ProviderLimits
from pytest_connectors.imports.provider import Provider, ProviderSettings, ProviderSpec
from pytest_connectors.models.imports import ImportConnector

ENTRY_POINT_GROUP = "pytest_connectors.providers"

# Adding a provider is its folder and a line here.
BUILT_IN: dict[str, str] = {
    "langsmith": "pytest_connectors.imports.providers.langsmith:SPEC",
    "langfuse": "pytest_connectors.imports.providers.langfuse:SPEC",
    "fullstory": "pytest_connectors.imports.providers.fullstory:SPEC",
}


@dataclass(frozen=True)
class _Source:
    target: str  # "module:attribute"
    distribution: str | None  # None: built in


@dataclass(frozen=True)
class Unreadable:
    """An installed distribution whose entry points cannot be read (a malformed
    ``entry_points.txt``): it may declare a provider, so an unknown name says so."""

    distribution: str
    problem: str


def _installed() -> Iterator[EntryPoint | Unreadable]:
    """This group's entry points, distribution by distribution: one whose entry points cannot
    be read is named, and the others still count. The first of a name on the path wins, as
    ``importlib.metadata.entry_points`` has it."""
    seen: set[str] = set()
    for dist in distributions():
        try:
            found = list(dist.entry_points.select(group=ENTRY_POINT_GROUP))
        except Exception as exc:  # one bad distribution must not hide the others
            yield Unreadable(_named(dist), f"{type(exc).__name__}: {exc}"[:200])
            continue
        if not found:
            continue  # most distributions: their metadata is not even read
        name = re.sub(r"[-_.]+", "-", str(dist.metadata["Name"] or "")).lower()
        if name not in seen:
            seen.add(name)
            yield from found


def _named(dist: Distribution) -> str:
    return f"{dist.metadata['Name']} {dist.version}"


def _distribution(entry: EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    return _named(dist) if dist is not None else f"the entry point {entry.value}"


class ProviderRegistry:
    """Provider specs by name; ``entry_points`` lists the installed plugins (tests pass some)."""

    def __init__(
        self, entry_points: Callable[[], Iterable[EntryPoint | Unreadable]] = _installed
    ) -> None:
        self._entry_points = entry_points
        self._lock = threading.Lock()
        self._sources: dict[str, list[_Source]] | None = None
        self._unreadable: list[Unreadable] = []
        self._loaded: dict[str, ProviderSpec | ProviderPluginError] = {}

    def names(self) -> list[str]:
        return sorted(self._scan())

    def spec(self, name: str) -> ProviderSpec:
        """The spec registered as ``name``; `InvalidInputError` listing the known names if there
        is none, `ProviderPluginError` if its plugin cannot be used."""
        sources = self._scan().get(name)
        if not sources:
            unknown = f"unknown provider {name!r}; known providers: {', '.join(self.names())}"
            if self._unreadable:
                bad = self._unreadable[0]
                raise ProviderPluginError(
                    bad.distribution,
                    f"{unknown}; the entry points of {bad.distribution} cannot be read "
                    f"({bad.problem}): reinstall or uninstall it",
                )
            raise InvalidInputError(unknown)
        with self._lock:
            found = self._loaded.get(name)
            if found is None:
                found = self._loaded[name] = _load(name, sources)
        if isinstance(found, ProviderPluginError):
            raise found.with_traceback(None)  # cached: each raise starts afresh
        return found

    def find(self, name: str) -> ProviderSpec | None:
        """The spec of ``name``, or None when it is unknown or its plugin cannot be used."""
        try:
            return self.spec(name)
        except InvalidInputError:
            return None

    def _scan(self) -> dict[str, list[_Source]]:
        with self._lock:
            if self._sources is None:
                sources = {name: [_Source(target, None)] for name, target in BUILT_IN.items()}
                for entry in self._entry_points():
                    if isinstance(entry, Unreadable):
                        self._unreadable.append(entry)
                        continue
                    source = _Source(entry.value, _distribution(entry))
                    sources.setdefault(entry.name, []).append(source)
                self._sources = sources
            return self._sources


def _load(name: str, sources: list[_Source]) -> ProviderSpec | ProviderPluginError:
    if len(sources) > 1:
        claimants = [s.distribution or "pytest-connectors (built in)" for s in sources]
        return ProviderPluginError(
            next(s.distribution for s in sources if s.distribution),
            f"provider {name!r} is declared by {' and by '.join(claimants)}; "
            "uninstall all but one of them",
        )
    source = sources[0]
    module, _, attribute = source.target.partition(":")
    try:
        spec = getattr(importlib.import_module(module), attribute or "SPEC")
    except Exception as exc:  # a plugin's import error must not end an unrelated command
        if source.distribution is None:
            raise
        reason = (str(exc).splitlines() or [""])[0][:200]
        return ProviderPluginError(
            source.distribution,
            f"provider {name!r} of {source.distribution} does not load "
            f"({type(exc).__name__}: {reason}); reinstall or uninstall it",
        )
    if not isinstance(spec, ProviderSpec) or spec.name != name:
        what = f"a ProviderSpec named {spec.name!r}" if isinstance(spec, ProviderSpec) else None
        distribution = source.distribution or "pytest-connectors"
        return ProviderPluginError(
            distribution,
            f"provider {name!r} of {distribution}: {source.target} is "
            f"{what or type(spec).__name__}, not a ProviderSpec named {name!r}; "
            "reinstall or uninstall it",
        )
    return spec


REGISTRY = ProviderRegistry()


def spec_of(name: str) -> ProviderSpec:
    return REGISTRY.spec(name)


def find_spec(name: str) -> ProviderSpec | None:
    return REGISTRY.find(name)


def _setting(connector: ImportConnector, key: str, environ: Mapping[str, str] | None) -> str | None:
    value = connector.config.get(key)
    if isinstance(value, str):
        return resolve(value, connector=connector.name, environ=environ)
    return None


def resolved_values(
    connector: ImportConnector, environ: Mapping[str, str] | None = None
) -> list[str]:
    """The secrets and every variable's value the config refers to: what a job's texts must
    not show (a variable may hold a secret wherever it is used, in a URL too)."""
    spec = spec_of(connector.provider)
    values: list[str] = []
    for key in spec.secret_keys:
        value = _setting(connector, key, environ)
        if value:
            values.append(value)
        elif spec.config[key].required:
            raise InvalidInputError(
                f"import connector {connector.name!r} has no {key}; set it with update and retry"
            )
    for value in connector.config.values():
        if isinstance(value, str):
            values += [
                resolve(f"${{{name}}}", connector=connector.name, environ=environ)
                for name in references(value)
            ]
    return values


def destination(
    connector: ImportConnector, key: str, environ: Mapping[str, str] | None = None
) -> str:
    """Where the connector sends its secret, as its ``config[key]`` (apiUrl, baseUrl) says."""
    return (
        _setting(connector, key, environ) or spec_of(connector.provider).config[key].default or ""
    )


def provider_for(
    connector: ImportConnector,
    *,
    environ: Mapping[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
    limits: ProviderLimits | None = None,
) -> Provider:
    """A ready provider for ``connector`` (its config as the job sees it), within ``limits``."""
    spec = spec_of(connector.provider)
    resolved_values(connector, environ)  # a required secret missing: said before building
    values = {key: c.default for key, c in spec.config.items() if c.default is not None}
    for key in connector.config:
        value = _setting(connector, key, environ)
        if value is not None:
            values[key] = value
    return spec.build(ProviderSettings(values, transport=transport, limits=limits))
