"""The ``pytest-connectors`` command: manage, test and invoke connectors from a shell.

Exit codes: 0 success; 1 the remote agent call failed (``test``, ``invoke``); 2 a usage error
(bad flag, unknown connector, duplicate name, unreadable connector file, unset ${VARIABLE});
141 the reader of the output went away (``| head``), silently. Errors are one line on stderr;
secrets are always shown masked.

Adding a subcommand: write a module with ``register(commands: Commands) -> None`` that calls
``commands.add(name, func, help_text)`` and adds its arguments to the returned parser; ``func``
takes ``(store, args)`` and returns the exit code. Raise :class:`UsageError` (or any
``ConnectorError``) for a user mistake: it is printed as one line with exit code 2. Then name
the module in ``SUBCOMMAND_MODULES``; it is imported only when the command line is parsed.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import math
import os
import re
import sys
import unicodedata
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from pydantic import ValidationError

from pytest_connectors._support.secrets import mask, mask_fields, mask_url
from pytest_connectors.errors import ConnectorError, DuplicateConnectorNameError
from pytest_connectors.models.connector import AuthType, Connector, ConnectorType
from pytest_connectors.registry.fields import field_path
from pytest_connectors.registry.functions import get_connector_types
from pytest_connectors.registry.json_file import ConnectorStore
from pytest_connectors.servers.managed import launched  # starts config.launch agents

if TYPE_CHECKING:
    from pytest_connectors.client.clients import ConnectorClient

PROG = "pytest-connectors"
EXIT_OK, EXIT_REMOTE_FAILURE, EXIT_USAGE = 0, 1, 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a tool ended by `| head`

# Modules (``pytest_connectors.cli.<name>``) whose ``register(commands)`` adds subcommands.
SUBCOMMAND_MODULES: tuple[str, ...] = ("imports", "service", "demo", "report")

MAX_TIMEOUT_MS = 86_400_000  # one day: anything longer is a typo, and overflows some clocks


class UsageError(Exception):
    """A mistake in the command line: reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """Reports a bad command line in one line instead of argparse's usage block.

    A bad value of a connector flag reads like a bad value in the file: ``config.retries
    (--retries): invalid int value: 'x'``, naming the field and the flag.
    """

    def error(self, message: str) -> NoReturn:
        flag, sep, problem = message.removeprefix("argument ").partition(": ")
        field = _FIELD_OF_FLAG.get(flag) if message.startswith("argument ") and sep else None
        if field is not None and self.prog in (f"{PROG} create", f"{PROG} update"):
            _fail(f"{field} ({flag}): {problem}")
        _fail(f"{message} (see `{self.prog} --help`)")


def public_record(connector: Connector) -> dict[str, Any]:
    """The connector as JSON, with its auth value and secret-looking fields masked."""
    record = connector.model_dump(mode="json", by_alias=True)
    record.update(mask_fields({key: record[key] for key in connector.model_extra or {}}))
    config = record.get("config")
    if connector.config is not None and isinstance(config, dict):
        extra = connector.config.model_extra or {}
        config.update(mask_fields({key: config[key] for key in extra if key in config}))
        if config.get("headers"):
            config["headers"] = mask_fields(config["headers"])
    if connector.auth_value is not None:
        record["authValue"] = mask(connector.auth_value)
    record["baseUrl"] = mask_url(connector.base_url)
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
        ("base url", mask_url(connector.base_url)),
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
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number of milliseconds, got {value!r}"
        ) from None
    if not math.isfinite(number) or not 0 < number <= MAX_TIMEOUT_MS:
        raise argparse.ArgumentTypeError(
            f"must be a number of milliseconds above 0 and at most {MAX_TIMEOUT_MS} (one day), "
            f"got {value!r}"
        )
    return int(number) if number.is_integer() else number


_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


def _header(value: str) -> tuple[str, str]:
    name, sep, header_value = value.partition("=")
    name = name.strip()
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {value.split('=')[0]!r}=...")
    if not _TOKEN.fullmatch(name):
        raise argparse.ArgumentTypeError(
            f"{name!r} is not a valid header name (letters, digits and !#$%%&'*+-.^_`|~ only)"
        )
    if any(unicodedata.category(char) == "Cc" for char in header_value):
        raise argparse.ArgumentTypeError(f"the value of {name} holds a control character")
    return name, header_value


