"""Who is calling: the API key of a request, turned into the :class:`Scope` it grants.

The key comes as ``Authorization: Bearer <key>`` or ``x-api-key: <key>``. Every refusal (no key,
a malformed, unknown, revoked or expired one) is the same 401, so an answer never tells which
keys exist. The key itself is never logged or echoed.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from pytest_connectors.models.imports import Scope
from pytest_connectors.service.problems import unauthorized
from pytest_connectors.storage.api_keys import ApiKeyVerifier

# auto_error=False: both schemes are optional one by one, the check below wants one of them.
# Declared so the OpenAPI document says how to authenticate.
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API key>")
_header = APIKeyHeader(name="x-api-key", auto_error=False, description="the API key")

NO_KEY = "send an API key as 'Authorization: Bearer <key>' or 'x-api-key: <key>'"
BAD_KEY = (
    "the API key is not valid: unknown, revoked or expired "
    "(create one with `pytest-connectors keys create`)"
)


async def caller_scope(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    header: Annotated[str | None, Depends(_header)],
) -> Scope:
    key = header or (bearer.credentials if bearer is not None else None)
    if not key:
        if request.headers.get("authorization"):
            raise unauthorized("the Authorization header must read 'Bearer <key>'")
        raise unauthorized(NO_KEY)
    verifier: ApiKeyVerifier = request.app.state.verifier
    # On the event loop, not in a worker thread: one indexed read of a few microseconds of
    # database time, where a thread hand-off would cost more than the read.
    scope = verifier.verify(key.strip())
    if scope is None:
        raise unauthorized(BAD_KEY)
    return scope


Caller = Annotated[Scope, Depends(caller_scope)]
