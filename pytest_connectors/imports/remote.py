"""The facade's backend on a connectors service: the same surface, over HTTP with an API key.

``Imports(url=..., api_key=...)`` uses it. Every call is one request (``jobs.wait`` a series of
long polls); answers come back as the same records, and refusals as the same exceptions, as the
local backend gives, so code written against one runs against the other. The key is sent as a
bearer token and appears in no message, repr or exception.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import httpx
from pydantic import BaseModel, ValidationError

from pytest_connectors._support.paths import ENV_API_KEY
from pytest_connectors._support.secrets import Redactor
from pytest_connectors._support.times import as_utc
from pytest_connectors.errors import (
    ConnectorError,
    ConversationNotFoundError,
    DuplicateImportConnectorError,
    ImportConnectorNotFoundError,
    InvalidInputError,
    JobNotFoundError,
    JobTimeoutError,
    OutOfScopeError,
    RecordNotFoundError,
    ServiceAuthError,
    ServiceError,
)
from pytest_connectors.imports.backend import (
    ConnectResult,
    ConversationDetail,
    ConversationList,
    ConversationQuery,
)
from pytest_connectors.imports.config import CreateImportConnectorInput, UpdateImportConnectorInput
from pytest_connectors.models.imports import ImportConnector, Job, RecordedConversation, UserSession

M = TypeVar("M", bound=BaseModel)

# One long poll of jobs.wait; the service holds at most 60 s.
_POLL_WAIT_S = 30.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _iso(value: datetime | str | None, what: str) -> str | None:
    """A time as the service reads it, read as it is locally (text without a zone means UTC)."""
    moment = as_utc(value, what)
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _path(ref: str) -> str:
    return quote(ref, safe="")


class RemoteBackend:
    """Talks to ``url`` (the service's base URL) with ``api_key``; ``transport`` for tests."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise InvalidInputError(
                f"{url!r} is not a service URL; give one such as http://127.0.0.1:8000"
            )
        if not api_key:
            raise InvalidInputError(
                f"no API key for {url}: pass api_key= or set ${ENV_API_KEY} "
                "(create one with `pytest-connectors keys create`)"
            )
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._redactor = Redactor([api_key])
        # An HTTP(S)_PROXY setting must not see loopback calls (or the key in them).
        loopback = (urlsplit(self.url).hostname or "") in _LOOPBACK
        self._client = httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
            trust_env=not loopback,
        )

    def __repr__(self) -> str:
        return f"RemoteBackend({self.url!r}, api_key='****')"

    def close(self) -> None:
        self._client.close()

    # -- the wire ------------------------------------------------------------------------------

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        missing: Callable[[str], ConnectorError] | None = None,
        ref: str = "",
    ) -> Any:
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._client.request(
                method,
                path,
                json=json,
                params=query,
                timeout=timeout if timeout is not None else self.timeout,
            )
        except httpx.TimeoutException:
            raise ServiceError(
                0, "timeout", f"{self.url} did not answer {method} {path} in time; retry later"
            ) from None
        except httpx.TransportError as exc:
            problem = self._redactor.scrub(str(exc) or type(exc).__name__)
            raise ServiceError(
                0,
                "unreachable",
                f"cannot reach the connectors service at {self.url} ({problem}); "
                "is `pytest-connectors serve` running there?",
            ) from None
        if response.status_code == 204:
            return None
        if response.is_success:
            return response.json()
        raise self._error(response, missing, ref)

    def _error(
        self, response: httpx.Response, missing: Callable[[str], ConnectorError] | None, ref: str
    ) -> ConnectorError:
        status = response.status_code
        detail: dict[str, Any] = {}
        try:
            detail = dict(response.json()["error"])
            code, message = str(detail["code"]), str(detail["message"])
        except (ValueError, KeyError, TypeError):
            code, message = "error", f"the service answered {status} {response.reason_phrase}"
        message = self._redactor.scrub(message)
        if status == 401:
            return ServiceAuthError(status, code, f"{self.url} refused the API key: {message}")
        if status == 403:
            return OutOfScopeError(message)
        if status == 404:
            if missing is not None:
                return missing(ref)
            kind, found_ref = detail.get("kind"), detail.get("ref")
            if isinstance(kind, str) and isinstance(found_ref, str):
                return RecordNotFoundError(kind, found_ref)
        # The service names the taken name and its agent, so the error carries them as locally.
        name, agent_id = detail.get("name"), detail.get("agentId")
        if status == 409 and isinstance(name, str) and isinstance(agent_id, str):
            return DuplicateImportConnectorError(name, agent_id)
        if status in (400, 413, 422):
            return InvalidInputError(message)
        return ServiceError(status, code, f"the service failed ({status}): {message}")

    @staticmethod
    def _model(model: type[M], data: Any) -> M:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            raise ServiceError(
                0, "bad_answer", f"the service sent a {model.__name__} this client cannot read"
            ) from exc

    # -- connectors ------------------------------------------------------------------------------

    def list_connectors(self, agent_id: str | None = None) -> list[ImportConnector]:
        data = self._request("GET", "/api/connectors", params={"agentId": agent_id})
        return [self._model(ImportConnector, item) for item in data["items"]]

    def get_connector(self, ref: str) -> ImportConnector:
        data = self._request(
            "GET", f"/api/connectors/{_path(ref)}", missing=ImportConnectorNotFoundError, ref=ref
        )
        return self._model(ImportConnector, data)

    def create_connector(
        self, data: CreateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector:
        if isinstance(data, CreateImportConnectorInput):
            body = data.model_dump(mode="json", by_alias=True, exclude_none=True)
        else:
            body = dict(data)
        if "tenantId" in body or "tenant_id" in body:
            raise InvalidInputError(
                "tenantId cannot be chosen through the service: the API key decides the tenant"
            )
        if "agent_id" in body:
            body["agentId"] = body.pop("agent_id")
        return self._model(ImportConnector, self._request("POST", "/api/connectors", json=body))

    def update_connector(
        self, ref: str, data: UpdateImportConnectorInput | Mapping[str, Any]
    ) -> ImportConnector:
        if isinstance(data, UpdateImportConnectorInput):
            body = data.model_dump(mode="json", by_alias=True, exclude_unset=True)
        else:
            body = dict(data)
        answer = self._request(
            "PATCH",
            f"/api/connectors/{_path(ref)}",
            json=body,
            missing=ImportConnectorNotFoundError,
            ref=ref,
        )
        return self._model(ImportConnector, answer)

    def connect(self, ref: str, config: Mapping[str, Any] | None = None) -> ConnectResult:
        body = {"config": dict(config)} if config is not None else None
        answer = self._request(
            "POST",
            f"/api/connectors/{_path(ref)}/connect",
            json=body,
            missing=ImportConnectorNotFoundError,
            ref=ref,
        )
        return self._model(ConnectResult, answer)

    def disconnect(self, ref: str) -> ImportConnector:
        answer = self._request(
            "POST",
            f"/api/connectors/{_path(ref)}/disconnect",
            missing=ImportConnectorNotFoundError,
            ref=ref,
        )
        return self._model(ImportConnector, answer)

    def sync(
        self, ref: str, from_: datetime | str | None = None, to: datetime | str | None = None
    ) -> Job:
        window = {"from": _iso(from_, "from"), "to": _iso(to, "to")}
        body = {k: v for k, v in window.items() if v is not None}
        answer = self._request(
            "POST",
            f"/api/connectors/{_path(ref)}/sync",
            json=body,
            missing=ImportConnectorNotFoundError,
            ref=ref,
        )
        return self._model(Job, answer)

    def delete_connector(self, ref: str) -> None:
        self._request(
            "DELETE", f"/api/connectors/{_path(ref)}", missing=ImportConnectorNotFoundError, ref=ref
        )

    # -- jobs --------------------------------------------------------------------------------------

    def _job(self, job_id: str, wait: float | None = None) -> Job:
        answer = self._request(
            "GET",
            f"/api/jobs/{_path(job_id)}",
            params={"wait": None if wait is None else f"{wait:.3f}"},
            timeout=None if wait is None else self.timeout + wait,
            missing=JobNotFoundError,
            ref=job_id,
        )
        return self._model(Job, answer)

    def get_job(self, job_id: str) -> Job:
        return self._job(job_id)

    def wait_job(self, job_id: str, timeout: float | None = None) -> Job:
        """Long-polls until the job ends; the service's workers run it, not this process."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            job = self._job(job_id, _POLL_WAIT_S if left is None else min(_POLL_WAIT_S, left))
            if job.status.finished:
                return job
            if deadline is not None and time.monotonic() >= deadline:
                raise JobTimeoutError(job.id, job.status.value, timeout or 0)

    # -- conversations and sessions ------------------------------------------------------------

    def list_conversations(self, query: ConversationQuery) -> ConversationList:
        params = {
            "connectorId": query.connector,
            "agentId": query.agent_id,
            "origin": query.origin,
            "limit": query.limit,
            "cursor": query.cursor,
            "since": query.since.isoformat() if query.since else None,
            "until": query.until.isoformat() if query.until else None,
            "text": query.text,
        }
        missing = ImportConnectorNotFoundError if query.connector is not None else None
        answer = self._request(
            "GET", "/api/conversations", params=params, missing=missing, ref=query.connector or ""
        )
        return self._model(ConversationList, answer)

    def get_conversation(
        self, conversation_id: str, *, agent_id: str | None = None
    ) -> ConversationDetail:
        answer = self._request(
            "GET",
            f"/api/conversations/{_path(conversation_id)}",
            params={"agentId": agent_id},
            missing=ConversationNotFoundError,
            ref=conversation_id,
        )
        return self._model(ConversationDetail, answer)

    def write_native(
        self, conversations: Sequence[RecordedConversation]
    ) -> list[RecordedConversation]:
        body = {"conversations": [c.model_dump(mode="json", by_alias=True) for c in conversations]}
        answer = self._request("POST", "/api/conversations", json=body)
        return [self._model(RecordedConversation, item) for item in answer["items"]]

    def list_sessions(self, *, connector: str | None = None) -> list[UserSession]:
        missing = ImportConnectorNotFoundError if connector is not None else None
        answer = self._request(
            "GET",
            "/api/sessions",
            params={"connectorId": connector},
            missing=missing,
            ref=connector or "",
        )
        return [self._model(UserSession, item) for item in answer["items"]]
