"""``pytest-connectors imports|jobs|conversations|sessions|worker``: import connectors in a shell.

Every command takes ``--db`` (a SQLite path or a database URL; default ``$PYTEST_CONNECTORS_DB``,
else ``connectors.db`` next to the connector file), or ``--url`` and ``--api-key`` of a connectors
service (default ``$PYTEST_CONNECTORS_URL``, ``$PYTEST_CONNECTORS_API_KEY``). The provider's key
of ``imports create`` and ``update`` is ``--provider-key``; there ``--api-key`` still means it, with
a deprecation note, so the service key goes before the action (``imports --api-key KEY create``)
or through the environment until that spelling is gone. Exit codes as for the
other commands: 0 success, 1 a job that did not succeed (``--wait``, ``jobs wait``) or a service
that cannot be reached, 2 a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pytest_connectors._support.paths import (
    DATABASE_FILE_NAME,
    ENV_API_KEY,
    ENV_DB,
    ENV_URL,
    chosen_database,
)
from pytest_connectors._support.text import counted
from pytest_connectors.cli import export
from pytest_connectors.cli.main import (
    EXIT_OK,
    EXIT_REMOTE_FAILURE,
    PROG,
    Command,
    Commands,
    UsageError,
    format_table,
)
from pytest_connectors.errors import ConnectorError, JobTimeoutError
from pytest_connectors.models.imports import (
    ImportCategory,
    ImportConnector,
    Job,
    JobStats,
    JobStatus,
    Scope,
)
from pytest_connectors.registry.json_file import ConnectorStore

if TYPE_CHECKING:
    from pytest_connectors.imports.facade import Imports
    from pytest_connectors.imports.providers import ProviderRegistry

URL_HELP = f"connectors service to use instead of a database (default: ${ENV_URL})"
KEY_HELP = f"the service's API key (default: ${ENV_API_KEY})"


# -- plumbing -----------------------------------------------------------------------------------


def _db(store: ConnectorStore, args: argparse.Namespace) -> str:
    return chosen_database(args.db) or str(Path(store.path).parent / DATABASE_FILE_NAME)


def _service(args: argparse.Namespace) -> tuple[str, str] | None:
    """The service URL and key to use, or None for the local database."""
    url: str | None = getattr(args, "url", None)
    if url and getattr(args, "db", None):
        raise UsageError("give --db or --url, not both")
    if not url and not getattr(args, "db", None):
        url = os.environ.get(ENV_URL) or None
    if not url:
        return None
    key = getattr(args, "service_api_key", None) or os.environ.get(ENV_API_KEY)
    if not key:
        raise UsageError(
            f"the service at {url} needs an API key: --api-key KEY or ${ENV_API_KEY} "
            "(`pytest-connectors keys create` makes one)"
        )
    return url, key


@contextmanager
def _imports(
    store: ConnectorStore,
    args: argparse.Namespace,
    *,
    waiting: _Waiting | None = None,
    writes: bool = True,
) -> Iterator[Imports]:
    """The facade on the service or the database. A command that only reads (``writes=False``)
    never creates a database it was pointed at (``--db``, ``$PYTEST_CONNECTORS_DB``), and reads
    one it may not write."""
    # SQLAlchemy, pydantic and the providers load only for these commands.
    from pytest_connectors.imports.facade import Imports

    service = _service(args)
    if service is not None:
        from pytest_connectors.errors import ServiceAuthError, ServiceError
        from pytest_connectors.imports.remote import RemoteBackend

        remote = RemoteBackend(*service)
        try:
            yield Imports(backend=remote)
        except ServiceError as exc:
            if isinstance(exc, ServiceAuthError):
                raise  # a key to fix: a usage error
            print(f"{PROG}: error: {exc}", file=sys.stderr)  # down or failing: exit 1
            raise SystemExit(EXIT_REMOTE_FAILURE) from None
        finally:
            remote.close()
        return
    from pytest_connectors.imports.local import LocalBackend
    from pytest_connectors.storage.store import Store

    on_progress = waiting.progress if waiting is not None else None
    named = chosen_database(args.db) is not None
    database = Store(_db(store, args), existing=not writes and named)
    backend = LocalBackend(store=database, on_progress=on_progress)
    try:
        yield Imports(backend=backend)
    finally:
        database.close()


class _Waiting:
    """What a user waiting for a job sees on stderr: a line per retry (what is tried again,
    why, and when it gives up), and on a terminal one progress line rewritten as pages arrive,
    ended before anything else is printed."""

    def __init__(self, live: bool) -> None:
        self.live = live
        self.open_line = False  # the progress line is on the terminal without its newline

    def progress(self, job_id: str, stats: JobStats) -> None:
        if self.live:
            line = f"{job_id}: {_window_text(stats)}{_stats_text(stats)}"
            print(f"\r\x1b[2K{line}", end="", file=sys.stderr, flush=True)
            self.open_line = True

    def say(self, line: str) -> None:
        self.end_line()
        print(f"{PROG}: {line}", file=sys.stderr, flush=True)

    def end_line(self) -> None:
        if self.open_line:
            print(file=sys.stderr, flush=True)
            self.open_line = False

    @contextmanager
    def showing_retries(self) -> Iterator[None]:
        from pytest_connectors.imports.provider import retry_log

        handler = _SayRecords(self)
        level = retry_log.level
        retry_log.setLevel(logging.INFO)
        retry_log.addHandler(handler)
        try:
            yield
        finally:
            retry_log.removeHandler(handler)
            retry_log.setLevel(level)
            self.end_line()


class _SayRecords(logging.Handler):
    def __init__(self, waiting: _Waiting) -> None:
        super().__init__(logging.INFO)
        self.waiting = waiting

    def emit(self, record: logging.LogRecord) -> None:
        self.waiting.say(record.getMessage())


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def _dump(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True)


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else "-"


def _pairs(values: list[tuple[str, str]]) -> None:
    print(format_table([(f"{key}:", value) for key, value in values]))


def _config_pairs(values: list[str]) -> dict[str, str]:
    config: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--config expects KEY=VALUE, got {key.strip() or item!r}")
        config[key.strip()] = value
    return config


def _provider_key(args: argparse.Namespace) -> str | None:
    value: str | None = args.provider_key
    flag = "--provider-key"
    if args.deprecated_provider_key is not None:
        if value is not None:
            raise UsageError("give the provider's key once, as --provider-key")
        value, flag = args.deprecated_provider_key, "--api-key"
        print(
            f"{PROG}: note: on `imports {args.imports_action}`, --api-key is deprecated: spell the "
            "provider's key --provider-key (--api-key will mean the service's key here too, as "
            "on every other command)",
            file=sys.stderr,
        )
    if value == "-":
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            raise UsageError(f"{flag} -: nothing was read from standard input")
    return value


def _config(args: argparse.Namespace, provider: Callable[[], str]) -> dict[str, str]:
    """The ``--config`` pairs, and the ``--provider-key`` under the name ``provider()``'s spec
    keeps its secret in."""
    config = _config_pairs(args.config)
    key = _provider_key(args)
    if key is not None:
        config[_secret_key(provider())] = key
    return config


def _gives_key(args: argparse.Namespace) -> bool:
    return args.provider_key is not None or args.deprecated_provider_key is not None


def _secret_key(provider: str) -> str:
    """The config key ``--provider-key`` sets: the provider's (first) secret."""
    from pytest_connectors.imports.providers import spec_of

    secrets = spec_of(provider).secret_keys
    if not secrets:
        raise UsageError(f"provider {provider!r} takes no key: leave out --provider-key")
    return secrets[0]