def _json_object(value: str) -> dict[str, Any]:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON ({exc}); quote it in '...'") from None
    if not isinstance(parsed, dict):
        raise argparse.ArgumentTypeError(f'expected a JSON object {{"key": ...}}, got {value!r}')
    return parsed


def _launch(value: str) -> str | dict[str, Any]:
    """A JSON object as in the file (``{"command": "... {port}"}``), or a folder to serve
    with ``langgraph dev`` (the LangGraph shorthand)."""
    return _json_object(value) if value.lstrip().startswith("{") else value


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
    parser.add_argument(
        "--launch",
        type=_launch,
        metavar="JSON_OR_FOLDER",
        help='how to start the agent when it does not answer: {"command": "... {port}"}, '
        "or for langgraph the folder of langgraph.json",
    )
    parser.add_argument("--method", choices=["GET", "POST", "PUT", "PATCH"], type=str.upper)
    parser.add_argument("--path", help="http: path appended to the base url")
    parser.add_argument("--response-path", help="http: dotted path to the reply in the JSON")
    parser.add_argument(
        "--body",
        type=_json_object,
        metavar="JSON",
        help='http: fields added to every request body, e.g. \'{"model": "gpt-4o-mini"}\'',
    )
    parser.add_argument("--header", action="append", type=_header, default=[], metavar="NAME=VALUE")
    parser.add_argument("--timeout-ms", type=_milliseconds, help="request timeout in milliseconds")
    parser.add_argument(
        "--retries",
        type=int,
        help="retries on connection errors and HTTP 429, 502, 503, 504 (default 2); "
        "a read timeout is not retried",
    )


# Flags that only one connector type understands.
_TYPE_OF_FLAG = {
    "assistant_id": ConnectorType.LANGGRAPH,
    "method": ConnectorType.HTTP,
    "path": ConnectorType.HTTP,
    "response_path": ConnectorType.HTTP,
    "body": ConnectorType.HTTP,
}
_CONFIG_FLAGS = {
    "assistant_id": "assistantId",
    "launch": "launch",
    "method": "method",
    "path": "path",
    "response_path": "responsePath",
    "body": "body",
    "timeout_ms": "timeout",
    "retries": "retries",
}
_FLAG_OF_FIELD = {
    "name": "--name",
    "type": "--type",
    "baseUrl": "--base-url",
    "authType": "--auth-type",
    "authValue": "--auth-value",
    "config.assistantId": "--assistant-id",
    "config.launch": "--launch",
    "config.method": "--method",
    "config.path": "--path",
    "config.responsePath": "--response-path",
    "config.body": "--body",
    "config.timeout": "--timeout-ms",
    "config.retries": "--retries",
    "config.headers": "--header",
}
_FIELD_OF_FLAG = {flag: field for field, flag in _FLAG_OF_FIELD.items()}


def _check_flags_fit(args: argparse.Namespace, kind: ConnectorType, name: str) -> None:
    for flag, only in _TYPE_OF_FLAG.items():
        if getattr(args, flag) is not None and kind is not only:
            option = "--" + flag.replace("_", "-")
            raise UsageError(
                f"{_FIELD_OF_FLAG[option]} ({option}): only {only.value} connectors have it, "
                f"and {name!r} is of type {kind.value}; leave {option} out"
            )


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


def _flag_of(field: str) -> str | None:
    return next(
        (f for key, f in _FLAG_OF_FIELD.items() if field == key or field.startswith(key + ".")),
        None,
    )


_MENTIONED_FIELD = re.compile(r"\b(config\.[A-Za-z]+)")


