"""The plugin's options, ini keys and markers, driven as users run pytest (pytester).

Nothing here calls an agent: selecting, parametrizing and resolving connectors needs only the
connector file, so these connectors point at a port nothing listens on.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytester_ini import INI, write_ini

from pytest_connectors import ConnectorStore

NOWHERE = "http://127.0.0.1:9"


def write_connectors(path: Path, *names: str) -> Path:
    """A connector file holding ``names`` ("LangGraph ..." ones are langgraph, others http)."""
    store = ConnectorStore(path)
    for name in names:
        if name.startswith("LangGraph"):
            store.create(
                {
                    "name": name,
                    "type": "langgraph",
                    "baseUrl": NOWHERE,
                    "config": {"assistantId": "agent"},
                }
            )
        else:
            store.create(
                {
                    "name": name,
                    "type": "http",
                    "baseUrl": NOWHERE,
                    "config": {"path": "/v1/chat/completions"},
                }
            )
    return store.path


@pytest.fixture(autouse=True)
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's project: an ini file and data/connectors.json with two connectors."""
    monkeypatch.delenv("PYTEST_CONNECTORS_FILE", raising=False)
    write_ini(pytester)
    return write_connectors(
        pytester.path / "data" / "connectors.json", "LangGraph Dev", "HTTP Agent"
    )


def collected(result: pytest.RunResult) -> list[str]:
    """The node ids ``--collect-only -q`` printed."""
    return [line for line in result.outlines if "::" in line]


SELECTION_SUITE = """
import pytest

def test_plain():
    pass

def test_name(connector_name):
    assert isinstance(connector_name, str)

@pytest.mark.connector("HTTP Agent")
def test_pinned(connector_name):
    assert connector_name == "HTTP Agent"

@pytest.mark.connector("HTTP Agent", "LangGraph Dev")
def test_both(connector, connector_name):
    assert connector.name == connector_name

def test_uses_invoker(invoke_connector, connector_name):
    assert invoke_connector.connector.name == connector_name

def test_indirect(agent_reply, connector_name):
    assert agent_reply == connector_name

class TestGroup:
    pytestmark = pytest.mark.connector("LangGraph Dev")

    def test_class_marker(self, conversation):
        assert conversation.connector.name == "LangGraph Dev"
        assert conversation.messages == []

    @pytest.mark.connector("HTTP Agent")
    def test_closest_marker_wins(self, conversation):
        assert conversation.connector.name == "HTTP Agent"
"""

CONFTEST = """
import pytest

@pytest.fixture
def agent_reply(conversation):
    return conversation.connector.name
"""


# --- help and markers ----------------------------------------------------------------------


def test_help_shows_the_connectors_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "agent connectors (pytest-connectors):",
            "  --connector=NAME *run connector tests against this connector*",
            "  --connectors-file=PATH",
            "  --connectors-report=PATH",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "  connector (linelist):*default connector name(s)",
            "  connectors_file (string):*",
            "  connectors_report (string):*",
        ]
    )


def test_markers_are_listed_with_their_signature(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.connector(*names): run this test against these connectors only*",
            "@pytest.mark.latency(max_ms=None, p95_ms=None): fail the test when*",
        ]
    )


