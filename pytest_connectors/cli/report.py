"""``pytest-connectors report``: merge shards' JSON reports, render one as HTML, compare two.

All three read JSON reports written by ``--connectors-report``; a CI matrix merges its jobs'
reports into one, renders it and compares it with the main branch's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pytest_connectors.cli.main import EXIT_OK, EXIT_REMOTE_FAILURE, UsageError
from pytest_connectors.errors import ConnectorError
from pytest_connectors.registry.json_file import ConnectorStore


def _write(path: Path, data: bytes) -> None:
    from pytest_connectors._support.atomic import atomic_write

    try:
        atomic_write(path, data, new_mode=0o644)  # read by others: a CI artifact, a page
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}: {exc.strerror or exc}; nothing was written"
        ) from None


def _load(path: str) -> dict[str, Any]:
    from pytest_connectors.evaluation.comparison import load_report

    return load_report(Path(path))


def cmd_merge(_store: ConnectorStore, args: argparse.Namespace) -> int:
    from pytest_connectors.evaluation.report_merge import merge_reports

    merged = merge_reports([_load(path) for path in args.reports])
    _write(Path(args.out), (json.dumps(merged, indent=2, ensure_ascii=False) + "\n").encode())
    print(
        f"Merged {len(args.reports)} reports ({len(merged['tests'])} tests, "
        f"{len(merged['calls'])} calls) into {args.out}."
    )
    return EXIT_OK


def cmd_html(_store: ConnectorStore, args: argparse.Namespace) -> int:
    from pytest_connectors.evaluation.report_html import render_html

    document = _load(args.report)
    if args.baseline:
        from pytest_connectors.evaluation.comparison import compare

        document["comparison"] = compare(_load(args.baseline), document)
    _write(Path(args.out), render_html(document).encode())
    print(f"Wrote {args.out}.")
    return EXIT_OK


def cmd_compare(_store: ConnectorStore, args: argparse.Namespace) -> int:
    from pytest_connectors.evaluation.comparison import compare, comparison_lines

    comparison = compare(_load(args.baseline), _load(args.report))
    if args.json:
        print(json.dumps(comparison, indent=2, ensure_ascii=False))
    else:
        print("\n".join(comparison_lines(comparison, limit=200)))
    return EXIT_REMOTE_FAILURE if comparison["regressions"] else EXIT_OK


def _no_action(_files: object, _args: argparse.Namespace) -> int:  # pragma: no cover
    raise ConnectorError("give an action (see --help)")


def register(commands: Any) -> None:
    """Add ``report merge``, ``report html`` and ``report compare`` (see ``cli.main.Commands``)."""
    # Not commands.add: report files are given by path, so no --file (the connector file).
    help_text = "merge, render and compare JSON reports"
    report = commands.subparsers.add_parser("report", help=help_text, description=help_text)
    report.set_defaults(func=_no_action)
    actions = report.add_subparsers(dest="report_command", metavar="ACTION", required=True)

    def action(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, help=help_text, description=help_text
        )
        sub.set_defaults(func=func)
        return sub

    merge = action("merge", cmd_merge, "merge shards' JSON reports into one (figures recomputed)")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("-o", "--out", required=True, metavar="PATH", help="the merged report")
    html = action("html", cmd_html, "render a JSON report as one self-contained HTML page")
    html.add_argument("report", metavar="REPORT.json")
    html.add_argument("-o", "--out", required=True, metavar="PATH", help="the HTML file")
    html.add_argument("--baseline", metavar="BASELINE.json", help="show the comparison with it")
    compare = action(
        "compare", cmd_compare, "compare a report with a baseline; exit 1 on regressions"
    )
    compare.add_argument("baseline", metavar="BASELINE.json")
    compare.add_argument("report", metavar="REPORT.json")
    compare.add_argument("--json", action="store_true", help="machine-readable output")
