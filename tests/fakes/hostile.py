"""A provider that attacks the sync instead of serving it: LangSmith's and FullStory's routes on
one loopback server, answering with whatever ``attack`` names.

LangSmith attacks answer ``POST /runs/query``: a page hundreds of MB long, one of millions of
tiny objects, one that trickles a byte at a time for ever, fresh cursors to empty pages for ever,
runs with a lone surrogate or nested 100,000 levels deep. FullStory attacks answer the export's
download: a gzip bomb. ``chatty_refusal`` refuses the first call of either with a reply that
talks about the provider's insides and echoes the key. Every other route answers as the real API
does, just enough to get there.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import threading
import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.types import Receive, Scope, Send

from pytest_connectors.fakes.threaded import ThreadedServer

PROJECT = "support-prod"
MIB = 1024 * 1024


def good_run(number: int) -> dict[str, Any]:
    """A root run any sync stores: recent, finished, in a thread of its own."""
    start = datetime.now(UTC) - timedelta(hours=1, minutes=number)
    return {
        "id": f"run-{number:05d}",
        "start_time": start.isoformat(),
        "end_time": (start + timedelta(seconds=2)).isoformat(),
        "status": "success",
        "inputs": {"messages": [{"role": "user", "content": f"question {number}"}]},
        "outputs": {"answer": f"answer {number}"},
        "extra": {"metadata": {"thread_id": f"thread-{number}"}},
    }


class HostileProvider:
    """The ASGI app; ``attack`` may change between tests, ``queries`` counts run queries."""

    def __init__(self) -> None:
        self.attack = "none"
        self.queries = 0
        self.queried = threading.Event()  # set when the first run query arrives
        self.base_url = ""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if self.attack == "chatty_refusal" and path in ("/sessions", "/segments/v1/exports"):
            await _json(send, {"detail": self.chatter(scope)}, status=400)
        elif path == "/sessions":
            await _json(send, [{"id": "project-1", "name": PROJECT}])
        elif path == "/runs/query":
            self.queries += 1
            self.queried.set()
            await _stream(send, self._page())
        elif path == "/segments/v1/exports":
            await _json(send, {"operationId": "op-1"})
        elif path.startswith("/operations/v1/"):
            await _json(send, {"state": "COMPLETED", "results": {"searchExportId": "exp-1"}})
        elif path.startswith("/search/v1/exports/"):
            await _json(send, {"location": f"{self.base_url}/download/exp-1.ndjson.gz"})
        elif path.startswith("/download/"):
            await _stream(send, self._export())
        else:
            await _json(send, {"detail": "no such route"}, status=404)

    @staticmethod
    def chatter(scope: Scope) -> str:
        headers = {name.decode(): value.decode() for name, value in scope["headers"]}
        key = headers.get("x-api-key") or headers.get("authorization", "")
        return f"internal host 10.1.2.3 rejected {key} at shard 7"

    async def _page(self) -> AsyncIterator[bytes]:
        attack = self.attack
        if attack == "huge_page":  # one run of 200 MB
            yield b'{"runs": [{"id": "run-huge", "inputs": {"text": "'
            block = b"x" * MIB
            for _ in range(200):
                yield block
            yield b'"}}], "cursors": {"next": null}}'
        elif attack == "small_objects":  # 15 MiB of {}: five million objects
            yield b'{"runs": ['
            block = b"{}," * (MIB // 3)
            for _ in range(15):
                yield block
            yield b'{}], "cursors": {"next": null}}'
        elif attack == "trickle":  # valid JSON so far, one byte at a time, for ever
            while True:
                yield b" "
                await asyncio.sleep(0.2)
        elif attack == "fresh_cursors":
            page = {"runs": [], "cursors": {"next": uuid.uuid4().hex}}
            yield json.dumps(page).encode()
        elif attack == "bad_records":
            surrogate = {**good_run(2), "inputs": {"text": "\ud83d alone"}}
            no_id = {**good_run(3), "id": None}
            runs = [good_run(1), surrogate, no_id]
            yield json.dumps({"runs": runs, "cursors": {"next": None}}).encode()
        elif attack == "deep_nesting":
            good = json.dumps(good_run(1)).encode()
            deep = json.dumps({**good_run(2), "inputs": "DEEP"}).encode()
            deep = deep.replace(b'"DEEP"', b"[" * 100_000 + b"]" * 100_000)
            yield b'{"runs": [' + good + b"," + deep + b'], "cursors": {"next": null}}'
        else:
            yield json.dumps({"runs": [good_run(1)], "cursors": {"next": None}}).encode()

    async def _export(self) -> AsyncIterator[bytes]:
        if self.attack == "gzip_bomb":  # 1 GiB of blank lines in about 1 MB
            squeezer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
            block = b"\n" * MIB
            for _ in range(1024):
                yield squeezer.compress(block)
            yield squeezer.flush()
        else:
            yield gzip.compress(b"{}\n")


async def _json(send: Send, body: Any, status: int = 200) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def _stream(send: Send, chunks: AsyncIterator[bytes]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    except OSError:  # the client hung up, as it should
        return


class HostileServer:
    """`HostileProvider` under uvicorn on a free 127.0.0.1 port, in a daemon thread."""

    def __init__(self) -> None:
        self.app = HostileProvider()
        self._server = ThreadedServer(self.app, "hostile provider")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}"

    def start(self) -> HostileServer:
        self._server.start()
        self.app.base_url = self.url
        return self

    def stop(self) -> None:
        self._server.stop()
