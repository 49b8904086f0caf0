"""The documentation holds together: every python and bash block is run by a test (or says why
not), and every relative link leads to a file and heading that exist."""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import documentation
import pytest

TESTS = Path(__file__).resolve().parents[1]
CHECKED_LANGUAGES = ("python", "bash")
_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def selectors(source: str) -> list[tuple[str, str, str | None]]:
    """The (language, containing, page) of every ``block(...)``/``blocks(...)`` call in a file
    whose arguments are written as plain strings."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in ("block", "blocks") or not node.args:
            continue
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        pages = [k.value for k in node.keywords if k.arg == "page"]
        page = pages[0].value if pages and isinstance(pages[0], ast.Constant) else None
        if len(args) == len(node.args) and all(isinstance(a, str) for a in args):
            found.append((args[0], args[1] if len(args) > 1 else "", page))
    return found


def executed_by_tests() -> set[documentation.Block]:
    run: set[documentation.Block] = set()
    for path in TESTS.rglob("test_*.py"):
        for language, containing, page in selectors(path.read_text(encoding="utf-8")):
            run.update(
                b
                for b in documentation.ALL
                if b.language == language
                and containing in b.body
                and (page is None or b.page == documentation.ROOT / page)
            )
    return run


def test_every_python_and_bash_block_is_run_or_says_why_not() -> None:
    run = executed_by_tests()
    unrun = [
        str(b)
        for b in documentation.ALL
        if b.language in CHECKED_LANGUAGES and b not in run and b.not_run is None
    ]
    assert not unrun, (
        "these blocks are run by no test: run one with tests/documentation.py's block(), or put "
        "'<!-- not-run: reason -->' on the line before the fence: " + ", ".join(unrun)
    )


def test_the_check_sees_a_block_no_test_runs(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\necho run\n```\n\n<!-- not-run: needs a cluster -->\n```bash\nkubectl x\n```\n"
        "\n```bash\nnobody runs this\n```\n"
    )
    found = documentation._blocks_of(page)
    assert [b.not_run for b in found] == [None, "needs a cluster", None]
    source = 'block("bash", "echo run")\ndocs.blocks("bash", page="README.md")\n'
    assert selectors(source) == [("bash", "echo run", None), ("bash", "", "README.md")]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    content = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    seen: Counter[str] = Counter()
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", content, flags=re.M):
        base = slug(heading)
        found.add(f"{base}-{seen[base]}" if seen[base] else base)
        seen[base] += 1
    return found


def links(page: Path) -> list[str]:
    content = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.M | re.S)
    content = re.sub(r"`[^`\n]*`", "", content)  # code spans are not links
    return _LINK.findall(content)


def broken_links(page: Path) -> list[str]:
    broken = []
    for target in links(page):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target} (no heading #{anchor} in {resolved.name})")
    return broken


@pytest.mark.parametrize(
    "page", documentation.PAGES, ids=lambda p: str(p.relative_to(documentation.ROOT))
)
def test_every_relative_link_resolves(page: Path) -> None:
    broken = broken_links(page)
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_link_check_sees_a_missing_file_and_heading(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("# Start here\n\n## `serve` and its keys\n\n## Start here\n")
    assert anchors(tmp_path / "a.md") == {"start-here", "serve-and-its-keys", "start-here-1"}
    (tmp_path / "b.md").write_text(
        "[ok](a.md#start-here) [bad](a.md#nowhere) [gone](c.md) [here](#top)\n"
        "`[code](x.md)` [web](https://x.y)\n\n```md\n[in a block](y.md)\n```\n"
    )
    assert broken_links(tmp_path / "b.md") == [
        "a.md#nowhere (no heading #nowhere in a.md)",
        "c.md (no such file)",
        "#top (no heading #top in b.md)",
    ]


def test_the_readme_stays_short() -> None:
    lines = documentation.text("README.md").count("\n")
    assert lines <= 200, f"README.md has {lines} lines: move the detail to a page under docs/"
