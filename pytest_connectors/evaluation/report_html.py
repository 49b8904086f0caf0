"""The JSON report rendered as one self-contained HTML page.

The page is built from the same document as the JSON report, in memory, and asks for nothing:
CSS and script are inline and allowed by their hashes in a Content-Security-Policy that forbids
every request, charts are inline SVG, and it opens from ``file://``. Every text is escaped by
Jinja2's autoescape; the only links are anchors inside the page and http(s) trace links.
Secrets are masked here too, by the one policy, as a report file may come from anywhere.
"""

from __future__ import annotations

import base64
import difflib
import functools
import hashlib
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_connectors._support.secrets import mask_arguments, mask_fields, mask_url
from pytest_connectors.errors import MissingDependencyError
from pytest_connectors.evaluation.latency import percentile, tool_result_text

TEMPLATES = Path(__file__).with_name("templates")
HISTOGRAM_BINS = 20
OUTCOMES = ("passed", "failed", "error", "skipped")


def anchor(test: str) -> str:
    """A stable ``id`` for a test, the same in every run: a short hash of its node id (short, as
    a page of 10,000 tests holds each three times)."""
    return f"test-{hashlib.sha1(test.encode()).hexdigest()[:12]}"


def is_web_link(url: str) -> bool:
    """Links the page may show: http(s) only, never ``javascript:`` or ``data:``."""
    return url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url)


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@functools.cache
def _environment() -> Any:
    try:
        import jinja2
    except ImportError:
        raise MissingDependencyError(
            "the HTML report needs Jinja2: pip install 'pytest-connectors[report]'"
        ) from None
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["text"] = _element_text
    return environment


def _element_text(value: object) -> Any:
    """Escaped for an element's content, never an attribute's: quotes stay quotes there (a
    transcript of JSON tool arguments is much shorter), ``<``, ``>`` and ``&`` are escaped."""
    import markupsafe

    return markupsafe.Markup(html.escape(str(value), quote=False))


def check_renderer() -> None:
    """Raises MissingDependencyError, saying what to install, when the page cannot be written."""
    _environment()


def histogram(latencies: Sequence[float], bins: int = HISTOGRAM_BINS) -> dict[str, Any]:
    """Bars of an SVG latency histogram (linear bins from 0 to the slowest call)."""
    top = max(latencies, default=0.0) or 1.0
    counts = [0] * bins
    for value in latencies:
        counts[min(bins - 1, int(value / top * bins))] += 1
    tallest = max(counts, default=0) or 1
    width, height = 300, 80
    bar = width / bins
    return {
        "width": width,
        "height": height,
        "max_ms": top,
        "bars": [
            {
                "x": round(i * bar, 2),
                "y": round(height - count / tallest * height, 2),
                "w": round(bar - 1, 2),
                "h": round(count / tallest * height, 2),
                "label": f"{i * top / bins:.0f}-{(i + 1) * top / bins:.0f} ms: {count} calls",
            }
            for i, count in enumerate(counts)
        ],
    }


def _strip_connector(test: str, connector: str | None) -> str:
    """The test's node id without the connector in its parameters: one matrix row per test."""
    if not connector or not test.endswith("]") or "[" not in test:
        return test
    head, _, params = test[:-1].partition("[")
    if params == connector:
        return head
    for candidate in (f"{connector}-", f"-{connector}"):
        if candidate in params:
            params = params.replace(candidate, "", 1)
            return f"{head}[{params}]"
    return test


def text_diff(before: str, after: str) -> list[tuple[str, str]]:
    """Word-level diff of two answers as ``(op, text)`` pieces: ``=`` same, ``-`` only in
    ``before``, ``+`` only in ``after``. Texts in a report are cut to a few thousand characters,
    which bounds the work."""
    old, new = before.split(" "), after.split(" ")
    pieces: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            pieces.append(("=", " ".join(old[i1:i2])))
            continue
        if i2 > i1:
            pieces.append(("-", " ".join(old[i1:i2])))
        if j2 > j1:
            pieces.append(("+", " ".join(new[j1:j2])))
    return pieces


