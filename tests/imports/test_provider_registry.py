"""The provider registry: built-in specs, plugins found once and lazily, and every way a plugin
can be wrong said in one line naming its distribution, without touching the other providers."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from provider_plugins import distribution

from pytest_connectors import Imports
from pytest_connectors.errors import InvalidInputError, ProviderPluginError
from pytest_connectors.imports import providers
from pytest_connectors.imports.config import job_snapshot, public
from pytest_connectors.imports.local import LocalBackend
from pytest_connectors.imports.provider import ProviderSpec
from pytest_connectors.imports.providers import BUILT_IN, ProviderRegistry
from pytest_connectors.imports.reach import Reach
from pytest_connectors.models.connector import utc_now
from pytest_connectors.models.imports import ImportCategory, ImportConnector

_modules = itertools.count()

SPEC_SOURCE = """
from pytest_connectors.imports.provider import ConfigKey, ProviderSpec
from pytest_connectors.models.imports import ImportCategory

SPEC = ProviderSpec(
    name={name!r},
    category=ImportCategory.LLM_TRACING,
    config={{
        "token": ConfigKey(required=True, secret=True),
        "url": ConfigKey(url=True, default="https://acme.example"),
    }},
    build=lambda settings: None,
)
"""


class Site:
    """Distributions installed on a folder of their own, their modules importable."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.folder = folder
        self.entries: list[EntryPoint] = []
        monkeypatch.syspath_prepend(str(folder))

    def install(
        self, dist: str, source: str, names: Iterable[str], attribute: str = "SPEC"
    ) -> None:
        module = f"plugin_{next(_modules)}_{dist.replace('-', '_')}"
        self.entries += distribution(
            self.folder, dist, module, source, {name: f"{module}:{attribute}" for name in names}
        )

    def registry(self) -> ProviderRegistry:
        return ProviderRegistry(lambda: self.entries)


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    return Site(tmp_path / "site", monkeypatch)


def test_the_built_in_providers_are_specs_with_their_secrets_and_urls() -> None:
    registry = ProviderRegistry(lambda: [])
    assert registry.names() == ["fullstory", "langfuse", "langsmith"] == sorted(BUILT_IN)
    specs = {name: registry.spec(name) for name in registry.names()}
    assert {n: s.secret_keys for n, s in specs.items()} == {
        "fullstory": ("apiKey",),
        "langfuse": ("secretKey",),
        "langsmith": ("apiKey",),
    }
    assert {n: s.url_keys for n, s in specs.items()} == {
        "fullstory": ("apiUrl",),
        "langfuse": ("baseUrl",),
        "langsmith": ("apiUrl",),
    }
    assert all(s.name == n for n, s in specs.items())


def test_an_unknown_provider_lists_the_known_ones(site: Site) -> None:
    site.install("acme-traces", SPEC_SOURCE.format(name="acme"), ["acme"])
    with pytest.raises(InvalidInputError) as caught:
        site.registry().spec("langsmit")
    assert str(caught.value) == (
        "unknown provider 'langsmit'; known providers: acme, fullstory, langfuse, langsmith"
    )


def test_a_name_no_provider_could_have_is_unknown_too(tmp_path: Path) -> None:
    with Imports(str(tmp_path / "imports.db")) as imports, pytest.raises(InvalidInputError) as no:
        imports.connectors.create(
            {"agentId": "a", "name": "n", "category": "llm-tracing", "provider": "LangSmith"}
        )
    assert str(no.value) == (
        "unknown provider 'LangSmith'; known providers: fullstory, langfuse, langsmith"
    )


def test_plugins_are_found_on_first_use_and_only_once(site: Site) -> None:
    site.install("acme-traces", SPEC_SOURCE.format(name="acme"), ["acme"])
    calls: list[int] = []

    def entry_points() -> list[EntryPoint]:
        calls.append(1)
        return site.entries

    registry = ProviderRegistry(entry_points)
    assert calls == []
    assert registry.spec("acme") is registry.spec("acme")
    registry.spec("langsmith")
    registry.names()
    assert calls == [1]


@pytest.mark.parametrize(
    ("install", "message"),
    [
        pytest.param(
            lambda site: site.install("bad-traces", "import no_such_module_here\n", ["acme"]),
            "provider 'acme' of bad-traces 1.0 does not load (ModuleNotFoundError: No module "
            "named 'no_such_module_here'); reinstall or uninstall it",
            id="import-error",
        ),
        pytest.param(
            lambda site: site.install("bad-traces", "SPEC = {'name': 'acme'}\n", ["acme"]),
            "provider 'acme' of bad-traces 1.0: {module}:SPEC is dict, not a ProviderSpec named "
            "'acme'; reinstall or uninstall it",
            id="not-a-spec",
        ),
        pytest.param(
            lambda site: site.install("bad-traces", SPEC_SOURCE.format(name="other"), ["acme"]),
            "provider 'acme' of bad-traces 1.0: {module}:SPEC is a ProviderSpec named 'other', "
            "not a ProviderSpec named 'acme'; reinstall or uninstall it",
            id="wrong-name",
        ),
        pytest.param(
            lambda site: site.install(
                "bad-traces", SPEC_SOURCE.format(name="acme"), ["acme"], "NOPE"
            ),
            "provider 'acme' of bad-traces 1.0 does not load (AttributeError: module "
            "'{module}' has no attribute 'NOPE'); reinstall or uninstall it",
            id="missing-attribute",
        ),
    ],
)
def test_a_broken_plugin_is_one_line_naming_its_distribution(
    site: Site, install: Callable[[Site], None], message: str
) -> None:
    install(site)
    site.install("good-traces", SPEC_SOURCE.format(name="good"), ["good"])
    registry = site.registry()
    module = site.entries[0].value.partition(":")[0]
    with pytest.raises(ProviderPluginError) as caught:
        registry.spec("acme")
    assert str(caught.value) == message.format(module=module)
    assert caught.value.distribution == "bad-traces 1.0"
    assert registry.find("acme") is None
    assert registry.spec("good").name == "good" and registry.spec("langsmith").name == "langsmith"