# -- output -------------------------------------------------------------------------------------


def _show_connector(connector: ImportConnector, as_json: bool) -> None:
    if as_json:
        _print_json(_dump(connector))
        return
    _pairs(
        [
            ("name", connector.name),
            ("id", connector.id),
            ("agent", connector.agent_id),
            ("tenant", connector.tenant_id),
            ("provider", f"{connector.provider} ({connector.category.value})"),
            ("status", connector.status.value),
            ("config", json.dumps(connector.config, ensure_ascii=False)),
            ("last synced", _when(connector.last_synced_at)),
            ("last error", connector.last_error or "-"),
            ("created", _when(connector.created_at)),
            ("updated", _when(connector.updated_at)),
        ]
    )


def _window_text(stats: JobStats) -> str:
    """How far through its window a running job is, when its provider can tell."""
    return "" if stats.progress is None else f"{int(stats.progress * 100)}% of the window, "


def _stats_text(stats: JobStats) -> str:
    text = (
        f"{stats.fetched} fetched, {stats.created} created, {stats.updated} updated, "
        f"{stats.unchanged} unchanged, {stats.marked_missing} marked missing"
    )
    if stats.skipped:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(stats.skipped.items()))
        text += f", {sum(stats.skipped.values())} skipped ({reasons})"
    return text


