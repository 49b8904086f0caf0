"""The Langfuse provider: a project's traces over a time window, with their observations.

It reads the public API (``/api/public``) with HTTP Basic auth, public key as the user and
secret key as the password:

- ``GET /traces?page=&limit=100&fromTimestamp=&toTimestamp=&orderBy=timestamp.asc``, page by
  page until ``meta.totalPages``; pages may shift while new traces land, so traces are
  deduplicated against the previous page;
- ``GET /traces/{id}`` for each trace: the trace with its observations, which become one turn
  (`langfuse_runs.run_of`); a session is a conversation. A trace listed exactly as when it was
  stored (its listing, ``updatedAt`` and observation ids included, is its version) is not read
  again: a re-sync of an unchanged window costs its list pages only.

Retries, deadlines and reply bounds are `JsonApiProvider`'s (429 honours ``Retry-After``). A
trace that cannot be read (no id, no timestamp, not an object, deleted since it was listed: its
detail answers 404) is skipped and counted on its page. The secret key never appears in a
message, a repr or a checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import httpx

from pytest_connectors._support.secrets import Redactor, Secret
from pytest_connectors._support.text import counted
from pytest_connectors._support.times import parse_utc, utc
from pytest_connectors.imports.http_provider import JsonApiProvider, reply_detail
from pytest_connectors.imports.limits import ProviderLimits, limit_name
from pytest_connectors.imports.provider import (
    FetchedRecord,
    Page,
    ProviderError,
    Window,
    decode_checkpoint,
    encode_checkpoint,
)
from pytest_connectors.imports.providers.langfuse.runs import run_of
from pytest_connectors.imports.replies import holds

__all__ = ["DEFAULT_BASE_URL", "PAGE_SIZE", "LangfuseProvider"]

DEFAULT_BASE_URL = "https://cloud.langfuse.com"  # EU; https://us.cloud.langfuse.com for the US
PAGE_SIZE = 100  # the most /traces serves in one page
DETAIL_FETCHES = 4  # trace details read at once (more do not help: the server is the limit)

log = logging.getLogger(__name__)


def _header_safe(text: str) -> bool:
    return bool(text) and all("!" <= char <= "~" for char in text)


class LangfuseProvider(JsonApiProvider):
    """Traces of one Langfuse project (the keys' project); implements the `Provider` protocol."""

    label = "Langfuse"
    url_setting = "baseUrl"

    def __init__(
        self,
        *,
        public_key: str,
        secret_key: str,
        base_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float | None = None,
        max_retries: int = 5,
        sleep: Callable[[float], None] | None = None,
        limits: ProviderLimits | None = None,
    ) -> None:
        base = (base_url or DEFAULT_BASE_URL).rstrip("/").removesuffix("/api/public")
        limits = limits or ProviderLimits()
        public, secret = public_key.strip(), Secret(secret_key.strip())
        key_problem = None
        if not _header_safe(public) or not _header_safe(secret) or ":" in public:
            key_problem = (
                "the connector's publicKey or secretKey is empty or holds characters HTTP Basic "
                "auth cannot carry; set the keys Langfuse gave you (pk-lf-..., sk-lf-...)"
            )
            public, secret = "", Secret("")
        token = base64.b64encode(f"{public}:{secret}".encode()).decode("ascii")
        self.public_key = public
        super().__init__(
            api_url=base,
            base_url=base + "/api/public/",
            headers={"authorization": Secret(f"Basic {token}"), "accept": "application/json"},
            transport=transport,
            redactor=Redactor([secret_key, secret_key.strip(), token]),
            limits=limits,
            timeout_s=timeout_s,
            max_retries=max_retries,
            sleep=sleep,
            key_problem=key_problem,
        )

    def __repr__(self) -> str:
        return f"<LangfuseProvider public_key={self.public_key!r} base_url={self.api_url!r}>"

    # --- the Provider protocol ----------------------------------------------------------------

    def _scan(self, window: Window, resume_from: str | None) -> Iterator[Page]:
        """The window's traces a page at a time; a checkpoint holds the next page number."""
        state = decode_checkpoint(resume_from, window) or {}
        page = state.get("page")
        page = page if isinstance(page, int) and page >= 1 else 1
        previous: set[str] = set()
        while not self._should_stop():
            if page > self.limits.max_pages:
                self._fail(
                    "too_many_pages",
                    f"Langfuse served more than {self.limits.max_pages} pages for this window, "
                    f"the limit of one job ({limit_name('max_pages')}); sync a shorter window "
                    "(--from/--to) or raise the limit",
                )
            params = {
                "page": page,
                "limit": PAGE_SIZE,
                "fromTimestamp": utc(window.start).isoformat(),
                "toTimestamp": utc(window.end).isoformat(),
                "orderBy": "timestamp.asc",
            }
            traces, total_pages = self._page(self._call("GET", "traces", params=params).value)
            listed = [(trace, _version(trace)) for trace in traces]
            unchanged = self._unchanged(listed)
            wanted = [(t, v) for t, v in listed if v is None or t["id"] not in unchanged]
            records: list[FetchedRecord] = []
            skipped: dict[str, int] = {}
            served: set[str] = set(unchanged)
            # One detail request per trace: a few at a time, so their round trips overlap.
            with ThreadPoolExecutor(DETAIL_FETCHES, thread_name_prefix="langfuse") as pool:
                read = list(pool.map(self._record, *zip(*wanted, strict=True))) if wanted else []
            if self._should_stop():
                return
            for record in read:
                if isinstance(record, str):
                    skipped[record] = skipped.get(record, 0) + 1
                    continue
                if record.provider_id not in previous and record.provider_id not in served:
                    records.append(record)
                served.add(record.provider_id)
            fresh = {pid: at for pid, at in unchanged.items() if pid not in previous}
            previous = served
            done = page >= total_pages or len(traces) < PAGE_SIZE
            checkpoint = None if done else encode_checkpoint(window, page=page + 1)
            yield Page(records=records, checkpoint=checkpoint, skipped=skipped, unchanged=fresh)
            if done:
                return
            page += 1

    # --- pages and records --------------------------------------------------------------------

    def _unchanged(self, listed: list[tuple[Any, str | None]]) -> dict[str, datetime]:
        """The listed traces stored with the version listed, by id, with their start times."""
        ids = [trace["id"] for trace, version in listed if version is not None]
        known = self._stored(ids) if self._stored is not None and ids else {}
        unchanged: dict[str, datetime] = {}
        for trace, version in listed:
            if version is not None and known.get(trace["id"]) == version:
                started = parse_utc(trace.get("timestamp"))
                if started is not None:  # stored, so it had one: the version covers it
                    unchanged[trace["id"]] = started
        return unchanged

    def _page(self, data: Any) -> tuple[list[Any], int]:
        traces = data.get("data") if isinstance(data, Mapping) else None
        meta = data.get("meta") if isinstance(data, Mapping) else None
        total = meta.get("totalPages") if isinstance(meta, Mapping) else None
        if not isinstance(traces, list) or isinstance(total, bool) or not isinstance(total, int):
            self._fail(
                "malformed_page",
                "Langfuse answered GET /traces with a page that holds no list of traces; check "
                "that baseUrl points at Langfuse (e.g. https://cloud.langfuse.com)",
            )
        return traces, total

    def _record(self, trace: Any, version: str | None = None) -> FetchedRecord | str:
        """The trace with its observations as a record, or why it cannot be read."""
        trace_id = trace.get("id") if isinstance(trace, Mapping) else None
        started = parse_utc(trace.get("timestamp")) if isinstance(trace, Mapping) else None
        if not isinstance(trace, Mapping):
            problem = "not_an_object"
        elif not isinstance(trace_id, str) or not trace_id:
            problem = "no_id"
        elif started is None:
            problem = "no_start_time"
        else:
            try:
                detail = self._call("GET", f"traces/{trace_id}")
            except ProviderError as exc:
                if exc.code != "not_found":
                    raise
                detail = None  # deleted since the list was served
            full = detail.value if detail is not None else None
            if detail is None:
                problem = "deleted"
            elif not isinstance(full, Mapping) or full.get("id") != trace_id:
                problem = "not_an_object"
            elif detail.marker is not None and holds(full, detail.marker):
                problem = "nested_too_deep"
            else:
                observations = full.get("observations")
                run = run_of(full, observations if isinstance(observations, list) else [])
                return FetchedRecord(
                    kind="trace",
                    provider_id=trace_id,
                    occurred_at=started,
                    payload=run,
                    pending=run["status"] == "pending",
                    version=version,
                )
        shown = trace_id if isinstance(trace_id, str) else "(no id)"
        log.warning("Langfuse trace %r skipped: %s", shown, problem)
        return problem

    # --- HTTP ---------------------------------------------------------------------------------

    def _status_error(self, what: str, response: httpx.Response, attempt: int) -> ProviderError:
        """A fixed message per status: what Langfuse said goes to the log, never to the job."""
        status = response.status_code
        detail = self._redactor.scrub(reply_detail(response))
        if detail:
            log.warning("Langfuse answered %s with HTTP %s: %s", what, status, detail)
        if status in (401, 403):
            return ProviderError(
                "auth_failed",
                f"Langfuse rejected the keys (HTTP {status}); check the connector's publicKey "
                "and secretKey, and that baseUrl is the region the project lives in",
                transient=False,
            )
        if status == 429:
            return ProviderError(
                "rate_limited",
                f"Langfuse kept rate-limiting {what} (HTTP 429, {counted(attempt, 'attempt')}); "
                "try again later",
                transient=True,
            )
        if status >= 500:
            return ProviderError(
                "server_error",
                f"Langfuse failed {what} with HTTP {status} ({counted(attempt, 'attempt')}); "
                "try again later",
                transient=True,
            )
        if status == 404:
            return ProviderError(
                "not_found",
                f"{self.api_url} answered {what} with HTTP 404; check that baseUrl is Langfuse "
                "(e.g. https://cloud.langfuse.com)",
                transient=False,
            )
        return ProviderError(
            "bad_request",
            f"Langfuse refused {what} with HTTP {status} (the service's log holds Langfuse's "
            "reason)",
            transient=False,
        )


def _version(trace: Any) -> str | None:
    """A listed trace's version: the digest of its listing (``updatedAt``, the ids of its
    observations, its output...); None for a trace without a readable id, read as it is."""
    if not isinstance(trace, Mapping) or not isinstance(trace.get("id"), str) or not trace["id"]:
        return None
    try:
        text = json.dumps(trace, sort_keys=True, separators=(",", ":"), default=str)
    except (RecursionError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()