def test_a_name_two_distributions_claim_is_refused_for_both(site: Site) -> None:
    site.install("acme-traces", SPEC_SOURCE.format(name="acme"), ["acme"])
    site.install("acme-fork", SPEC_SOURCE.format(name="acme"), ["acme"])
    site.install("shadow-traces", SPEC_SOURCE.format(name="langsmith"), ["langsmith"])
    registry = site.registry()
    with pytest.raises(ProviderPluginError) as caught:
        registry.spec("acme")
    assert str(caught.value) == (
        "provider 'acme' is declared by acme-traces 1.0 and by acme-fork 1.0; "
        "uninstall all but one of them"
    )
    with pytest.raises(ProviderPluginError, match="pytest-connectors \\(built in\\) and by "):
        registry.spec("langsmith")
    assert registry.spec("langfuse").name == "langfuse"


@pytest.mark.parametrize(
    ("name", "category", "problem"),
    [
        ("Acme", ImportCategory.LLM_TRACING, "lowercase letters, digits and '-'"),
        ("a" * 33, ImportCategory.LLM_TRACING, "at most 32 characters"),
        ("acme", "llm-tracing", "category must be one of llm-tracing, session-data"),
    ],
)
def test_a_spec_says_what_is_wrong_with_it(name: str, category: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ProviderSpec(name=name, category=category, config={}, build=lambda s: None)  # type: ignore[arg-type,return-value]


def test_a_connector_whose_provider_is_gone_shows_no_config_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(providers, "REGISTRY", ProviderRegistry(lambda: []))
    now = utc_now()
    connector = ImportConnector(
        id="imp_1",
        agent_id="agt_1",
        name="acme prod",
        category=ImportCategory.LLM_TRACING,
        provider="acme",
        config={"token": "acme-token-123456", "url": "https://acme.example"},
        created_at=now,
        updated_at=now,
    )
    assert public(connector).config == {"token": "****", "url": "****"}
    assert job_snapshot(connector)["config"] == {}


def test_a_job_of_a_provider_uninstalled_since_fails_saying_so(
    site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site.install("acme-traces", SPEC_SOURCE.format(name="acme"), ["acme"])
    monkeypatch.setattr(providers, "REGISTRY", site.registry())
    with Imports(str(tmp_path / "imports.db")) as imports:
        imports.connectors.create(
            {
                "agentId": "agt_1",
                "name": "acme prod",
                "category": "llm-tracing",
                "provider": "acme",
                "config": {"token": "acme-token-123456"},
            }
        )
        job = imports.connectors.connect("acme prod").job
        monkeypatch.setattr(providers, "REGISTRY", ProviderRegistry(lambda: []))
        failed = imports.jobs.wait(job.id, timeout=60)
    assert failed.status.value == "failed" and failed.error_code == "provider_unavailable"
    assert failed.error == (
        "unknown provider 'acme'; known providers: fullstory, langfuse, langsmith"
    )


def test_a_plugins_url_keys_are_where_its_secret_may_go(
    site: Site, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    site.install("acme-traces", SPEC_SOURCE.format(name="acme"), ["acme"])
    monkeypatch.setattr(providers, "REGISTRY", site.registry())
    body = {
        "agentId": "agt_1",
        "name": "acme prod",
        "category": "llm-tracing",
        "provider": "acme",
        "config": {"token": "acme-token-123456", "url": "https://127.0.0.1:9/"},
    }
    service = LocalBackend(str(tmp_path / "imports.db"), reach=Reach.service())
    with Imports(backend=service) as imports:
        with pytest.raises(InvalidInputError, match=r"^config\.url .*127\.0\.0\.1"):
            imports.connectors.create(body)
        imports.connectors.create({**body, "config": {"token": "acme-token-123456"}})
        with pytest.raises(InvalidInputError) as caught:
            imports.connectors.update("acme prod", {"config": {"url": "https://elsewhere.example"}})
    assert str(caught.value) == (
        "changing config.url changes where the connector sends its key: give config.token "
        "again in the same change"
    )


def test_a_distribution_whose_entry_points_cannot_be_read_hides_no_other(site: Site) -> None:
    site.install("acme-traces", SPEC_SOURCE.format(name="acme"), ["acme"])
    info = site.folder / "garbled_traces-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: garbled-traces\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text("[pytest_connectors.providers]\nnot an entry\n")
    registry = ProviderRegistry()  # what is installed: this site on sys.path, and the rest
    assert registry.spec("acme").name == "acme"
    assert registry.spec("langfuse").name == "langfuse"
    with pytest.raises(ProviderPluginError) as caught:
        registry.spec("garbled")
    assert caught.value.distribution == "garbled-traces 2.0"
    assert str(caught.value).startswith(
        "unknown provider 'garbled'; known providers: acme, fullstory, langfuse, langsmith; "
        "the entry points of garbled-traces 2.0 cannot be read (TypeError: "
    )
    assert str(caught.value).endswith("): reinstall or uninstall it")