def _show_job(job: Job, as_json: bool) -> None:
    if as_json:
        _print_json(_dump(job))
        return
    _pairs(
        [
            ("job", job.id),
            ("connector", job.connector_id),
            ("trigger", job.trigger.value),
            ("status", job.status.value),
            ("window", f"{_when(job.from_)} .. {_when(job.to)}"),
            ("attempts", str(job.attempts)),
            ("stats", _stats_text(job.stats)),
            ("progress", _window_text(job.stats).removesuffix(", ") or "-"),
            ("error", f"{job.error} ({job.error_code})" if job.error else "-"),
            ("created", _when(job.created_at)),
            ("started", _when(job.started_at)),
            ("finished", _when(job.finished_at)),
        ]
    )


def _finished(job: Job, as_json: bool) -> int:
    """Report a finished job; exit 1 unless it succeeded."""
    if as_json:
        _print_json(_dump(job))
    elif job.status is JobStatus.SUCCEEDED:
        print(f"Job {job.id} succeeded: {_stats_text(job.stats)}")
    else:
        reason = f": {job.error}" if job.error else ""
        print(f"Job {job.id} {job.status.value}{reason}", file=sys.stderr)
    return EXIT_OK if job.status is JobStatus.SUCCEEDED else EXIT_REMOTE_FAILURE


def _wait(store: ConnectorStore, args: argparse.Namespace, start: Callable[[Imports], Job]) -> int:
    """Wait for the job ``start`` queues (or finds), saying on stderr what is retried; the
    result line comes after the progress line has ended."""
    waiting = _Waiting(live=sys.stderr.isatty())
    with waiting.showing_retries(), _imports(store, args, waiting=waiting) as imports:
        job = start(imports)
        try:
            done: Job | JobTimeoutError = imports.jobs.wait(job.id, timeout=args.timeout)
        except JobTimeoutError as exc:
            done = exc
    if isinstance(done, JobTimeoutError):
        print(f"{PROG}: {done}", file=sys.stderr)
        return EXIT_REMOTE_FAILURE
    return _finished(done, args.json)


# -- imports ------------------------------------------------------------------------------------


def _category(args: argparse.Namespace) -> str:
    """``--category`` as given, else the provider's own: its spec knows it."""
    if args.category is not None:
        return str(args.category)
    from pytest_connectors.imports.providers import spec_of

    try:
        return spec_of(args.provider).category.value
    except ConnectorError as exc:
        raise UsageError(f"{exc}; or give --category for a provider only the service has") from None


def cmd_create(store: ConnectorStore, args: argparse.Namespace) -> int:
    data: dict[str, Any] = {
        "agentId": args.agent,
        "name": args.name,
        "category": _category(args),
        "provider": args.provider,
        "config": _config(args, lambda: str(args.provider)),
    }
    if args.tenant:
        data["tenantId"] = args.tenant
    with _imports(store, args) as imports:
        connector = imports.connectors.create(data)
    if args.json:
        _print_json(_dump(connector))
    else:
        print(
            f"Created import connector {connector.name!r} ({connector.id}) for agent "
            f"{connector.agent_id}; connect it with `{PROG} imports connect {connector.id}`"
        )
    return EXIT_OK


def cmd_list(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args, writes=False) as imports:
        connectors = imports.connectors.list(args.agent)
    if args.json:
        _print_json([_dump(c) for c in connectors])
    elif not connectors:
        print(f"No import connectors. Add one with `{PROG} imports create`.")
    else:
        header = ("NAME", "AGENT", "PROVIDER", "STATUS", "LAST SYNCED", "ID")
        rows = [
            (
                c.name,
                c.agent_id,
                c.provider,
                c.status.value,
                _when(c.last_synced_at),
                c.id,
            )
            for c in connectors
        ]
        print(format_table([header, *rows]))
    return EXIT_OK