def _call_texts(side: Mapping[str, Any] | None) -> list[tuple[str, str | None]]:
    """Each tool call as text, with its result (masked again: the file may come from anywhere)."""
    if side is None:
        return []
    return [
        (
            f"{call['name']} {json.dumps(_masked_args(call), ensure_ascii=False, sort_keys=True)}",
            _masked_result(call),
        )
        for call in side.get("tool_calls", [])
    ]


def _masked_result(call: Mapping[str, Any]) -> str | None:
    result = call.get("result")
    return tool_result_text(result) if isinstance(result, str) else None


def _masked_args(call: Mapping[str, Any]) -> Any:
    """A tool call's arguments as the JSON report masks them: a report file from anywhere may
    not have been masked (written by hand, or by another tool)."""
    args = call.get("args", {})
    return mask_fields(args) if isinstance(args, Mapping) else args


def _masked_environment(environment: Mapping[str, Any]) -> dict[str, Any]:
    """The header's facts with connector URLs and the command line masked, as the run does."""
    args = environment.get("pytest_args")
    return {
        "when": None,
        "git_commit": None,
        "git_branch": None,
        **environment,
        "pytest_args": mask_arguments(str(a) for a in args) if isinstance(args, list) else None,
        "connectors": [
            {**c, "url": mask_url(c["url"]) if isinstance(c.get("url"), str) else None}
            for c in environment.get("connectors") or []
            if isinstance(c, Mapping)
        ],
    }


