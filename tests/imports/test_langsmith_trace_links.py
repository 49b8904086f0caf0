"""Links to LangSmith traces: the import keeps each run's ``app_path`` as its page in the web
app, the conversation links the trace it began in, and the replay's HTML report shows it."""

from __future__ import annotations

import html
from pathlib import Path

import pytest
from children import python_path
from fakes.fixtures import recent_thread
from pytester_ini import write_ini

from pytest_connectors.fakes.langsmith import API_KEY, LangSmithServer

# The database layer is loaded before pytester takes its snapshot of the loaded modules: an
# in-process run would otherwise unload it, and SQLAlchemy cannot be loaded twice.
from pytest_connectors.imports import local  # noqa: F401
from pytest_connectors.imports.facade import Imports
from pytest_connectors.imports.providers.langsmith.provider import web_url_for
from pytest_connectors.models.imports import JobStatus, RecordedConversation

PROJECT = "support-prod"


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.smith.langchain.com", "https://smith.langchain.com"),
        ("https://api.smith.langchain.com/api/v1", "https://smith.langchain.com"),
        ("https://eu.api.smith.langchain.com", "https://eu.smith.langchain.com"),
        ("https://API.smith.langchain.com/", "https://smith.langchain.com"),
        ("https://langsmith.example.com/api/v1", "https://langsmith.example.com"),
        ("https://tools.example.com/langsmith/api", "https://tools.example.com/langsmith"),
        ("http://127.0.0.1:1984", "http://127.0.0.1:1984"),
    ],
)
def test_the_web_app_is_found_from_the_api_url(api_url: str, web_url: str) -> None:
    assert web_url_for(api_url) == web_url


def imported(server: LangSmithServer, db: Path, **config: str) -> RecordedConversation:
    with Imports(db) as imports:
        connector = imports.connectors.create(
            {
                "agentId": "support-bot",
                "name": "LangSmith prod",
                "category": "llm-tracing",
                "provider": "langsmith",
                "config": {
                    "apiKey": API_KEY,
                    "projectName": PROJECT,
                    "apiUrl": server.url + "/api/v1",
                    **config,
                },
            }
        )
        job = imports.jobs.wait(imports.connectors.connect(connector.id).job.id, timeout=120)
        assert job.status is JobStatus.SUCCEEDED, job.error
        [conversation] = imports.conversations.list(connector=connector.id).items
    return conversation


def first_run_path(server: LangSmithServer) -> str:
    """The app_path LangSmith serves for the thread's first root run."""
    roots = [r for r in server.fake.runs.values() if r["parent_run_id"] is None]
    first = min(roots, key=lambda r: r["start_time"])
    path: str = first["app_path"]
    assert path.startswith("/o/") and "/r/" in path
    return path


def test_the_conversation_links_the_trace_it_began_in(
    langsmith_fake: LangSmithServer, tmp_path: Path
) -> None:
    langsmith_fake.fake.add_runs(recent_thread(), project=PROJECT)
    conversation = imported(langsmith_fake, tmp_path / "connectors.db")
    assert len(conversation.turns) == 2
    expected = langsmith_fake.url + first_run_path(langsmith_fake)  # the API's /api/v1 is not
    assert conversation.metadata["langsmith_trace_url"] == expected


def test_a_configured_web_url_wins(langsmith_fake: LangSmithServer, tmp_path: Path) -> None:
    langsmith_fake.fake.add_runs(recent_thread(), project=PROJECT)
    conversation = imported(
        langsmith_fake, tmp_path / "connectors.db", webUrl="https://langsmith.example.com/"
    )
    expected = "https://langsmith.example.com" + first_run_path(langsmith_fake)
    assert conversation.metadata["langsmith_trace_url"] == expected


@pytest.mark.parametrize(
    "app_path",
    ["//evil.example/phish", "javascript:alert(1)", "/o/x/r/1 onclick=alert(1)", 42, ""],
)
def test_a_path_that_would_leave_the_web_app_links_nothing(
    langsmith_fake: LangSmithServer, tmp_path: Path, app_path: object
) -> None:
    langsmith_fake.fake.add_runs(recent_thread(), project=PROJECT)
    for run in langsmith_fake.fake.runs.values():
        run["app_path"] = app_path
    conversation = imported(langsmith_fake, tmp_path / "connectors.db")
    assert "langsmith_trace_url" not in conversation.metadata


def test_the_replay_report_links_the_trace(
    langsmith_fake: LangSmithServer, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    langsmith_fake.fake.add_runs(recent_thread(), project=PROJECT)
    db = pytester.path / "connectors.db"
    imported(langsmith_fake, db)
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    monkeypatch.setenv("PYTHONPATH", python_path())
    write_ini(pytester)
    pytester.makepyfile(
        test_prod="""
        import pytest

        @pytest.mark.replay(source="LangSmith prod")
        def test_production(replay):
            replay.run()
        """
    )
    result = pytester.runpytest(
        "--replay-audit", f"--connectors-db={db}", "--connectors-html=report.html"
    )
    result.assert_outcomes(passed=1)
    page = (pytester.path / "report.html").read_text()
    link = langsmith_fake.url + first_run_path(langsmith_fake)
    assert f'href="{html.escape(link)}"' in page
