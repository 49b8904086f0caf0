"""The ``pytest-connectors`` command: manage, test and invoke connectors from a shell.

Exit codes: 0 success; 1 the remote agent call failed (``test``, ``invoke``); 2 a usage error
(bad flag, unknown connector, duplicate name, unreadable connector file, unset ${VARIABLE}).
Errors are one line on stderr; secrets are always shown masked.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from pytest_connectors._support.secrets import is_sensitive_header, mask
from pytest_connectors.cli.service import add_service_commands
from pytest_connectors.errors import ConnectorError
from pytest_connectors.models.connector import AuthType, Connector, ConnectorType
from pytest_connectors.registry.functions import get_connector_types
from pytest_connectors.registry.json_file import ConnectorStore

if TYPE_CHECKING:
    from pytest_connectors.client.clients import ConnectorClient

PROG = "pytest-connectors"
EXIT_OK, EXIT_REMOTE_FAILURE, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in the command line: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line instead of argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        _fail(f"{message} (see `{self.prog} --help`)")


def public_record(connector: Connector) -> dict[str, Any]:
    """The connector as JSON, with its auth value and secret-looking headers masked."""
    record = connector.model_dump(mode="json", by_alias=True)
    if connector.auth_value is not None:
        record["authValue"] = mask(connector.auth_value)
    headers = record.get("config", {}).get("headers") or {}
    for name, value in headers.items():
        if is_sensitive_header(name) and isinstance(value, str):
            headers[name] = mask(value)
    return record


def _auth_label(connector: Connector) -> str:
    kind = connector.auth_type.value if connector.auth_type else "none"
    if connector.auth_value:
        return f"{kind} {mask(connector.auth_value)}"
    return kind


def _target(connector: Connector) -> str:
    config = connector.config
    if connector.type is ConnectorType.LANGGRAPH and config is not None:
        return f"assistant {getattr(config, 'assistant_id', '?')}"
    path = getattr(config, "path", None) or ""
    method = getattr(config, "method", None) or "POST"
    return f"{method} {path or '/'}"


def format_table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _print_connector(connector: Connector, as_json: bool) -> None:
    if as_json:
        _print_json(public_record(connector))
        return
    record = public_record(connector)
    lines = [
        ("name", connector.name),
        ("id", connector.id),
        ("type", connector.type.value),
        ("base url", connector.base_url),
        ("auth", _auth_label(connector)),
        ("target", _target(connector)),
    ]
    config = record.get("config")
    if config:
        lines.append(("config", json.dumps(config, ensure_ascii=False)))
    lines += [
        ("created", record["createdAt"]),
        ("updated", record["updatedAt"]),
    ]
    print(format_table([(f"{key}:", value) for key, value in lines]))


# -- argument parsing -------------------------------------------------------------------------


def _milliseconds(value: str) -> int | float:
    number = float(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(
            f"must be a positive number of milliseconds, got {value!r}"
        )
    return int(number) if number.is_integer() else number


def _header(value: str) -> tuple[str, str]:
    name, sep, header_value = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value!r}")
    return name.strip(), header_value


def _add_connector_flags(parser: argparse.ArgumentParser, *, creating: bool) -> None:
    parser.add_argument("--name", required=creating, help="unique connector name")
    parser.add_argument(
        "--type", required=creating, choices=[t.value for t in ConnectorType], help="agent kind"
    )
    parser.add_argument("--base-url", required=creating, help="e.g. http://127.0.0.1:2024")
    parser.add_argument("--auth-type", choices=[a.value for a in AuthType])
    parser.add_argument(
        "--auth-value",
        help="secret or ${ENV_VAR} reference (preferred: kept out of the file); - reads stdin",
    )
    parser.add_argument("--assistant-id", help="langgraph: graph name or assistant id")
    parser.add_argument("--launch", help="langgraph: langgraph.json to serve when not running")
    parser.add_argument("--method", choices=["GET", "POST", "PUT", "PATCH"], type=str.upper)
    parser.add_argument("--path", help="http: path appended to the base url")
    parser.add_argument("--response-path", help="http: dotted path to the reply in the JSON")
    parser.add_argument("--header", action="append", type=_header, default=[], metavar="NAME=VALUE")
    parser.add_argument("--timeout-ms", type=_milliseconds, help="request timeout in milliseconds")
    parser.add_argument("--retries", type=int, help="retries on connect errors, 429 and 5xx")


_CONFIG_FLAGS = {
    "assistant_id": "assistantId",
    "launch": "launch",
    "method": "method",
    "path": "path",
    "response_path": "responsePath",
    "timeout_ms": "timeout",
    "retries": "retries",
}
_FLAG_OF_FIELD = {
    "name": "--name",
    "type": "--type",
    "base_url": "--base-url",
    "baseUrl": "--base-url",
    "auth_type": "--auth-type",
    "authType": "--auth-type",
    "assistantId": "--assistant-id",
    "timeout": "--timeout-ms",
    "retries": "--retries",
    "headers": "--header",
}


def _config_changes(args: argparse.Namespace) -> dict[str, Any]:
    changes = {key: getattr(args, flag) for flag, key in _CONFIG_FLAGS.items()}
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.header:
        changes["headers"] = dict(args.header)
    return changes


def _auth_value(args: argparse.Namespace) -> str | None:
    value: str | None = args.auth_value
    if value == "-":
        value = sys.stdin.readline().rstrip("\r\n")
    return value


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = [str(part) for part in first["loc"]]
    flag = next((_FLAG_OF_FIELD[p] for p in reversed(location) if p in _FLAG_OF_FIELD), None)
    message = first["msg"].removeprefix("Value error, ")
    return f"{flag}: {message}" if flag else message


# -- commands ---------------------------------------------------------------------------------


def cmd_types(store: ConnectorStore, args: argparse.Namespace) -> int:
    types = {kind.value: text for kind, text in get_connector_types().items()}
    if args.json:
        _print_json(types)
    else:
        print(format_table([("TYPE", "DESCRIPTION"), *types.items()]))
    return EXIT_OK


def cmd_list(store: ConnectorStore, args: argparse.Namespace) -> int:
    connectors = store.list()
    if args.json:
        _print_json([public_record(c) for c in connectors])
    elif not connectors:
        print(f"No connectors in {store.path}. Add one with `{PROG} create`.")
    else:
        header = ("NAME", "TYPE", "BASE URL", "TARGET", "AUTH", "ID")
        rows = [
            (c.name, c.type.value, c.base_url, _target(c), _auth_label(c), c.id) for c in connectors
        ]
        print(format_table([header, *rows]))
    return EXIT_OK


def cmd_get(store: ConnectorStore, args: argparse.Namespace) -> int:
    _print_connector(store.find(args.connector), args.json)
    return EXIT_OK


def cmd_create(store: ConnectorStore, args: argparse.Namespace) -> int:
    data: dict[str, Any] = {"name": args.name, "type": args.type, "base_url": args.base_url}
    if args.auth_type:
        data["auth_type"] = args.auth_type
    auth_value = _auth_value(args)
    if auth_value is not None:
        data["auth_value"] = auth_value
    config = _config_changes(args)
    if config:
        data["config"] = config
    connector = store.create(data)
    if args.json:
        _print_json(public_record(connector))
    else:
        print(f"Created connector {connector.name!r} ({connector.id}) in {store.path}")
    return EXIT_OK


def cmd_update(store: ConnectorStore, args: argparse.Namespace) -> int:
    current = store.find(args.connector)
    data: dict[str, Any] = {}
    for field in ("name", "type", "base_url", "auth_type"):
        if getattr(args, field) is not None:
            data[field] = getattr(args, field)
    auth_value = _auth_value(args)
    if auth_value is not None:
        data["auth_value"] = auth_value
    changes = _config_changes(args)
    if changes:
        config = (
            current.config.model_dump(mode="json", by_alias=True)
            if current.config is not None
            else {}
        )
        if "headers" in changes:
            changes["headers"] = {**config.get("headers", {}), **changes["headers"]}
        data["config"] = {**config, **changes}
    if not data:
        raise UsageError("nothing to change: give at least one flag such as --base-url")
    updated = store.update(current.id, data)
    if updated is None:  # deleted by another process meanwhile
        raise UsageError(f"connector {args.connector!r} no longer exists")
    if args.json:
        _print_json(public_record(updated))
    else:
        print(f"Updated connector {updated.name!r} ({updated.id})")
    return EXIT_OK


def cmd_delete(store: ConnectorStore, args: argparse.Namespace) -> int:
    connector = store.find(args.connector)
    store.delete(connector.id)
    print(f"Deleted connector {connector.name!r} ({connector.id})")
    return EXIT_OK


def _client(store: ConnectorStore) -> ConnectorClient:
    from pytest_connectors.client.clients import (
        ConnectorClient,  # httpx and the SDK only load for remote commands
    )

    return ConnectorClient(path=store.path)


def cmd_test(store: ConnectorStore, args: argparse.Namespace) -> int:
    connector = store.find(args.connector)
    with _client(store) as client:
        result = client.test(connector)
    if args.json:
        _print_json(result.model_dump(mode="json", by_alias=True))
    elif result.success:
        print(f"OK  {connector.name} answered in {result.latency_ms:.0f} ms: {result.response}")
    else:
        tries = f" after {result.attempts} attempts" if result.attempts > 1 else ""
        print(f"FAILED  {connector.name}{tries}: {result.error}")
    return EXIT_OK if result.success else EXIT_REMOTE_FAILURE


def _describe_message(message: Any) -> list[str]:
    lines = [f"{message.role}: {message.text}"] if message.text else []
    for call in message.tool_calls or []:
        lines.append(
            f"{message.role}: calls {call.name}({json.dumps(call.args, ensure_ascii=False)})"
        )
    return lines or [f"{message.role}: (empty)"]


def cmd_invoke(store: ConnectorStore, args: argparse.Namespace) -> int:
    connector = store.find(args.connector)
    messages = [{"role": "user", "content": text} for text in args.message]
    with _client(store) as client:
        result = client.invoke(connector, messages, run_id=args.run_id)
    if args.json:
        _print_json(result.model_dump(mode="json", by_alias=True, exclude_none=True))
        return EXIT_OK if result.success else EXIT_REMOTE_FAILURE
    if not result.success:
        print(f"FAILED  {connector.name}: {result.error}")
        return EXIT_REMOTE_FAILURE
    for message in result.messages:
        print("\n".join(_describe_message(message)))
    thread = f", thread {result.thread_id}" if result.thread_id else ""
    print(f"({result.latency_ms:.0f} ms{thread})")
    return EXIT_OK


Command = Callable[[ConnectorStore, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    file_help = "connector file (default: $PYTEST_CONNECTORS_FILE, else ./data/connectors.json)"
    common = _Parser(add_help=False)
    # SUPPRESS: a --file given before the command is not reset by the command's own default.
    common.add_argument("--file", metavar="PATH", default=argparse.SUPPRESS, help=file_help)
    parser = _Parser(prog=PROG, description="Manage, test and invoke the connectors of a project.")
    parser.add_argument("--file", metavar="PATH", help=file_help)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, func: Command, help_text: str, json_flag: bool = True) -> Any:
        sub = commands.add_parser(name, parents=[common], help=help_text, description=help_text)
        if json_flag:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(func=func)
        return sub

    add("types", cmd_types, "list the connector types")
    add("list", cmd_list, "list the connectors")
    add("get", cmd_get, "show one connector").add_argument("connector", metavar="NAME_OR_ID")
    _add_connector_flags(add("create", cmd_create, "add a connector"), creating=True)
    update = add("update", cmd_update, "change a connector")
    update.add_argument("connector", metavar="NAME_OR_ID")
    _add_connector_flags(update, creating=False)
    delete = add("delete", cmd_delete, "remove a connector", json_flag=False)
    delete.add_argument("connector", metavar="NAME_OR_ID")
    check = add("test", cmd_test, "check that a connector's agent answers")
    check.add_argument("connector", metavar="NAME_OR_ID")
    invoke = add("invoke", cmd_invoke, "send messages to a connector's agent")
    invoke.add_argument("connector", metavar="NAME_OR_ID")
    invoke.add_argument(
        "--message", "-m", action="append", required=True, help="a user message (repeatable)"
    )
    invoke.add_argument("--run-id", help="langgraph: continue this conversation thread")
    add_service_commands(commands, common)
    from pytest_connectors.cli import imports  # its commands: imports, jobs, conversations, ...

    imports.register(SimpleNamespace(add=add))
    return parser


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    store = ConnectorStore(args.file)
    try:
        code: int = args.func(store, args)
    except ValidationError as exc:
        _fail(_describe(exc))
    except (ConnectorError, UsageError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
