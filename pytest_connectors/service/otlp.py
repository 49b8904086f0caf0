"""``POST /v1/traces``: OTLP/HTTP, so an agent's OpenTelemetry exporter writes straight in.

Answers follow OTLP/HTTP, in the request's encoding: 200 with an ``ExportTraceServiceResponse``
(``partialSuccess`` counts the spans refused and says why), 400 for a body that cannot be read,
413 for too large a body or too many spans, 415 for another encoding, 429 with ``Retry-After``
while the open traces hold their memory limit. Errors carry a ``google.rpc.Status``. The key is
the API's (``Authorization: Bearer`` or ``x-api-key``, as ``OTEL_EXPORTER_OTLP_HEADERS``).
"""

from __future__ import annotations

import json
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response

from pytest_connectors.imports.otlp.receiver import (
    JSON,
    PROTOBUF,
    DecodedTooLarge,
    MalformedRequest,
    Receipt,
    Receiver,
    ReceiverBusy,
    TooManySpans,
    UnsupportedEncoding,
    decode_request,
)
from pytest_connectors.service.auth import Caller
from pytest_connectors.service.bodies import ErrorBody
from pytest_connectors.service.data import Data

OTLP_PATH = "/v1/traces"
otlp_router = APIRouter()

# google.rpc.Code of each answer.
_RPC_CODES = {400: 3, 413: 8, 415: 3, 429: 8}


def _is_json(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";")[0].strip().lower() == JSON


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _status(
    request: Request, status: int, message: str, headers: dict[str, str] | None = None
) -> Response:
    code = _RPC_CODES.get(status, 2)
    if _is_json(request):
        body = json.dumps({"code": code, "message": message}).encode()
        media = JSON
    else:  # google.rpc.Status: field 1 code (varint), field 2 message (string)
        text = message.encode()
        body = b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text
        media = PROTOBUF
    return Response(body, status, headers=headers, media_type=media)


def _success(request: Request, receipt: Receipt) -> Response:
    if _is_json(request):
        payload: dict[str, object] = {}
        if receipt.rejected:
            payload["partialSuccess"] = {
                "rejectedSpans": str(receipt.rejected),
                "errorMessage": receipt.message,
            }
        return Response(json.dumps(payload), 200, media_type=JSON)
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    answer = ExportTraceServiceResponse()
    if receipt.rejected:
        answer.partial_success.rejected_spans = receipt.rejected
        answer.partial_success.error_message = receipt.message
    return Response(answer.SerializeToString(), 200, media_type=PROTOBUF)


# A refusal is a google.rpc.Status, in the encoding the exporter sent (JSON, else protobuf).
_RPC_STATUS: dict[str, Any] = {
    JSON: {
        "schema": {
            "type": "object",
            "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
        }
    },
    PROTOBUF: {"schema": {"type": "string", "format": "binary"}},
}
_OTLP_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"description": description, "content": _RPC_STATUS}
    for status, description in {
        400: "a body that cannot be read",
        413: "too large a body, or too many spans",
        415: "neither protobuf nor JSON, or an unknown content encoding",
        429: "the receiver holds too many open traces: retry after Retry-After seconds",
    }.items()
}
_OTLP_ERRORS[401] = {"model": ErrorBody, "description": "no valid API key"}


@otlp_router.post(
    OTLP_PATH,
    tags=["otlp"],
    summary="OTLP/HTTP trace export (protobuf or JSON)",
    responses=_OTLP_ERRORS,
)
async def export_traces(request: Request, scope: Caller) -> Response:
    receiver: Receiver = request.app.state.receiver
    data: Data = request.app.state.data
    data.backend(scope)  # the same refusal as the API's for a key that is no tenant's
    body = await request.body()  # bounded by the guard: the receiver's own body limit
    content_type = request.headers.get("content-type", "")
    encoding = request.headers.get("content-encoding", "")

    def take() -> Receipt:
        decoded = decode_request(body, content_type, encoding, receiver.limits)
        return receiver.receive(decoded, scope)

    try:
        # Decoding a large batch and writing its turns would hold the event loop.
        receipt = await anyio.to_thread.run_sync(take)
    except MalformedRequest as exc:
        return _status(request, 400, str(exc))
    except (DecodedTooLarge, TooManySpans) as exc:
        return _status(request, 413, str(exc))
    except UnsupportedEncoding as exc:
        return _status(request, 415, str(exc))
    except ReceiverBusy as exc:
        return _status(request, 429, str(exc), {"Retry-After": str(exc.retry_after)})
    return _success(request, receipt)