def cmd_get(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args, writes=False) as imports:
        _show_connector(imports.connectors.get(args.connector), args.json)
    return EXIT_OK


def cmd_update(store: ConnectorStore, args: argparse.Namespace) -> int:
    change: dict[str, Any] = {}
    if args.name is not None:
        change["name"] = args.name
    if args.name is None and not args.config and not _gives_key(args):
        raise UsageError("nothing to change: give --name, --provider-key or --config KEY=VALUE")
    with _imports(store, args) as imports:
        config = _config(args, lambda: imports.connectors.get(args.connector).provider)
        if config:
            change["config"] = config
        connector = imports.connectors.update(args.connector, change)
    if args.json:
        _print_json(_dump(connector))
    else:
        print(f"Updated import connector {connector.name!r} ({connector.id}); status unchanged")
    return EXIT_OK


def cmd_connect(store: ConnectorStore, args: argparse.Namespace) -> int:
    if args.wait:
        return _wait(store, args, lambda imports: imports.connectors.connect(args.connector).job)
    with _imports(store, args) as imports:
        result = imports.connectors.connect(args.connector)
    if args.json:
        _print_json(_dump(result))
    else:
        print(
            f"Connected {result.connector.name!r}; sync job {result.job.id} is "
            f"{result.job.status.value} (follow it with `{PROG} jobs wait {result.job.id}`)"
        )
    return EXIT_OK


def cmd_disconnect(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args) as imports:
        connector = imports.connectors.disconnect(args.connector)
    if args.json:
        _print_json(_dump(connector))
    else:
        print(f"Disconnected {connector.name!r}; queued jobs cancelled, imported data kept")
    return EXIT_OK


def cmd_sync(store: ConnectorStore, args: argparse.Namespace) -> int:
    def queue(imports: Imports) -> Job:
        return imports.connectors.sync(args.connector, from_=args.from_, to=args.to)

    if args.wait:
        return _wait(store, args, queue)
    with _imports(store, args) as imports:
        job = queue(imports)
    if args.json:
        _print_json(_dump(job))
    else:
        print(
            f"Sync job {job.id} is {job.status.value} (follow it with `{PROG} jobs wait {job.id}`)"
        )
    return EXIT_OK


def cmd_delete(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args) as imports:
        connector = imports.connectors.get(args.connector)
        imports.connectors.delete(connector.id)
    print(f"Deleted import connector {connector.name!r} ({connector.id}) and its imported data")
    return EXIT_OK


# -- jobs ---------------------------------------------------------------------------------------


def cmd_job_get(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args, writes=False) as imports:
        _show_job(imports.jobs.get(args.job), args.json)
    return EXIT_OK


def cmd_job_wait(store: ConnectorStore, args: argparse.Namespace) -> int:
    return _wait(store, args, lambda imports: imports.jobs.get(args.job))


# -- conversations and sessions -----------------------------------------------------------------


def cmd_conversations(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args, writes=False) as imports:
        page = imports.conversations.list(
            connector=args.connector,
            agent_id=args.agent,
            origin=args.origin,
            limit=args.limit,
            cursor=args.cursor,
            since=args.since,
            until=args.until,
            text=args.text,
        )
    if args.json:
        _print_json(_dump(page))
        return EXIT_OK
    if not page.items:
        print("No conversations.")
        return EXIT_OK
    header = ("ID", "THREAD", "TURNS", "STARTED", "ORIGIN", "AGENT")
    rows = [
        (
            c.id,
            c.thread_key,
            str(len(c.turns)),
            _when(c.started_at),
            c.origin + (" (pending)" if c.pending else ""),
            c.agent_id or "-",
        )
        for c in page.items
    ]
    print(format_table([header, *rows]))
    if page.next_cursor:
        print(f"More: --cursor {page.next_cursor}")
    return EXIT_OK


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def cmd_conversation_show(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args, writes=False) as imports:
        detail = imports.conversations.get(args.conversation, agent_id=args.agent)
    if args.json:
        _print_json(_dump(detail))
        return EXIT_OK
    conversation = detail.conversation
    print(
        f"Conversation {conversation.id} (thread {conversation.thread_key}, "
        f"{conversation.origin}, {counted(len(conversation.turns), 'turn')})"
    )
    for turn in conversation.turns:
        latency = f" [{turn.latency_ms:.0f} ms]" if turn.latency_ms is not None else ""
        print(f"Turn {turn.index + 1}{latency}")
        for message in turn.user_messages:
            print(f"  user: {_short(message)}")
        for call in turn.tool_calls:
            result = f" -> {_short(call.result, 120)}" if call.result is not None else ""
            print(f"  tool: {call.name}({_short(call.args, 120)}){result}")
        if turn.answer is not None:
            print(f"  assistant: {_short(turn.answer)}")
        if turn.error:
            print(f"  error: {_short(turn.error)}")
    for linked in detail.sessions:
        session = linked.session
        print(f"Session {session.id} (linked by {linked.method}): {session.url or '-'}")
    return EXIT_OK