def test_a_suite_using_the_markers_passes_with_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.connector("HTTP Agent")
        @pytest.mark.latency(max_ms=1000, p95_ms=500)
        def test_marked(connector):
            assert connector.name == "HTTP Agent"

        @pytest.mark.latency(60_000)
        def test_only_latency():
            pass
        """
    )
    result = pytester.runpytest("--strict-markers")
    result.assert_outcomes(passed=2)


# --- selection and parametrization ---------------------------------------------------------


def test_connector_tests_run_once_per_selected_connector(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_selection=SELECTION_SUITE)
    result = pytester.runpytest("--connector", "LangGraph Dev", "-v")
    result.assert_outcomes(passed=9)
    result.stdout.fnmatch_lines(["*::test_name?LangGraph Dev? PASSED*"])
    ids = collected(pytester.runpytest("--connector", "LangGraph Dev", "--collect-only", "-q"))
    assert ids == [
        "test_selection.py::test_plain",
        "test_selection.py::test_name[LangGraph Dev]",
        "test_selection.py::test_pinned[HTTP Agent]",
        "test_selection.py::test_both[HTTP Agent]",
        "test_selection.py::test_both[LangGraph Dev]",
        "test_selection.py::test_uses_invoker[LangGraph Dev]",
        "test_selection.py::test_indirect[LangGraph Dev]",
        "test_selection.py::TestGroup::test_class_marker[LangGraph Dev]",
        "test_selection.py::TestGroup::test_closest_marker_wins[HTTP Agent]",
    ]


def test_two_connector_flags_give_both_ids_in_order(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_selection=SELECTION_SUITE)
    args = ["--connector", "HTTP Agent", "--connector", "LangGraph Dev"]
    ids = collected(pytester.runpytest(*args, "--collect-only", "-q"))
    assert [i for i in ids if "test_name" in i or "test_uses_invoker" in i] == [
        "test_selection.py::test_name[HTTP Agent]",
        "test_selection.py::test_name[LangGraph Dev]",
        "test_selection.py::test_uses_invoker[HTTP Agent]",
        "test_selection.py::test_uses_invoker[LangGraph Dev]",
    ]
    assert "test_selection.py::test_plain" in ids
    # The marker still wins over the flags.
    assert [i for i in ids if "test_pinned" in i] == ["test_selection.py::test_pinned[HTTP Agent]"]
    pytester.runpytest(*args).assert_outcomes(passed=12)


def test_a_connector_named_twice_still_runs_once_under_its_own_name(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_twice="def test_name(connector_name): pass")
    ids = collected(
        pytester.runpytest(
            "--connector", "HTTP Agent", "--connector", "HTTP Agent", "--collect-only", "-q"
        )
    )
    assert ids == ["test_twice.py::test_name[HTTP Agent]"]


def test_a_name_repeated_in_the_marker_runs_once(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_twice="""
        import pytest

        @pytest.mark.connector("HTTP Agent", "LangGraph Dev", "HTTP Agent")
        def test_name(connector_name):
            pass
        """
    )
    ids = collected(pytester.runpytest("--collect-only", "-q"))
    assert ids == [
        "test_twice.py::test_name[HTTP Agent]",
        "test_twice.py::test_name[LangGraph Dev]",
    ]


@pytest.mark.parametrize(
    "argnames", ['"connector_name"', '"n, connector_name"', '["n", "connector_name"]']
)
def test_a_users_own_parametrize_of_connector_name_is_kept(
    pytester: pytest.Pytester, argnames: str
) -> None:
    """The user's values win over --connector, and the fixtures follow them."""
    alone = argnames == '"connector_name"'
    values = '["HTTP Agent", "LangGraph Dev"]' if alone else '[(1, "A"), (2, "B")]'
    values = values.replace('"A"', '"HTTP Agent"').replace('"B"', '"LangGraph Dev"')
    n = "" if alone else "n, "
    pytester.makepyfile(
        test_own=f"""
        import pytest

        @pytest.mark.parametrize({argnames}, {values})
        def test_own({n}connector, connector_name, request):
            assert connector.name == connector_name
            assert request.node.callspec.params["connector_name"] == connector_name
        """
    )
    result = pytester.runpytest("--connector", "HTTP Agent", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*test_own*HTTP Agent* PASSED*", "*test_own*LangGraph Dev* PASSED*"]
    )


def test_ini_connector_is_the_default(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "connector = LangGraph Dev")
    pytester.makepyfile(
        """
        def test_name(connector_name):
            assert connector_name == "LangGraph Dev"
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*::test_name?LangGraph Dev? PASSED*"])


def test_ini_connector_takes_several_lines(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "connector =\n    HTTP Agent\n    LangGraph Dev")
    pytester.makepyfile("def test_name(connector_name): pass")
    ids = collected(pytester.runpytest("--collect-only", "-q"))
    assert ids == [
        "test_ini_connector_takes_several_lines.py::test_name[HTTP Agent]",
        "test_ini_connector_takes_several_lines.py::test_name[LangGraph Dev]",
    ]


def test_command_line_connector_wins_over_the_ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "connector = LangGraph Dev")
    pytester.makepyfile("def test_name(connector_name): pass")
    ids = collected(pytester.runpytest("--connector", "HTTP Agent", "--collect-only", "-q"))
    assert ids == ["test_command_line_connector_wins_over_the_ini.py::test_name[HTTP Agent]"]


def test_marker_wins_over_the_ini(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "connector = LangGraph Dev")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.connector("HTTP Agent")
        def test_name(connector_name):
            assert connector_name == "HTTP Agent"
        """
    )
    result = pytester.runpytest("-v")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*::test_name?HTTP Agent? PASSED*"])