def _marked(
    calls: list[tuple[str, str | None]], other: list[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """Each tool call, marked when the other side made no such call (same name and arguments;
    the results may differ, as live data does)."""
    left = [text for text, _ in other]
    marked = []
    for text, result in calls:
        differs = text not in left
        if not differs:
            left.remove(text)
        marked.append({"text": text, "result": result, "differs": differs})
    return marked


def replay_view(conversation: Mapping[str, Any]) -> dict[str, Any]:
    """A replayed conversation laid out turn by turn: both sides' tool calls, the differing ones
    marked, and the answers' diff."""
    turns = []
    for turn in conversation.get("turns", []):
        blank: dict[str, Any] = {"answer": "", "error": None, "latency_ms": None, "tool_calls": []}
        production = {**blank, **(turn.get("production") or {})}
        candidate = {**blank, **turn["candidate"]} if turn.get("candidate") else None
        ours, theirs = _call_texts(production), _call_texts(candidate)
        before = str(production.get("answer") or "")
        after = str(candidate.get("answer") or "") if candidate is not None else ""
        turns.append(
            {
                "turn": turn.get("turn"),
                "user": turn.get("user", []),
                "production": {**production, "calls": _marked(ours, theirs)},
                "candidate": (
                    {**candidate, "calls": _marked(theirs, ours)} if candidate is not None else None
                ),
                "diff": text_diff(before, after)
                if candidate is not None and before != after
                else [],
                "diverged": turn.get("turn") == conversation.get("diverged_at"),
            }
        )
    links = [
        {**link, "url": mask_url(link["url"])}
        for link in conversation.get("links", [])
        if isinstance(link.get("url"), str) and is_web_link(link["url"])
    ]
    return {
        "case": conversation.get("case"),
        "source": conversation.get("source"),
        "diverged_at": conversation.get("diverged_at"),
        "links": links,
        "turns": turns,
    }


def view(document: Mapping[str, Any]) -> dict[str, Any]:
    """What the template shows, computed once here so the template only lays it out."""
    tests: list[Mapping[str, Any]] = list(document.get("tests", []))
    calls: list[Mapping[str, Any]] = list(document.get("calls", []))
    calls_by_test: dict[str, list[Mapping[str, Any]]] = {}
    for call in calls:
        calls_by_test.setdefault(call["test"], []).append(call)
    known = {t["test"] for t in tests}
    for test in calls_by_test.keys() - known:  # calls of a test whose outcome was not seen
        tests.append({"test": test, "connector": calls_by_test[test][0]["connector"]})
    judgements: dict[str, list[Mapping[str, Any]]] = {}
    for judgement in document.get("judgements", []):
        judgements.setdefault(judgement["test"], []).extend(judgement.get("criteria", []))
    replay = document.get("replay") or {}
    diverged = {d["test"]: d for d in replay.get("diverged", [])}
    replays = {c["test"]: c for c in replay.get("conversations", [])}

    rows = []
    for t in sorted(tests, key=lambda t: t["test"]):
        name = t["test"]
        own = sorted(calls_by_test.get(name, []), key=lambda c: c["turn"])
        connector = t.get("connector") or (own[0]["connector"] if own else None)
        latencies = [c["latency_ms"] for c in own]
        criteria = judgements.get(name, [])
        scores = [c["score"] for c in criteria if isinstance(c.get("score"), int | float)]
        rows.append(
            {
                "test": name,
                "anchor": anchor(name),
                "connector": connector or "",
                "row": _strip_connector(name, connector),
                # Known outcomes only: the page writes it unquoted into attributes.
                "outcome": t["outcome"] if t.get("outcome") in OUTCOMES else "unknown",
                "message": mask_url(t.get("message") or ""),
                "duration_ms": t.get("duration_ms"),
                "p50_ms": percentile(latencies, 50) if latencies else None,
                "score": min(scores) if scores else None,
                "turns": [
                    {
                        "user": [],
                        "answer": "",
                        "error": None,
                        **call,
                        "tool_calls": [
                            {
                                "name": tc["name"],
                                "args": json.dumps(_masked_args(tc), ensure_ascii=False),
                                "result": _masked_result(tc),
                            }
                            for tc in call.get("tool_calls", [])
                        ],
                    }
                    for call in own
                ],
                "criteria": [{"score": None, "reason": "", "ok": False, **c} for c in criteria],
                "diverged": diverged.get(name),
                "replay": replay_view(replays[name]) if name in replays else None,
            }
        )

    summary = document.get("connectors", {})
    names = sorted({r["connector"] for r in rows if r["connector"]} | set(summary))
    connectors = []
    for name in names:
        outcomes = [r["outcome"] for r in rows if r["connector"] == name]
        latencies = [c["latency_ms"] for c in calls if c["connector"] == name]
        connectors.append(
            {
                "name": name,
                "tests": {o: outcomes.count(o) for o in OUTCOMES},
                "summary": summary.get(name),
                "histogram": histogram(latencies) if latencies else None,
            }
        )
    matrix = None
    if len(names) > 1:
        cells: dict[str, dict[str, Mapping[str, Any]]] = {}
        for r in rows:
            if r["connector"]:
                cells.setdefault(r["row"], {})[r["connector"]] = r
        matrix = {"connectors": names, "rows": sorted(cells.items())}
    return {
        "environment": _masked_environment(document.get("environment") or {}),
        "comparison": document.get("comparison"),
        "anchors": {r["test"]: r["anchor"] for r in rows},
        "connectors": connectors,
        "matrix": matrix,
        "tests": rows,
        "totals": {o: sum(1 for r in rows if r["outcome"] == o) for o in OUTCOMES},
        "replay": document.get("replay"),
    }


def render_html(document: Mapping[str, Any]) -> str:
    """The report page for a JSON report document."""
    environment = _environment()
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    script = (TEMPLATES / "report.js").read_text(encoding="utf-8")
    policy = (
        f"default-src 'none'; style-src {_csp_hash(style)}; script-src {_csp_hash(script)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )
    import markupsafe

    text: str = environment.get_template("report.html.j2").render(
        report=view(document),
        policy=policy,
        style=markupsafe.Markup(style),
        script=markupsafe.Markup(script),
    )
    return text