def cmd_conversations_load_otlp(store: ConnectorStore, args: argparse.Namespace) -> int:
    """OTLP JSON files (an OpenTelemetry Collector's file exporter) into the database."""
    if _service(args) is not None:
        raise UsageError(
            "load-otlp writes the database (--db); a service takes OTLP at POST /v1/traces"
        )
    from pytest_connectors.imports.otlp.files import load_files
    from pytest_connectors.storage.store import Store

    for path in args.files:
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    scope = Scope(tenant_id=args.tenant, agent_id=args.agent)
    with Store(_db(store, args)) as database:
        report = load_files(database, args.files, scope)
    # Nothing loaded is a failure a script must see, not a quiet success.
    done = EXIT_OK if report.spans else EXIT_REMOTE_FAILURE
    if args.json:
        _print_json({"files": report.files, "spans": report.spans, "rejected": report.rejected})
        return done
    print(f"loaded {counted(report.spans, 'span')} from {counted(report.files, 'file')}")
    for reason, count in report.rejected.most_common():
        print(f"skipped {counted(count, 'span')}: {reason}")
    if not report.spans:
        why = "the files hold no spans"
        if report.rejected:
            (reason, _count), *_ = report.rejected.most_common(1)
            why = f"every span was skipped ({reason})"
        print(f"{PROG}: error: nothing loaded: {why}", file=sys.stderr)
    return done


def cmd_sessions(store: ConnectorStore, args: argparse.Namespace) -> int:
    with _imports(store, args, writes=False) as imports:
        sessions = imports.sessions.list(connector=args.connector)
    if args.json:
        _print_json([_dump(s) for s in sessions])
        return EXIT_OK
    if not sessions:
        print("No sessions.")
        return EXIT_OK
    header = ("ID", "USER", "STARTED", "EVENTS", "FRUSTRATED", "ERRORS", "URL")
    rows = [
        (
            s.id,
            s.app_user_id or s.user_id,
            _when(s.started_at),
            str(s.event_count),
            str(s.frustrated_clicks),
            str(s.error_clicks),
            s.url or "-",
        )
        for s in sessions
    ]
    print(format_table([header, *rows]))
    return EXIT_OK


# -- worker -------------------------------------------------------------------------------------


def cmd_worker(store: ConnectorStore, args: argparse.Namespace) -> int:
    from datetime import timedelta

    from pytest_connectors.imports.worker import Worker
    from pytest_connectors.storage.store import Store

    def report(job_id: str, stats: JobStats) -> None:
        print(f"{job_id}: {_window_text(stats)}{_stats_text(stats)}", flush=True)

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, request_stop)
    with Store(_db(store, args)) as database:
        worker = Worker(database, lease=timedelta(seconds=args.lease), on_progress=report)
        print(f"Worker {worker.worker_id} on {database.display_url}", flush=True)
        try:
            done = worker.run(stop=stop, once=args.once, poll_interval=args.poll)
        except KeyboardInterrupt:
            done = -1
        finally:
            signal.signal(signal.SIGTERM, previous)
    if done >= 0:
        print(f"Worker {worker.worker_id} ran {counted(done, 'job')}")
    return EXIT_OK


# -- the parser ---------------------------------------------------------------------------------


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {value!r}") from None
    if not 0 < number <= 86_400:
        raise argparse.ArgumentTypeError(f"must be above 0 and at most 86400 s, got {value!r}")
    return number