def test_tests_without_connector_fixtures_are_not_parametrized(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_plain():
            pass

        @pytest.mark.parametrize("n", [1, 2])
        def test_own_params(n):
            pass

        @pytest.mark.connector("HTTP Agent")
        def test_marked_but_no_fixture():
            pass
        """
    )
    args = ["--connector", "LangGraph Dev", "--connector", "HTTP Agent", "--collect-only", "-q"]
    assert collected(pytester.runpytest(*args)) == [
        "test_tests_without_connector_fixtures_are_not_parametrized.py::test_plain",
        "test_tests_without_connector_fixtures_are_not_parametrized.py::test_own_params[1]",
        "test_tests_without_connector_fixtures_are_not_parametrized.py::test_own_params[2]",
        "test_tests_without_connector_fixtures_are_not_parametrized.py::test_marked_but_no_fixture",
    ]


# --- bad selections ------------------------------------------------------------------------


def test_unknown_connector_option_is_a_usage_error_listing_known_names(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_name(connector_name): pass")
    result = pytester.runpytest("--connector", "Nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: unknown connector 'Nope' in --connector; known connectors: "
            "'LangGraph Dev', 'HTTP Agent'"
        ]
    )


def test_unknown_connector_with_no_file_says_the_file_is_empty(
    pytester: pytest.Pytester, project: Path
) -> None:
    project.unlink()
    result = pytester.runpytest("--connector", "Nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [f"ERROR: unknown connector 'Nope' in --connector; known *none*{project}*"]
    )


def test_unknown_connector_in_the_marker_is_an_error_naming_it(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.connector("HTTP Agent", "Nope")
        def test_name(connector_name):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*unknown connector 'Nope' in @pytest.mark.connector of *::test_name; "
            "known connectors: 'LangGraph Dev', 'HTTP Agent'*"
        ]
    )


def test_unknown_connector_in_the_ini_is_an_error_naming_it(pytester: pytest.Pytester) -> None:
    write_ini(pytester, "connector = Nope")
    pytester.makepyfile("def test_name(connector_name): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown connector 'Nope' in the `connector` ini option; known connectors: *"]
    )


@pytest.mark.parametrize(
    "marker",
    [
        "latency()",
        "latency(max_ms=-5)",
        "latency(max_ms=0)",
        "latency('fast')",
        "latency(p95_ms='200')",
        "latency(max_ms=True)",
        "latency(max=100)",
    ],
)
def test_bad_latency_marker_is_a_usage_error(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *::test_marked: use @pytest.mark.latency(max_ms=..., p95_ms=...) with positive "
            "numbers of milliseconds; got *"
        ]
    )
    result.stdout.no_fnmatch_line("*passed*")


@pytest.mark.parametrize("marker", ["connector()", "connector(3)"])
def test_bad_connector_marker_is_a_usage_error(pytester: pytest.Pytester, marker: str) -> None:
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.{marker}
        def test_marked(connector_name):
            pass
        """
    )
    result = pytester.runpytest()
    output = "\n".join(result.outlines + result.errlines)
    assert "use @pytest.mark.connector('NAME', ...) with one or more connector names" in output
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@pytest.mark.parametrize(
    "fixture", ["connector_name", "connector", "invoke_connector", "conversation"]
)
def test_a_connector_test_with_none_selected_fails_with_a_hint(
    pytester: pytest.Pytester, fixture: str
) -> None:
    pytester.makepyfile(
        f"""
        def test_needs_one({fixture}):
            pass

        def test_plain():
            pass
        """
    )
    result = pytester.runpytest("-rfs", "--junitxml=junit.xml")
    # A failure of the test, as the README says, not an error of its fixtures.
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "this test needs a connector, but none is selected: run pytest with --connector NAME*",
            "FAILED *::test_needs_one*",
        ]
    )
    junit = (pytester.path / "junit.xml").read_text()
    assert "<failure" in junit and "<error" not in junit
    assert "skipped" not in result.stdout.str().lower()


# --- header and connector file -------------------------------------------------------------


def test_header_names_the_selected_connectors_and_file(
    pytester: pytest.Pytester, project: Path
) -> None:
    pytester.makepyfile("def test_plain(): pass\ndef test_name(connector_name): pass")
    result = pytester.runpytest("--connector", "HTTP Agent", "--connector", "LangGraph Dev")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        [
            "collected 3 items",
            f"connectors: HTTP Agent (1 test), LangGraph Dev (1 test) (file: {project})",
        ]
    )


