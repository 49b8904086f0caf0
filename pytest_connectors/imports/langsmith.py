"""The LangSmith provider: a project's root runs over a time window, page by page, over httpx.

It speaks the REST API the ``langsmith`` SDK speaks, without the SDK (which is slow to import,
starts threads and reads profiles and environment variables of its own):

- the project by name: ``GET /sessions?name=...&limit=1`` (an empty list: no such project);
- root runs: ``POST /runs/query`` with the project id, ``is_root``, the window and ``limit``
  100 in ascending start order, following ``cursors.next``; cursor pages may overlap, so runs
  are deduplicated by id, and a full page without a next cursor is refused rather than taken
  for the end of the window;
- ``x-api-key`` and, for organisation-scoped keys, ``x-tenant-id`` (the workspace);
- 429 (honouring ``Retry-After``), 5xx, timeouts and dropped connections are retried with
  backoff a bounded number of times; the rest fails at once with a stable code.

The API key never appears in a message, a repr or a checkpoint.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn, Self

import httpx

from pytest_connectors._support.secrets import Redactor, Secret
from pytest_connectors.client.retry import RetryPolicy, parse_retry_after
from pytest_connectors.imports.conversations import parse_run_time
from pytest_connectors.imports.provider import FetchedRecord, Page, ProviderError, Window

__all__ = ["DEFAULT_API_URL", "PAGE_SIZE", "LangSmithProvider"]

DEFAULT_API_URL = "https://api.smith.langchain.com"
PAGE_SIZE = 100  # the most /runs/query serves in one page
_CHECKPOINT_VERSION = 1
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_SELECT = (
    "id",
    "name",
    "run_type",
    "start_time",
    "end_time",
    "status",
    "error",
    "inputs",
    "outputs",
    "extra",
    "tags",
    "trace_id",
    "dotted_order",
    "parent_run_id",
    "session_id",
    "reference_example_id",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "first_token_time",
    "app_path",
)


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat()


class LangSmithProvider:
    """Root runs of one LangSmith project; implements the `Provider` protocol."""

    def __init__(
        self,
        *,
        api_key: str,
        project_name: str,
        api_url: str | None = None,
        workspace_id: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``api_url`` may end in ``/api/v1`` or not: the API serves both."""
        self.project_name = project_name
        self.api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.workspace_id = workspace_id or None
        self.timeout_s = timeout_s
        self._policy = RetryPolicy(retries=max(0, max_retries), backoff_ms=500.0)
        self._sleep = sleep
        self._redactor = Redactor([api_key, api_key.strip()])
        # Held as Secret: pytest shows the locals of failing frames (-l) with repr, which masks it.
        key = Secret(api_key.strip())  # a key pasted with a newline is still the key
        self._key_problem: str | None = None
        if not key or not all("!" <= char <= "~" for char in key):
            self._key_problem = (
                "the connector's apiKey is empty or holds characters an HTTP header cannot "
                "carry (spaces, control or non-ASCII characters); set the key LangSmith gave you"
            )
            key = Secret("")
        headers = {"x-api-key": key, "accept": "application/json"}
        if self.workspace_id:
            headers["x-tenant-id"] = self.workspace_id
        self._client = httpx.Client(
            base_url=self.api_url + "/",
            headers=headers,
            transport=transport,
            timeout=httpx.Timeout(timeout_s),
        )

    def __repr__(self) -> str:
        return f"<LangSmithProvider project={self.project_name!r} api_url={self.api_url!r}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    # --- the Provider protocol ----------------------------------------------------------------

    def fetch(
        self,
        window: Window,
        *,
        resume_from: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> Iterator[Page]:
        """Yield the window's root runs a page at a time; ``resume_from`` is a page's checkpoint.

        A checkpoint from another window is ignored (the scan starts over, which is harmless:
        the sync engine upserts).
        """
        resumed = _read_checkpoint(resume_from, window)
        if resumed is not None:
            project_id, cursor = resumed
        else:
            project_id, cursor = self.project_id(), None
        # Cursor pages may repeat the end of the page before: only those ids are kept, so memory
        # stays one page however large the window. A cursor served twice would loop forever.
        previous: set[str] = set()
        cursors: set[str] = {cursor} if cursor else set()
        while not should_stop():
            body: dict[str, Any] = {
                "session": [project_id],
                "is_root": True,
                "start_time": _iso(window.start),
                "end_time": _iso(window.end),
                "limit": PAGE_SIZE,
                "order": "asc",
                "select": list(_SELECT),
            }
            if cursor:
                body["cursor"] = cursor
            runs, following = self._page(self._call("POST", "runs/query", body=body))
            records: list[FetchedRecord] = []
            served: set[str] = set()
            for run in runs:
                record = self._record(run)
                if record.provider_id not in previous and record.provider_id not in served:
                    records.append(record)
                served.add(record.provider_id)
            previous = served
            if following is None and len(runs) >= PAGE_SIZE:
                self._fail(
                    "malformed_page",
                    f"LangSmith served a full page of {len(runs)} runs without a cursor to the "
                    "next one; the window cannot be read completely, try again later",
                    transient=False,
                )
            if following in cursors:
                self._fail(
                    "malformed_page",
                    "LangSmith served a cursor it had served before in this scan; the pages "
                    "would repeat forever, try again later",
                    transient=False,
                )
            checkpoint = None
            if following is not None:
                cursors.add(following)
                checkpoint = _write_checkpoint(project_id, following, window)
            yield Page(records=records, checkpoint=checkpoint)
            if following is None:
                return
            cursor = following

    # --- other calls --------------------------------------------------------------------------

    def project_id(self) -> str:
        """The id of the project named ``project_name``; ``project_not_found`` if there is none."""
        found = self._call("GET", "sessions", params={"name": self.project_name, "limit": 1})
        if not isinstance(found, list):
            self._fail(
                "malformed_page", "LangSmith answered GET /sessions with no list of projects"
            )
        # Only an exact match: a deployment that ignored the filter must not hand us another
        # project's runs.
        match = next(
            (p for p in found if isinstance(p, Mapping) and p.get("name") == self.project_name),
            None,
        )
        if match is None or not match.get("id"):
            where = f" in workspace {self.workspace_id}" if self.workspace_id else ""
            self._fail(
                "project_not_found",
                f"LangSmith has no project named {self.project_name!r}{where}; check the "
                "connector's projectName (and workspaceId)",
                transient=False,
            )
        return str(match["id"])

    def count(self, window: Window) -> int | None:
        """How many root runs the window holds, for progress; None if LangSmith does not say."""
        body = {
            "session": [self.project_id()],
            "is_root": True,
            "start_time": _iso(window.start),
            "end_time": _iso(window.end),
        }
        stats = self._call("POST", "runs/stats", body=body)
        count = stats.get("run_count") if isinstance(stats, Mapping) else None
        return count if isinstance(count, int) else None

    # --- pages and records --------------------------------------------------------------------

    def _page(self, data: Any) -> tuple[list[Mapping[str, Any]], str | None]:
        runs = data.get("runs") if isinstance(data, Mapping) else None
        cursors = data.get("cursors") if isinstance(data, Mapping) else None
        if not isinstance(runs, list) or not (cursors is None or isinstance(cursors, Mapping)):
            self._fail(
                "malformed_page",
                "LangSmith answered POST /runs/query with a page that holds no list of runs; "
                "check that apiUrl points at the LangSmith API",
                transient=False,
            )
        following = cursors.get("next") if cursors else None
        return runs, str(following) if following else None

    def _record(self, run: Any) -> FetchedRecord:
        started = parse_run_time(run.get("start_time")) if isinstance(run, Mapping) else None
        if not isinstance(run, Mapping) or not run.get("id") or started is None:
            self._fail(
                "malformed_page",
                "LangSmith served a run without an id or a start time; try again later",
                transient=False,
            )
        status = run.get("status")
        pending = status == "pending" if status is not None else run.get("end_time") is None
        return FetchedRecord(
            kind="trace",
            provider_id=str(run["id"]),
            occurred_at=started,
            payload=run if isinstance(run, dict) else dict(run),
            pending=pending,
        )

    # --- HTTP ---------------------------------------------------------------------------------

    def _fail(self, code: str, message: str, *, transient: bool = False) -> NoReturn:
        raise ProviderError(code, self._redactor.scrub(message), transient=transient)

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        """One API call with retries; the decoded JSON, or a `ProviderError`."""
        if self._key_problem is not None:
            self._fail("auth_failed", self._key_problem, transient=False)
        what = f"{method} /{path}"
        for attempt in range(1, self._policy.attempts + 1):
            hinted: float | None = None
            try:
                response = self._client.request(method, path, params=params, json=body)
            except httpx.TimeoutException:
                failure = ProviderError(
                    "timeout",
                    f"LangSmith did not answer {what} within {self.timeout_s:g} s "
                    f"({attempt} attempts); try again later",
                    transient=True,
                )
            except httpx.TransportError as exc:
                failure = ProviderError(
                    "connection_failed",
                    f"the connection to LangSmith at {self.api_url} failed during {what} "
                    f"({type(exc).__name__}, {attempt} attempts); check apiUrl and the network",
                    transient=True,
                )
            else:
                if response.status_code < 300:
                    try:
                        return response.json()
                    except ValueError:
                        failure = ProviderError(
                            "malformed_page",
                            f"LangSmith answered {what} with a body that is not JSON "
                            f"({attempt} attempts); try again later",
                            transient=True,
                        )
                else:
                    failure = self._status_error(what, response, attempt)
                    hinted = parse_retry_after(response.headers.get("retry-after"))
            if not failure.transient or attempt >= self._policy.attempts:
                self._fail(failure.code, str(failure), transient=failure.transient)
            self._sleep(self._policy.delay_s(attempt, hinted))
        raise AssertionError("unreachable")  # pragma: no cover

    def _status_error(self, what: str, response: httpx.Response, attempt: int) -> ProviderError:
        status = response.status_code
        detail = _detail(response)
        if status == 401:
            return ProviderError(
                "auth_failed",
                "LangSmith rejected the API key (HTTP 401); check the connector's apiKey",
                transient=False,
            )
        if status == 403:
            if "org_scoped_key_requires_workspace" in detail:
                message = (
                    "LangSmith needs a workspace for this organisation-scoped API key "
                    "(HTTP 403); set workspaceId in the connector's config"
                )
            else:
                message = (
                    f"LangSmith refused {what} (HTTP 403{': ' + detail if detail else ''}); "
                    "check that the apiKey may read the project and the workspaceId"
                )
            return ProviderError("auth_failed", message, transient=False)
        if status == 429:
            return ProviderError(
                "rate_limited",
                f"LangSmith kept rate-limiting {what} (HTTP 429, {attempt} attempts); "
                "try again later",
                transient=True,
            )
        if status in _RETRY_STATUSES or status >= 500:
            return ProviderError(
                "server_error",
                f"LangSmith failed {what} with HTTP {status} ({attempt} attempts); try again later",
                transient=True,
            )
        if status == 404:
            return ProviderError(
                "not_found",
                f"{self.api_url} answered {what} with HTTP 404; check that apiUrl is the "
                "LangSmith API (e.g. https://api.smith.langchain.com)",
                transient=False,
            )
        return ProviderError(
            "bad_request",
            f"LangSmith refused {what} with HTTP {status}{': ' + detail if detail else ''}",
            transient=False,
        )


def _detail(response: httpx.Response) -> str:
    """The API's own one-line reason, if it gave one (``detail`` or ``error``)."""
    try:
        data = response.json()
    except ValueError:
        return ""
    if isinstance(data, Mapping):
        for key in ("detail", "error", "message"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return " ".join(value.split())[:300]
    return ""


def _write_checkpoint(project_id: str, cursor: str, window: Window) -> str:
    return json.dumps(
        {
            "v": _CHECKPOINT_VERSION,
            "project": project_id,
            "cursor": cursor,
            "start": _iso(window.start),
            "end": _iso(window.end),
        },
        separators=(",", ":"),
    )


def _read_checkpoint(checkpoint: str | None, window: Window) -> tuple[str, str] | None:
    if not checkpoint:
        return None
    try:
        data = json.loads(checkpoint)
    except ValueError:
        return None
    if not isinstance(data, dict) or data.get("v") != _CHECKPOINT_VERSION:
        return None
    if data.get("start") != _iso(window.start) or data.get("end") != _iso(window.end):
        return None
    project, cursor = data.get("project"), data.get("cursor")
    if not isinstance(project, str) or not isinstance(cursor, str):
        return None
    return project, cursor
