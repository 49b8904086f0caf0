"""``pytest-connectors serve`` and ``pytest-connectors keys``: run the service, manage its keys.

A new key is printed once, on stdout alone, so ``KEY=$(pytest-connectors keys create ...)``
captures exactly the key; what it grants goes to stderr. Only its prefix is ever shown again.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pytest_connectors._support.paths import chosen_database
from pytest_connectors._support.text import counted
from pytest_connectors._support.times import utc
from pytest_connectors._support.variables import is_name
from pytest_connectors.errors import ConnectorError

if TYPE_CHECKING:  # the database layer loads only for the commands that use it
    from pytest_connectors.storage.api_keys import ApiKeyRecord
    from pytest_connectors.storage.store import Store

SERVICE_APP = "pytest_connectors.service.asgi:app"
DB_HELP = (
    "database path or SQLAlchemy URL (default: $PYTEST_CONNECTORS_DB, else data/connectors.db)"
)


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (1-65535)")
    return port


def _workers(value: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of workers") from None
    if count < 0:
        raise argparse.ArgumentTypeError("--workers must be 0 or more")
    return count


def _variable(value: str) -> str:
    if not is_name(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an environment variable name")
    return value


def _expiry(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not an ISO date or time, e.g. 2030-01-31 or 2030-01-31T12:00:00Z"
        ) from None
    return utc(moment)


def _time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def key_json(record: ApiKeyRecord) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None

    return {
        "prefix": record.prefix,
        "tenantId": record.tenant_id,
        "agentId": record.agent_id,
        "name": record.name,
        "createdAt": iso(record.created_at),
        "lastUsedAt": iso(record.last_used_at),
        "expiresAt": iso(record.expires_at),
        "revokedAt": iso(record.revoked_at),
        "state": record.state(),
    }


def _open(args: argparse.Namespace, *, writes: bool = True) -> Store:
    """A command that only reads never creates the database it was pointed at."""
    from pytest_connectors.storage.store import Store

    return Store(args.db, existing=not writes and chosen_database(args.db) is not None)


def cmd_serve(_files: object, args: argparse.Namespace) -> int:
    import importlib.util

    from pytest_connectors.servers.serve import serve_forever

    missing = [m for m in ("fastapi", "uvicorn", "jinja2") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConnectorError(
            f'the service needs {" and ".join(missing)}: pip install "pytest-connectors[server]"'
        )

    # Open once here: a bad URL or an unreachable server is one line now, not a traceback later.
    with _open(args) as store:
        url, shown = store.url, store.display_url
    settings = {"db_url": url, "workers": args.workers, "allowed_env": args.allow_env}
    if args.allow_private_destinations:
        settings["allow_private_destinations"] = True
    print(
        f"serving the connectors API on http://{args.host}:{args.port} "
        f"(database {shown}, {counted(args.workers, 'sync worker')}); Ctrl-C stops",
        file=sys.stderr,
        flush=True,
    )
    serve_forever(
        SERVICE_APP,
        host=args.host,
        port=args.port,
        factory=True,
        factory_kwargs=settings,
        access_log=args.access_log,
    )
    return 0


def cmd_keys_create(_files: object, args: argparse.Namespace) -> int:
    from pytest_connectors.storage.api_keys import create_api_key

    with _open(args) as store:
        issued = create_api_key(
            store,
            tenant_id=args.tenant,
            agent_id=args.agent,
            name=args.name,
            expires_at=args.expires,
        )
    record = issued.record
    if args.json:
        print(json.dumps({"key": issued.key, **key_json(record)}, indent=2))
    else:
        print(issued.key)
    expiry = f", expires {_time(record.expires_at)}" if record.expires_at else ""
    print(
        f"created API key {record.prefix} for {record.scope_label}{expiry}. "
        "It is shown only this once: store it now.",
        file=sys.stderr,
    )
    return 0


def cmd_keys_list(_files: object, args: argparse.Namespace) -> int:
    from pytest_connectors.storage.api_keys import list_api_keys

    with _open(args, writes=False) as store:
        records = list_api_keys(store, tenant_id=args.tenant)
    if args.json:
        print(json.dumps([key_json(r) for r in records], indent=2))
        return 0
    if not records:
        print("no API keys yet (create one with `pytest-connectors keys create --tenant T`)")
        return 0
    rows = [("PREFIX", "SCOPE", "NAME", "CREATED", "LAST USED", "EXPIRES", "STATE")]
    rows += [
        (
            r.prefix,
            r.scope_label,
            r.name or "-",
            _time(r.created_at),
            _time(r.last_used_at),
            _time(r.expires_at),
            r.state(),
        )
        for r in records
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def cmd_keys_revoke(_files: object, args: argparse.Namespace) -> int:
    from pytest_connectors.storage.api_keys import revoke_api_key

    with _open(args) as store:
        record = revoke_api_key(store, args.prefix)
    print(f"revoked API key {record.prefix} ({record.scope_label}) at {_time(record.revoked_at)}")
    return 0


def register(commands: Any) -> None:
    """Add ``serve`` and ``keys`` (see ``cli.main.Commands``)."""

    def db_flag(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--db", metavar="URL", help=DB_HELP)

    serve = commands.add(
        "serve",
        cmd_serve,
        "run the connectors service (REST API and sync workers) under uvicorn",
        json_flag=False,
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port (default 8000)")
    db_flag(serve)
    serve.add_argument(
        "--no-access-log",
        dest="access_log",
        action="store_false",
        help="do not log one line per request",
    )
    serve.add_argument(
        "--workers",
        type=_workers,
        default=1,
        metavar="N",
        help="sync workers in the service process (default 1; 0 when `pytest-connectors worker` "
        "processes run the jobs)",
    )
    serve.add_argument(
        "--allow-env",
        action="append",
        type=_variable,
        metavar="NAME",
        help="let callers' connector configs refer to ${NAME} (repeatable; default: no "
        "variable, $PYTEST_CONNECTORS_ALLOW_ENV)",
    )
    serve.add_argument(
        "--allow-private-destinations",
        action="store_true",
        help="let connectors send keys over http and to loopback, private and other non-public "
        "hosts (self-hosted providers, tests)",
    )

    keys = commands.add("keys", _no_action, "manage the service's API keys", json_flag=False)
    actions = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    def action(name: str, func: Any, help_text: str) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = actions.add_parser(
            name, parents=[commands.common], help=help_text, description=help_text
        )
        db_flag(sub)
        sub.set_defaults(func=func)
        return sub

    create = action("create", cmd_keys_create, "issue a key; it is printed once")
    create.add_argument("--tenant", required=True, help="the tenant the key belongs to")
    create.add_argument("--agent", help="limit the key to this agent (default: the whole tenant)")
    create.add_argument("--name", help="a label to recognise the key by")
    create.add_argument(
        "--expires", type=_expiry, metavar="ISO", help="expiry, e.g. 2030-01-31 (UTC if no zone)"
    )
    create.add_argument("--json", action="store_true", help="machine-readable output")
    listing = action("list", cmd_keys_list, "show the keys (never the keys themselves)")
    listing.add_argument("--tenant", help="only this tenant's keys")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    revoke = action("revoke", cmd_keys_revoke, "revoke a key at once")
    revoke.add_argument("prefix", metavar="PREFIX", help="the key's prefix, as `keys list` shows")


def _no_action(_files: object, _args: argparse.Namespace) -> int:  # pragma: no cover
    raise ConnectorError("give an action (see --help)")
