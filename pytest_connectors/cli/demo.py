"""``pytest-connectors demo``: a stand-in LangSmith or FullStory on loopback, filled with the
example agent's conversations, so the import, service and replay commands can be tried without
an account (see ``pytest_connectors.fakes.demo``)."""

from __future__ import annotations

import argparse
import importlib.util
import signal
import threading
from types import FrameType
from typing import Any

from pytest_connectors.cli.service import _port
from pytest_connectors.errors import ConnectorError, MissingDependencyError

DEFAULT_PORTS = {"langsmith": 1984, "fullstory": 1985}


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def cmd_demo(_files: object, args: argparse.Namespace) -> int:
    missing = [m for m in ("starlette", "uvicorn") if importlib.util.find_spec(m) is None]
    if missing:
        raise MissingDependencyError(
            f'the demo needs {" and ".join(missing)}: pip install "pytest-connectors[server]"'
        )
    from pytest_connectors.fakes import demo, fullstory, langsmith

    port = DEFAULT_PORTS[args.provider] if args.port is None else args.port
    server = (demo.langsmith_demo if args.provider == "langsmith" else demo.fullstory_demo)(
        port=port
    )
    try:
        server.start()
    except OSError as exc:
        raise ConnectorError(
            f"cannot listen on 127.0.0.1:{port} ({exc.strerror or exc}); "
            "choose another port with --port"
        ) from None
    threads = len(demo.THREADS)
    if args.provider == "langsmith":
        turns = sum(len(thread.turns) for thread in demo.THREADS)
        holding = f'project "{demo.PROJECT}": {threads} conversations, {turns} traces'
        exports = f"LANGSMITH_ENDPOINT={server.url} LANGSMITH_API_KEY={langsmith.API_KEY}"
    else:
        holding = f'segment "everyone": {threads} sessions'
        exports = f"FULLSTORY_API_URL={server.url} FULLSTORY_API_KEY={fullstory.API_KEY}"
    print(f"{args.provider} demo on {server.url}, {holding} from the last hour")
    print(f"export {exports}")
    print("Ctrl-C stops it; it keeps nothing.", flush=True)
    signal.signal(signal.SIGTERM, _stop)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def register(commands: Any) -> None:
    """Add ``demo`` (see ``cli.main.Commands``)."""
    demo = commands.add(
        "demo",
        cmd_demo,
        "serve a stand-in LangSmith or FullStory holding the example agent's conversations",
        json_flag=False,
    )
    demo.add_argument(
        "provider", choices=sorted(DEFAULT_PORTS), help="the provider to stand in for"
    )
    demo.add_argument(
        "--port", type=_port, help="port on 127.0.0.1 (default: langsmith 1984, fullstory 1985)"
    )
