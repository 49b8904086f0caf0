"""The public names: one table in ``pytest_connectors/__init__.py`` decides them."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest_connectors
from pytest_connectors import errors


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


FULLSTORY = "pytest_connectors.imports.providers.fullstory"
# Exceptions that never reach a caller: each is caught, or turned into one of the tree's, inside
# the package. A new exception class goes into errors.py, or here with the place that catches it.
INTERNAL_EXCEPTIONS = {
    "pytest_connectors._support.atomic.LockTimeout": "ConnectorStore -> ConnectorFileError",
    "pytest_connectors.cli.main.UsageError": "the CLI: one line, exit code 2",
    "pytest_connectors.client.transport.RedirectRefusedError": "a failed invoke result",
    "pytest_connectors.client.transport.ReplyTooLargeError": "failed result / ProviderError",
    "pytest_connectors.evaluation.prompts.UnreadableVerdict": "the judge -> JudgeError",
    f"{FULLSTORY}.provider._Gone": "the FullStory provider",
    f"{FULLSTORY}.provider._LinkExpired": "the FullStory provider",
    "pytest_connectors.imports.http_provider.TryAgain": "the providers' retry loop",
    f"{FULLSTORY}.gzip_ndjson.ExportTooLargeError": "FullStory -> ProviderError",
    f"{FULLSTORY}.gzip_ndjson.MalformedExportError": "FullStory -> ProviderError",
    "pytest_connectors.imports.otlp.receiver.ReceiverBusy": "the OTLP route: a 429 answer",
    "pytest_connectors.imports.otlp.receiver.TooManySpans": "the OTLP route: a 413 answer",
    "pytest_connectors.imports.replies.Interrupted": "the providers: the job stops",
    "pytest_connectors.imports.replies.TooManyValuesError": "the providers -> ProviderError",
    "pytest_connectors.imports.sync.LeaseLost": "the worker: leaves the job",
    "pytest_connectors.replay.runner.UnreplayableCase": "the plugin: a skipped case",
    "pytest_connectors.replay.scheduler.NotStarted": "the plugin: a case never started",
    "pytest_connectors.service.guard.BodyTooLarge": "the service: a 413 answer",
    "pytest_connectors.service.problems.ServiceProblem": "the service: an error answer",
    "pytest_connectors.wire.http.ReplyError": "the client: a failed invoke result",
    "pytest_connectors.wire.langgraph.RunError": "the client: a failed invoke result",
    "pytest_connectors.wire.otlp.DecodedTooLarge": "the OTLP route: a 413 answer; the fakes",
    "pytest_connectors.wire.otlp.MalformedRequest": "the OTLP route (400), load-otlp; the fakes",
    "pytest_connectors.wire.otlp.UnsupportedEncoding": "the OTLP route: a 415 answer; the fakes",
}


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in the package, by its qualified name."""
    found: dict[str, type[BaseException]] = {}
    for module_info in pkgutil.walk_packages(pytest_connectors.__path__, "pytest_connectors."):
        if module_info.name.endswith("__main__"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_every_exception_a_user_can_catch_is_in_the_tree_and_exported() -> None:
    tree = set(pytest_connectors._MODULES["errors"])
    exported = {getattr(pytest_connectors, name) for name in pytest_connectors.__all__}
    stray = []
    for qualified, cls in sorted(_exception_classes().items()):
        if cls.__module__ == "pytest_connectors.errors":
            assert cls.__name__ in tree, f"{cls.__name__} is in errors.py but not exported"
            assert issubclass(cls, errors.ConnectorError), f"{cls.__name__} is outside the tree"
        elif issubclass(cls, AssertionError):  # how a test fails: exported where it is raised
            assert cls in exported, f"{qualified} fails tests but is not exported"
        elif qualified not in INTERNAL_EXCEPTIONS:
            stray.append(qualified)
    assert stray == [], "move these to pytest_connectors/errors.py and export them"
    assert set(INTERNAL_EXCEPTIONS) <= set(_exception_classes()), "a listed class is gone"


def test_what_a_remote_imports_raises_is_exported() -> None:
    # The names a caller of Imports(url=...) catches come from the package itself.
    for name in ("ServiceError", "ServiceAuthError", "ProviderError", "ConversationNotFoundError"):
        assert issubclass(getattr(pytest_connectors, name), pytest_connectors.ConnectorError)
    assert issubclass(pytest_connectors.ServiceAuthError, pytest_connectors.ServiceError)
    assert issubclass(pytest_connectors.MissingDependencyError, ImportError)
