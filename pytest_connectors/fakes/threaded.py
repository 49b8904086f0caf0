"""An ASGI app served by uvicorn in a daemon thread of this process, on a loopback port."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

import uvicorn


class ThreadedServer:
    """``app`` on 127.0.0.1:``port`` (0: a free one), in a daemon thread.

    The socket is bound when the server is made and handed to uvicorn, so ``port`` is known at
    once and no other process can take it between choosing and listening.
    """

    def __init__(self, app: Any, name: str, *, port: int = 0) -> None:
        self.name = name
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind(("127.0.0.1", port))
        except OSError:
            self._socket.close()
            raise
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app, log_level="critical", access_log=False, lifespan="off", timeout_graceful_shutdown=1
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name=name, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the {self.name} did not start on port {self.port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class _Served(Protocol):
    @property
    def app(self) -> Any: ...


Fake = TypeVar("Fake", bound=_Served)


class FakeServer(Generic[Fake]):
    """A fake provider served in a thread; ``fake`` stays at hand to seed and inspect."""

    label: ClassVar[str]

    def __init__(self, fake: Fake, *, port: int = 0) -> None:
        self.fake = fake
        self._port = port
        self._server: ThreadedServer | None = None

    @property
    def port(self) -> int:
        return self._server.port if self._server is not None else self._port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._server = ThreadedServer(self.fake.app, self.label, port=self._port).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