def _limit(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 500:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 500, got {value!r}")
    return int(value)


def _action(
    group: Any, name: str, func: Command, help_text: str, *, json_flag: bool = True
) -> argparse.ArgumentParser:
    sub: argparse.ArgumentParser = group.add_parser(name, help=help_text, description=help_text)
    sub.add_argument(
        "--db",
        metavar="PATH_OR_URL",
        default=argparse.SUPPRESS,
        help=f"database (default: ${ENV_DB}, else connectors.db next to the connector file)",
    )
    sub.add_argument("--url", metavar="URL", default=argparse.SUPPRESS, help=URL_HELP)
    if name not in ("create", "update"):  # there --api-key is still the provider's (deprecated)
        sub.add_argument(
            "--api-key",
            dest="service_api_key",
            metavar="KEY",
            default=argparse.SUPPRESS,
            help=KEY_HELP,
        )
    if json_flag:
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    sub.set_defaults(func=func)
    return sub


def _group(commands: Commands, name: str, help_text: str) -> Any:
    parser = commands.add(name, _no_action, help_text, json_flag=False)
    parser.add_argument("--db", metavar="PATH_OR_URL", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", metavar="URL", default=None, help=URL_HELP)
    parser.add_argument(
        "--api-key", dest="service_api_key", metavar="KEY", default=None, help=KEY_HELP
    )
    parser.set_defaults(json=False)
    return parser.add_subparsers(dest=f"{name}_action", metavar="ACTION", required=True)


def _no_action(store: ConnectorStore, args: argparse.Namespace) -> int:  # pragma: no cover
    raise UsageError("give an action (see --help)")


def _add_wait(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait for the sync job to finish")
    parser.add_argument(
        "--timeout", type=_positive, metavar="S", help="with --wait: give up after S seconds"
    )


class _ConfigKeysHelp(str):
    """The ``--config`` help, made from the provider specs only when ``--help`` shows it:
    loading every spec costs most of a second that no other command should pay."""

    def __new__(cls) -> _ConfigKeysHelp:
        return super().__new__(cls, "a provider's config key")

    def __mod__(self, _params: object) -> str:
        return config_keys_help()


def config_keys_help(registry: ProviderRegistry | None = None) -> str:
    """Each provider's config keys, installed plugins' too, as its spec declares them (secret
    ones marked)."""
    from pytest_connectors.imports.providers import REGISTRY

    registry = registry or REGISTRY
    described = []
    for name in registry.names():
        try:
            spec = registry.spec(name)
        except ConnectorError:  # a broken plugin says so where it is used, not in the help
            continue
        keys = [f"{key} (secret)" if value.secret else key for key, value in spec.config.items()]
        described.append(f"{name}: {', '.join(keys)}")
    return "; ".join(described)


def register(commands: Commands) -> None:
    categories = [c.value for c in ImportCategory]

    imports = _group(
        commands, "imports", "manage import connectors (LangSmith, Langfuse, FullStory)"
    )
    create = _action(imports, "create", cmd_create, "add an import connector")
    create.add_argument("--agent", required=True, metavar="ID", help="the agent it imports for")
    create.add_argument("--name", required=True, help="unique per agent")
    create.add_argument(
        "--category", choices=categories, help="default: the provider's (a mismatch is refused)"
    )
    create.add_argument(
        "--provider",
        required=True,
        metavar="NAME",
        help="langsmith, langfuse, fullstory, or a provider another package installs",
    )
    create.add_argument("--tenant", help="tenant of the agent (default: default)")
    for parser in (
        create,
        update := _action(imports, "update", cmd_update, "change name or config (no reconnect)"),
    ):
        parser.add_argument(
            "--provider-key",
            metavar="VALUE",
            help="the provider's key, a ${VARIABLE} reference (preferred), or - for stdin",
        )
        parser.add_argument(  # the old spelling: still works, with a note to use the new one
            "--api-key", dest="deprecated_provider_key", metavar="VALUE", help=argparse.SUPPRESS
        )
        parser.add_argument(
            "--config",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help=_ConfigKeysHelp(),
        )
    update.add_argument("connector", metavar="NAME_OR_ID")
    update.add_argument("--name", help="new name")
    _action(imports, "list", cmd_list, "list import connectors").add_argument(
        "--agent", metavar="ID", help="only this agent's"
    )
    _action(imports, "get", cmd_get, "show one import connector").add_argument(
        "connector", metavar="NAME_OR_ID"
    )
    connect = _action(imports, "connect", cmd_connect, "mark connected and queue a sync")
    connect.add_argument("connector", metavar="NAME_OR_ID")
    _add_wait(connect)
    _action(imports, "disconnect", cmd_disconnect, "stop syncing; keep imported data").add_argument(
        "connector", metavar="NAME_OR_ID"
    )
    sync = _action(imports, "sync", cmd_sync, "queue a sync of a window (default: since last)")
    sync.add_argument("connector", metavar="NAME_OR_ID")
    sync.add_argument("--from", dest="from_", metavar="ISO", help="e.g. 2026-03-01T00:00:00Z")
    sync.add_argument("--to", metavar="ISO", help="end of the window (default: now)")
    _add_wait(sync)
    _action(
        imports, "delete", cmd_delete, "remove a connector with its jobs and data", json_flag=False
    ).add_argument("connector", metavar="NAME_OR_ID")

    jobs = _group(commands, "jobs", "inspect and wait for sync jobs")
    _action(jobs, "get", cmd_job_get, "show a job").add_argument("job", metavar="ID")
    wait = _action(jobs, "wait", cmd_job_wait, "wait for a job (runs it here if no worker does)")
    wait.add_argument("job", metavar="ID")
    wait.add_argument("--timeout", type=_positive, metavar="S", help="give up after S seconds")

    conversations = _group(commands, "conversations", "imported and native conversations")
    listing = _action(conversations, "list", cmd_conversations, "list conversations, newest first")
    listing.add_argument("--connector", metavar="NAME_OR_ID")
    listing.add_argument("--agent", metavar="ID")
    listing.add_argument(
        "--origin",
        choices=("native", "imported"),
        help="only conversations written by test sessions (native) or imported ones",
    )
    listing.add_argument("--limit", type=_limit, default=50, help="at most this many (1-500)")
    listing.add_argument("--cursor", help="continue after a previous page")
    listing.add_argument(
        "--since", metavar="ISO", help="started at or after (e.g. 2026-03-01T00:00:00Z; UTC)"
    )
    listing.add_argument("--until", metavar="ISO", help="started before")
    listing.add_argument(
        "--text",
        metavar="TEXT",
        help="found in the thread key, a message, a tool call, an answer or metadata",
    )
    show = _action(
        conversations, "show", cmd_conversation_show, "a conversation's turns and sessions"
    )
    show.add_argument(
        "conversation", metavar="ID_OR_THREAD", help="its id, or the thread key `list` shows"
    )
    show.add_argument("--agent", metavar="ID", help="whose, when agents share a native id")
    load = _action(
        conversations,
        "load-otlp",
        cmd_conversations_load_otlp,
        "store the traces of OTLP JSON files (a Collector's file exporter) as native conversations",
    )
    load.add_argument("files", nargs="+", type=Path, metavar="FILE")
    load.add_argument(
        "--agent",
        metavar="ID",
        help="the agent the traces belong to (default: each resource's pytest_connectors.agent_id)",
    )
    load.add_argument("--tenant", default="default", help="the tenant (default: default)")
    export.register(conversations, _action)

    sessions = _group(commands, "sessions", "imported user sessions")
    _action(sessions, "list", cmd_sessions, "list sessions").add_argument(
        "--connector", metavar="NAME_OR_ID"
    )

    worker = commands.add(
        "worker", cmd_worker, "run sync jobs (several may share a database)", json_flag=False
    )
    worker.add_argument("--db", metavar="PATH_OR_URL", help=f"database (default: ${ENV_DB})")
    worker.add_argument("--once", action="store_true", help="stop when no job is runnable")
    worker.add_argument(
        "--lease",
        type=_positive,
        default=30.0,
        metavar="S",
        help="lease length; a job of a dead worker is retried after it",
    )
    worker.add_argument(
        "--poll",
        type=_positive,
        default=1.0,
        metavar="S",
        help="idle wait between looks at the queue",
    )