def test_header_names_every_connector_the_tests_will_use(
    pytester: pytest.Pytester, project: Path
) -> None:
    """A connector that a marker adds to the selection is named before the tests run."""
    pytester.makepyfile(
        """
        import pytest

        def test_a(connector_name): pass
        def test_b(connector_name): pass

        @pytest.mark.connector("HTTP Agent")
        def test_pinned(connector_name): pass
        """
    )
    result = pytester.runpytest("--connector", "LangGraph Dev")
    result.assert_outcomes(passed=3)
    assert (
        f"connectors: LangGraph Dev (2 tests), HTTP Agent (1 test) (file: {project})"
        in result.outlines
    )


def test_header_shows_the_ini_selection(pytester: pytest.Pytester, project: Path) -> None:
    write_ini(pytester, "connector = LangGraph Dev")
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest()
    assert f"connectors: LangGraph Dev (no tests) (file: {project})" in result.outlines


def test_header_names_the_selection_under_xdist(pytester: pytest.Pytester, project: Path) -> None:
    pytester.makepyfile("def test_name(connector_name): pass")
    result = pytester.runpytest_subprocess("--connector", "HTTP Agent", "-n", "2")
    result.assert_outcomes(passed=1)
    assert f"connectors: HTTP Agent (file: {project})" in result.outlines


def test_no_header_line_when_nothing_is_selected(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain(): pass")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    result.stdout.no_fnmatch_line("connectors:*")


def test_connectors_file_option_relative_to_the_invocation_dir(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = pytester.mkdir("sub")  # rootdir stays pytester.path (the ini file's folder)
    other = write_connectors(sub / "conf" / "agents.json", "Other Agent")
    (sub / "test_it.py").write_text(
        "def test_name(connector):\n    assert connector.name == 'Other Agent'\n"
    )
    monkeypatch.chdir(sub)
    result = pytester.runpytest(
        "--connectors-file", "conf/agents.json", "--connector", "Other Agent"
    )
    result.assert_outcomes(passed=1)
    assert f"rootdir: {pytester.path}" in result.outlines
    assert f"connectors: Other Agent (1 test) (file: {other})" in result.outlines


def test_connectors_file_ini_is_relative_to_the_ini_file(pytester: pytest.Pytester) -> None:
    project_dir = pytester.mkdir("proj")
    agents = write_connectors(project_dir / "agents.json", "Other Agent")
    (project_dir / "pytest.ini").write_text(
        INI.format(extra="connectors_file = agents.json\nconnector = Other Agent")
    )
    (project_dir / "test_it.py").write_text(
        "def test_name(connector):\n    assert connector.name == 'Other Agent'\n"
    )
    result = pytester.runpytest("proj")  # run from the parent: cwd is not the ini's folder
    result.assert_outcomes(passed=1)
    assert f"connectors: Other Agent (1 test) (file: {agents})" in result.outlines


def test_connectors_file_option_wins_over_the_ini(pytester: pytest.Pytester) -> None:
    write_connectors(pytester.path / "ini_agents.json", "Ini Agent")
    cli = write_connectors(pytester.path / "cli_agents.json", "Cli Agent")
    write_ini(pytester, "connectors_file = ini_agents.json")
    pytester.makepyfile("def test_name(connector): assert connector.name == 'Cli Agent'")
    result = pytester.runpytest("--connectors-file", str(cli), "--connector", "Cli Agent")
    result.assert_outcomes(passed=1)
    assert f"connectors: Cli Agent (1 test) (file: {cli})" in result.outlines


def test_connectors_file_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = write_connectors(pytester.path / "elsewhere" / "env.json", "Env Agent")
    monkeypatch.setenv("PYTEST_CONNECTORS_FILE", str(env_file))
    pytester.makepyfile("def test_name(connector): assert connector.name == 'Env Agent'")
    result = pytester.runpytest("--connector", "Env Agent")
    result.assert_outcomes(passed=1)
    assert f"connectors: Env Agent (1 test) (file: {env_file})" in result.outlines


def test_a_corrupt_file_is_a_usage_error_when_a_connector_is_selected(
    pytester: pytest.Pytester, project: Path
) -> None:
    project.write_text("[{not json")
    pytester.makepyfile("def test_name(connector_name): pass")
    result = pytester.runpytest("--connector", "HTTP Agent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: {project}: not valid JSON at line 1, column 3*"])
