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

What a page may cost is bounded (`ProviderLimits`): its bytes and JSON values, the time of each
request and of the page with its retries, and the pages of one job (a cursor served twice is
refused at once). A run that cannot be read (no id, no start time, nested too deep to parse) is
skipped and counted on its page; only a page that cannot be read fails the window. A stop asked
for mid-request ends the scan within a fraction of a second.

Each run's record gains ``trace_url``, its page in LangSmith's web app: the web host for the
API host (:func:`web_url_for`, or the connector's ``webUrl``) joined to the run's ``app_path``.

The API key never appears in a message, a repr or a checkpoint, and no message quotes a reply:
what LangSmith said goes to the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

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
from pytest_connectors.imports.replies import (
    holds,
)

__all__ = ["DEFAULT_API_URL", "PAGE_SIZE", "LangSmithProvider", "web_url_for"]

DEFAULT_API_URL = "https://api.smith.langchain.com"
PAGE_SIZE = 100  # the most /runs/query serves in one page

log = logging.getLogger(__name__)
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


_HOSTED_API = "api.smith.langchain.com"
_MAX_APP_PATH = 2048  # longer is no page of the web app


def _iso(moment: datetime) -> str:
    return utc(moment).isoformat()


def web_url_for(api_url: str) -> str:
    """Where LangSmith's web app is for its API at ``api_url``, as the ``langsmith`` SDK finds
    it: the hosted API's regions have theirs (``eu.api.smith.langchain.com`` ->
    ``https://eu.smith.langchain.com``); a self-hosted one serves the app where its API path
    (``/api/v1``, ``/api``) begins, or at its root."""
    parts = urlsplit(api_url.strip())
    host = (parts.hostname or "").lower()
    if host == _HOSTED_API or host.endswith("." + _HOSTED_API):
        return "https://" + host.removesuffix(_HOSTED_API) + "smith.langchain.com"
    path = parts.path.rstrip("/")
    for api_path in ("/api/v1", "/api"):
        if path.endswith(api_path):
            path = path.removesuffix(api_path)
            break
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _trace_url(web_url: str, app_path: Any) -> str | None:
    """The run's page: ``app_path`` under the web app; None for a path that would leave it."""
    if (
        not isinstance(app_path, str)
        or not app_path.startswith("/")
        or app_path.startswith("//")
        or len(app_path) > _MAX_APP_PATH
        or any(char.isspace() or char == "\\" for char in app_path)
    ):
        return None
    return web_url + app_path


class LangSmithProvider(JsonApiProvider):
    """Root runs of one LangSmith project; implements the `Provider` protocol."""

    label = "LangSmith"
    url_setting = "apiUrl"

    def __init__(
        self,
        *,
        api_key: str,
        project_name: str,
        api_url: str | None = None,
        workspace_id: str | None = None,
        web_url: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float | None = None,
        max_retries: int = 5,
        sleep: Callable[[float], None] | None = None,
        limits: ProviderLimits | None = None,
    ) -> None:
        """``api_url`` may end in ``/api/v1`` or not: the API serves both. ``web_url``: where
        LangSmith's web app is, when not where :func:`web_url_for` finds it.

        ``timeout_s`` bounds a request from connecting to its last byte (default: the limits'
        request timeout); ``sleep`` replaces the pauses between attempts, which otherwise end
        early when the job is asked to stop.
        """
        self.project_name = project_name
        self.workspace_id = workspace_id or None
        api_url = (api_url or DEFAULT_API_URL).rstrip("/")
        self.web_url = (web_url or web_url_for(api_url)).strip().rstrip("/")
        limits = limits or ProviderLimits()
        # Held as Secret: pytest shows the locals of failing frames (-l) with repr, which masks it.
        key = Secret(api_key.strip())  # a key pasted with a newline is still the key
        key_problem: str | None = None
        if not key or not all("!" <= char <= "~" for char in key):
            key_problem = (
                "the connector's apiKey is empty or holds characters an HTTP header cannot "
                "carry (spaces, control or non-ASCII characters); set the key LangSmith gave you"
            )
            key = Secret("")
        headers = {"x-api-key": key, "accept": "application/json"}
        if self.workspace_id:
            headers["x-tenant-id"] = self.workspace_id
        super().__init__(
            api_url=api_url,
            base_url=api_url + "/",
            headers=headers,
            transport=transport,
            redactor=Redactor([api_key, api_key.strip()]),
            limits=limits,
            timeout_s=timeout_s,
            max_retries=max_retries,
            sleep=sleep,
            key_problem=key_problem,
        )

    def __repr__(self) -> str:
        return f"<LangSmithProvider project={self.project_name!r} api_url={self.api_url!r}>"

    # --- the Provider protocol ----------------------------------------------------------------

    def _scan(self, window: Window, resume_from: str | None) -> Iterator[Page]:
        """The window's root runs a page at a time. A checkpoint from another window is ignored
        (the scan starts over, which is harmless: the sync engine upserts)."""
        resumed = _read_checkpoint(resume_from, window)
        if resumed is not None:
            project_id, cursor, pages = resumed
        else:
            project_id, cursor, pages = self.project_id(), None, 0
        # Cursor pages may repeat the end of the page before: only those ids are kept, so memory
        # stays one page however large the window. A cursor served twice would loop forever.
        previous: set[str] = set()
        cursors: set[str] = {cursor} if cursor else set()
        while not self._should_stop():
            if pages >= self.limits.max_pages:
                self._fail(
                    "too_many_pages",
                    f"LangSmith served more than {self.limits.max_pages} pages for this window, "
                    f"the limit of one job ({limit_name('max_pages')}); sync a shorter window "
                    "(--from/--to) or raise the limit",
                    transient=False,
                )
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
            decoded = self._call("POST", "runs/query", body=body)
            runs, following = self._page(decoded.value)
            pages += 1
            records: list[FetchedRecord] = []
            skipped: dict[str, int] = {}
            served: set[str] = set()
            for run in runs:
                record = self._record(run, decoded.marker, skipped)
                if record is None:
                    continue
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
                checkpoint = encode_checkpoint(
                    window, project=project_id, cursor=following, pages=pages
                )  # pages already served: the page limit counts across attempts
            yield Page(records=records, checkpoint=checkpoint, skipped=skipped)
            if following is None:
                return
            cursor = following

    # --- other calls --------------------------------------------------------------------------

    def project_id(self) -> str:
        """The id of the project named ``project_name``; ``project_not_found`` if there is none."""
        found = self._call("GET", "sessions", params={"name": self.project_name, "limit": 1}).value
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
        stats = self._call("POST", "runs/stats", body=body).value
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

    def _record(
        self, run: Any, marker: str | None, skipped: dict[str, int]
    ) -> FetchedRecord | None:
        """The run as a record; None (counted in ``skipped``, and logged) if it cannot be read."""
        run_id = run.get("id") if isinstance(run, Mapping) else None
        started = parse_utc(run.get("start_time")) if isinstance(run, Mapping) else None
        if not isinstance(run, Mapping):
            problem = "not_an_object"
        elif marker is not None and holds(run, marker):
            problem = "nested_too_deep"
        elif isinstance(run_id, bool) or not isinstance(run_id, str | int) or run_id == "":
            problem = "no_id"
        elif started is None:
            problem = "no_start_time"
        else:
            status = run.get("status")
            pending = status == "pending" if status is not None else run.get("end_time") is None
            payload = dict(run)
            trace_url = _trace_url(self.web_url, run.get("app_path"))
            if trace_url is not None:
                payload["trace_url"] = trace_url
            return FetchedRecord(
                kind="trace",
                provider_id=str(run_id),
                occurred_at=started,
                payload=payload,
                pending=pending,
            )
        skipped[problem] = skipped.get(problem, 0) + 1
        shown = run_id if isinstance(run_id, str | int) else "(no id)"
        log.warning("LangSmith run %r of %r skipped: %s", shown, self.project_name, problem)
        return None

    # --- HTTP ---------------------------------------------------------------------------------

    def _status_error(self, what: str, response: httpx.Response, attempt: int) -> ProviderError:
        """A fixed message per status: what LangSmith said goes to the log, never to the job."""
        status = response.status_code
        detail = self._redactor.scrub(reply_detail(response))
        if detail:
            log.warning("LangSmith answered %s with HTTP %s: %s", what, status, detail)
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
                    f"LangSmith refused {what} (HTTP 403); check that the apiKey may read the "
                    "project and the workspaceId"
                )
            return ProviderError("auth_failed", message, transient=False)
        if status == 429:
            return ProviderError(
                "rate_limited",
                f"LangSmith kept rate-limiting {what} (HTTP 429, {counted(attempt, 'attempt')}); "
                "try again later",
                transient=True,
            )
        if status in _RETRY_STATUSES or status >= 500:
            return ProviderError(
                "server_error",
                f"LangSmith failed {what} with HTTP {status} ({counted(attempt, 'attempt')}); "
                "try again later",
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
            f"LangSmith refused {what} with HTTP {status}; check the connector's projectName "
            "and workspaceId (the service's log holds LangSmith's reason)",
            transient=False,
        )


def _read_checkpoint(checkpoint: str | None, window: Window) -> tuple[str, str, int] | None:
    state = decode_checkpoint(checkpoint, window)
    if state is None:
        return None
    project, cursor, pages = state.get("project"), state.get("cursor"), state.get("pages", 0)
    if not isinstance(project, str) or not isinstance(cursor, str):
        return None
    return project, cursor, pages if isinstance(pages, int) and pages >= 0 else 0
