"""Every error the service answers, as ``{"error": {"code": ..., "message": ...}}``.

A few add what a client needs to raise the same exception as the local backend: a 404 names
the record's ``kind`` and ``ref``, a 409 conflict the taken ``name`` and its ``agentId``.

``install`` maps the package's exceptions to a status and a stable code; anything unexpected is
caught by the guard (``guard.py``) and becomes a bare 500 that says nothing of the cause. A
message never repeats request input: a rejected body may hold a provider key.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pytest_connectors.errors import (
    DuplicateImportConnectorError,
    InvalidInputError,
    JobTimeoutError,
    OutOfScopeError,
    RecordNotFoundError,
)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    503: "unavailable",
}


class ServiceProblem(Exception):
    """An answer other than success, raised anywhere in a request."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _STATUS_CODES.get(status, "error")
        self.message = message
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    **details: str,
) -> Response:
    """``details``: what a client needs to rebuild the exception (never request secrets)."""
    error = {"code": code, "message": message, **details}
    body = json.dumps({"error": error}, ensure_ascii=False)
    return Response(body, status_code=status, media_type="application/json", headers=headers)


def unauthorized(message: str) -> ServiceProblem:
    return ServiceProblem(401, message, headers={"WWW-Authenticate": "Bearer"})


def validation_message(errors: list[Any]) -> str:
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body",)) or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def _is_json_decode(errors: list[Any]) -> bool:
    return any(error.get("type") == "json_invalid" for error in errors)


def install(app: FastAPI) -> None:
    @app.exception_handler(ServiceProblem)
    async def _problem(_request: Request, exc: ServiceProblem) -> Response:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> Response:
        errors = list(exc.errors())
        if _is_json_decode(errors):
            return error_response(400, "invalid_json", "the request body is not valid JSON")
        return error_response(422, "invalid_input", validation_message(errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, "error")
        message = {
            404: "no such route; the routes are listed in /api/openapi.json",
            405: "this route does not take that method",
        }.get(exc.status_code, str(exc.detail))
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(RecordNotFoundError)
    async def _missing(_request: Request, exc: RecordNotFoundError) -> Response:
        return error_response(404, "not_found", str(exc), kind=exc.kind, ref=exc.ref)

    @app.exception_handler(OutOfScopeError)
    async def _forbidden(_request: Request, exc: OutOfScopeError) -> Response:
        return error_response(403, "forbidden", str(exc))

    @app.exception_handler(DuplicateImportConnectorError)
    async def _duplicate(_request: Request, exc: DuplicateImportConnectorError) -> Response:
        return error_response(409, "conflict", str(exc), name=exc.name, agentId=exc.agent_id)

    @app.exception_handler(InvalidInputError)
    async def _bad_input(_request: Request, exc: InvalidInputError) -> Response:
        return error_response(422, "invalid_input", str(exc))

    @app.exception_handler(JobTimeoutError)
    async def _timeout(_request: Request, exc: JobTimeoutError) -> Response:
        return error_response(409, "job_not_finished", str(exc))