def _describe(error: ValidationError) -> str:
    """``config.timeout (--timeout-ms): <what is wrong>``: the field as in the file, the flag."""
    problems = error.errors()
    # Of a union's members (a launch folder or object), the one the input was the kind of.
    first = next((p for p in problems if not p["type"].endswith("_type")), problems[0])
    field = field_path(first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if _flag_of(field) is None:  # a check of the whole record names the field it is about
        mentioned = _MENTIONED_FIELD.search(message)
        if mentioned is not None and _flag_of(mentioned.group(1)) is not None:
            field = mentioned.group(1)
    if field == "(record)":
        return message
    message = message.removeprefix(f"{field} ")  # "config.launch needs ..." reads "needs ..."
    flag = _flag_of(field)
    return f"{field} ({flag}): {message}" if flag else f"{field}: {message}"


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
    _check_flags_fit(args, ConnectorType(args.type), args.name)
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
    _check_flags_fit(args, ConnectorType(args.type or current.type), current.name)
    changes = _config_changes(args)
    if changes:
        data["config"] = changes  # merged into the stored config by the store, under its lock
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
    with _client(store) as client, launched(connector, store.path.parent) as ready:
        result = client.test(ready)
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
    with _client(store) as client, launched(connector, store.path.parent) as ready:
        result = client.invoke(ready, messages, run_id=args.run_id)
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


class Commands:
    """Where subcommands are added: the built-in ones and those of ``SUBCOMMAND_MODULES``."""

    def __init__(self, subparsers: Any, common: argparse.ArgumentParser) -> None:
        self.subparsers = subparsers  # argparse's, for commands that nest their own actions
        self.common = common  # the parent parser that adds --file

    def add(
        self, name: str, func: Command, help_text: str, json_flag: bool = True
    ) -> argparse.ArgumentParser:
        """A subcommand that takes ``--file`` (and ``--json``) and runs ``func(store, args)``."""
        sub: argparse.ArgumentParser = self.subparsers.add_parser(
            name, parents=[self.common], help=help_text, description=help_text
        )
        if json_flag:
            sub.add_argument("--json", action="store_true", help="machine-readable output")
        sub.set_defaults(func=func)
        return sub


def _version() -> str:
    from pytest_connectors import __version__

    return f"{PROG} {__version__}"


def build_parser() -> argparse.ArgumentParser:
    file_help = "connector file (default: $PYTEST_CONNECTORS_FILE, else ./data/connectors.json)"
    common = _Parser(add_help=False)
    # SUPPRESS: a --file given before the command is not reset by the command's own default.
    common.add_argument("--file", metavar="PATH", default=argparse.SUPPRESS, help=file_help)
    parser = _Parser(prog=PROG, description="Manage, test and invoke the connectors of a project.")
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument("--file", metavar="PATH", help=file_help)
    commands = Commands(
        parser.add_subparsers(
            dest="command", metavar="COMMAND", required=True, parser_class=_Parser
        ),
        common,
    )
    add = commands.add

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
    for module in SUBCOMMAND_MODULES:
        importlib.import_module(f"pytest_connectors.cli.{module}").register(commands)
    return parser


def _fail(message: str) -> NoReturn:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _check_text(argv: Sequence[str]) -> None:
    """Arguments that are not UTF-8 reach Python as lone surrogates, which no file can hold."""
    for position, arg in enumerate(argv, 1):
        if any("\ud800" <= char <= "\udfff" for char in arg):
            shown = arg.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            _fail(f"argument {position} ({shown!r}) is not valid UTF-8 text; retype it")


def _say_waiting(lock_path: Path) -> None:
    print(
        f"{PROG}: waiting for another process to finish writing (lock {lock_path})...",
        file=sys.stderr,
        flush=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _run(sys.argv[1:] if argv is None else list(argv))
        finally:
            sys.stdout.flush()  # here, where a closed pipe is caught, not at interpreter exit
    except BrokenPipeError:
        return _reader_gone()


def _run(argv: list[str]) -> int:
    _check_text(argv)
    args = build_parser().parse_args(argv)
    store = ConnectorStore(args.file, on_lock_wait=_say_waiting)
    try:
        code: int = args.func(store, args)
    except ValidationError as exc:
        _fail(_describe(exc))
    except DuplicateConnectorNameError as exc:
        _fail(f"name (--name): {exc}")
    except (ConnectorError, UsageError) as exc:
        _fail(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    return code


def _reader_gone() -> int:
    """The output's reader stopped reading (``| head``): end quietly, as other tools do.

    What is still buffered goes to /dev/null, so the flush at exit cannot fail again.
    """
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
