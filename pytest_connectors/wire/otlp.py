"""OTLP trace requests, protobuf or JSON, gzip or not, decoded into plain :class:`Span` records.

Both encodings end in the same records, so the conventions and the assembly never see the wire.
The service's receiver and the Langfuse fake's OTLP endpoint read requests with this one decoder.
A request that cannot be read at all raises :class:`MalformedRequest` (the receiver answers
400); a span that can be read but not kept (an id of the wrong length, too many attributes)
is counted in ``rejected`` with the reason, and the rest of the request is kept (OTLP's
``partialSuccess``). The protobuf classes (``opentelemetry-proto``, the ``server`` extra) are
imported on first use.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Attribute values nest (arrays, key-value lists); deeper than this is cut to None. Protobuf's
# own parser refuses 100 levels; JSON is refused at the same depth by json.loads' recursion.
MAX_VALUE_DEPTH = 32
MAX_ATTRIBUTES_PER_SPAN = 10_000
MAX_EVENTS_PER_SPAN = 1_000

ERROR_STATUS = 2


PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class MalformedRequest(ValueError):
    """The body is not an ``ExportTraceServiceRequest`` in the encoding it claims."""


class DecodedTooLarge(Exception):
    """A gzip body that unpacks past the limit given (answered 413)."""


class UnsupportedEncoding(Exception):
    """A content type or encoding OTLP/HTTP does not use (answered 415)."""


@dataclass(frozen=True)
class SpanEvent:
    name: str
    at: datetime | None
    attributes: dict[str, Any]


@dataclass(frozen=True)
class Span:
    trace_id: str  # 32 lowercase hex digits
    span_id: str  # 16 lowercase hex digits
    parent_id: str | None
    name: str
    start: datetime | None
    end: datetime | None
    attributes: dict[str, Any]
    events: tuple[SpanEvent, ...] = ()
    error: str | None = None  # the status message ("" when none was given) of an ERROR status
    resource: dict[str, Any] = field(default_factory=dict)
    size: int = 0  # approximate bytes held, for the receiver's memory bounds

    @property
    def is_root(self) -> bool:
        return self.parent_id is None


@dataclass
class Decoded:
    spans: list[Span] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)


def _time(nanos: int) -> datetime | None:
    if nanos <= 0:
        return None
    try:
        return datetime.fromtimestamp(nanos / 1e9, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, list):
        return 8 + sum(_size(v) for v in value)
    if isinstance(value, dict):
        return 8 + sum(len(k) + _size(v) for k, v in value.items())
    return 8


def _span(
    trace_id: str,
    span_id: str,
    parent_id: str,
    name: Any,
    start: int,
    end: int,
    attributes: dict[str, Any],
    events: list[SpanEvent],
    status: tuple[int, str],
    resource: dict[str, Any],
    decoded: Decoded,
) -> None:
    if len(trace_id) != 32 or trace_id == "0" * 32:
        decoded.rejected["invalid trace id"] += 1
        return
    if len(span_id) != 16 or span_id == "0" * 16:
        decoded.rejected["invalid span id"] += 1
        return
    if parent_id and len(parent_id) != 16:
        decoded.rejected["invalid parent span id"] += 1
        return
    if len(attributes) > MAX_ATTRIBUTES_PER_SPAN:
        decoded.rejected[f"more than {MAX_ATTRIBUTES_PER_SPAN} attributes on a span"] += 1
        return
    if len(events) > MAX_EVENTS_PER_SPAN:
        decoded.rejected[f"more than {MAX_EVENTS_PER_SPAN} events on a span"] += 1
        return
    code, message = status
    text = name if isinstance(name, str) else ""
    size = 200 + len(text) + _size(attributes)
    size += sum(40 + len(e.name) + _size(e.attributes) for e in events)
    decoded.spans.append(
        Span(
            trace_id=trace_id,
            span_id=span_id,
            parent_id=parent_id or None,
            name=text,
            start=_time(start),
            end=_time(end),
            attributes=attributes,
            events=tuple(events),
            error=message if code == ERROR_STATUS else None,
            resource=resource,
            size=size,
        )
    )


# --- protobuf -------------------------------------------------------------------------------


def _pb_value(value: Any, depth: int = 0) -> Any:
    kind = value.WhichOneof("value")
    if kind is None or depth > MAX_VALUE_DEPTH:
        return None
    if kind == "array_value":
        return [_pb_value(v, depth + 1) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _pb_value(kv.value, depth + 1) for kv in value.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, kind)


def _pb_attributes(items: Any) -> dict[str, Any]:
    return {kv.key: _pb_value(kv.value) for kv in items}


def decode_protobuf(body: bytes) -> Decoded:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise MalformedRequest(
            "the body is not an OTLP ExportTraceServiceRequest in protobuf"
        ) from exc
    decoded = Decoded()
    for resource_spans in request.resource_spans:
        resource = _pb_attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                events = [
                    SpanEvent(e.name, _time(e.time_unix_nano), _pb_attributes(e.attributes))
                    for e in span.events
                ]
                _span(
                    span.trace_id.hex(),
                    span.span_id.hex(),
                    span.parent_span_id.hex(),
                    span.name,
                    span.start_time_unix_nano,
                    span.end_time_unix_nano,
                    _pb_attributes(span.attributes),
                    events,
                    (span.status.code, span.status.message),
                    resource,
                    decoded,
                )
    return decoded


# --- JSON (the proto3 JSON mapping, with ids as hex as OTLP/JSON says) ------------------------


def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise MalformedRequest(f"{where} has the wrong type")
    return value


def _list(holder: dict[str, Any], key: str, where: str) -> list[Any]:
    value = holder.get(key)
    if value is None:
        return []
    return list(_expect(value, list, f"{where}.{key}"))


def _object(value: Any, where: str) -> dict[str, Any]:
    result: dict[str, Any] = _expect(value, dict, where)
    return result


def _integer(value: Any, where: str) -> int:
    """A 64-bit integer: JSON writes it as a string, some writers as a number."""
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            raise MalformedRequest(f"{where} is not an integer") from None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return int(_expect(value, int, where))


def _hex_id(value: Any, where: str) -> str:
    text = _expect(value, str, where) if value is not None else ""
    try:
        bytes.fromhex(text)
    except ValueError:
        return "?"  # rejected as an invalid id by its length
    return text.lower()


def _json_value(value: Any, where: str, depth: int = 0) -> Any:
    if value is None or depth > MAX_VALUE_DEPTH:
        return None
    item = _object(value, where)
    if "stringValue" in item:
        return _expect(item["stringValue"], str, f"{where}.stringValue")
    if "boolValue" in item:
        return _expect(item["boolValue"], bool, f"{where}.boolValue")
    if "intValue" in item:
        return _integer(item["intValue"], f"{where}.intValue")
    if "doubleValue" in item:
        raw = item["doubleValue"]
        if isinstance(raw, str) and raw in ("NaN", "Infinity", "-Infinity"):
            return math.nan
        return float(_expect(raw, (int, float), f"{where}.doubleValue"))
    if "arrayValue" in item:
        values = _list(_object(item["arrayValue"], where), "values", where)
        return [_json_value(v, where, depth + 1) for v in values]
    if "kvlistValue" in item:
        pairs = _list(_object(item["kvlistValue"], where), "values", where)
        return _json_attributes(pairs, where, depth + 1)
    if "bytesValue" in item:
        raw = _expect(item["bytesValue"], str, f"{where}.bytesValue")
        try:
            base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest(f"{where}.bytesValue is not base64") from None
        return raw
    return None  # an empty AnyValue, or a kind added after this reader


def _json_attributes(items: list[Any], where: str, depth: int = 0) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for pair in items:
        pair = _object(pair, where)
        key = _expect(pair.get("key"), str, f"{where}.key")
        found[key] = _json_value(pair.get("value"), f"{where}[{key!r}]", depth)
    return found


def _name(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _status(value: Any, where: str) -> tuple[int, str]:
    if value is None:
        return 0, ""
    status = _object(value, where)
    code = status.get("code", 0)
    if isinstance(code, str):
        code = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
    message = status.get("message") or ""
    return _integer(code, f"{where}.code"), _expect(message, str, f"{where}.message")


def decode_json_document(document: Any) -> Decoded:
    """A parsed OTLP/JSON ``ExportTraceServiceRequest`` (also one line of a Collector file)."""
    root = _object(document, "the body")
    decoded = Decoded()
    for r, resource_spans in enumerate(_list(root, "resourceSpans", "body")):
        where = f"resourceSpans[{r}]"
        resource_spans = _object(resource_spans, where)
        resource = _object(resource_spans.get("resource") or {}, f"{where}.resource")
        resource_attributes = _json_attributes(
            _list(resource, "attributes", f"{where}.resource"), f"{where}.resource.attributes"
        )
        for s, scope_spans in enumerate(_list(resource_spans, "scopeSpans", where)):
            inner = f"{where}.scopeSpans[{s}]"
            for n, span in enumerate(_list(_object(scope_spans, inner), "spans", inner)):
                at = f"{inner}.spans[{n}]"
                span = _object(span, at)
                events = []
                for e, event in enumerate(_list(span, "events", at)):
                    event = _object(event, f"{at}.events[{e}]")
                    events.append(
                        SpanEvent(
                            _name(event.get("name")),
                            _time(_integer(event.get("timeUnixNano"), f"{at}.events[{e}]")),
                            _json_attributes(
                                _list(event, "attributes", f"{at}.events[{e}]"),
                                f"{at}.events[{e}].attributes",
                            ),
                        )
                    )
                _span(
                    _hex_id(span.get("traceId"), f"{at}.traceId"),
                    _hex_id(span.get("spanId"), f"{at}.spanId"),
                    _hex_id(span.get("parentSpanId"), f"{at}.parentSpanId"),
                    span.get("name"),
                    _integer(span.get("startTimeUnixNano"), f"{at}.startTimeUnixNano"),
                    _integer(span.get("endTimeUnixNano"), f"{at}.endTimeUnixNano"),
                    _json_attributes(_list(span, "attributes", at), f"{at}.attributes"),
                    events,
                    _status(span.get("status"), f"{at}.status"),
                    resource_attributes,
                    decoded,
                )
    return decoded


def decode_json(body: bytes) -> Decoded:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise MalformedRequest("the body is not valid JSON") from None
    return decode_json_document(document)


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise MalformedRequest("the body is not valid gzip") from None
    if len(data) > limit or inflater.unconsumed_tail:
        raise DecodedTooLarge(f"the body unpacks to more than {limit} bytes")
    if not inflater.eof:
        raise MalformedRequest("the gzip body is cut short")
    return data


def decode_body(
    body: bytes, content_type: str, content_encoding: str, max_decoded_bytes: int
) -> Decoded:
    """The spans of an OTLP/HTTP request body, as its headers say it is encoded."""
    encoding = content_encoding.strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, max_decoded_bytes)
    elif encoding not in ("", "identity"):
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r}: send gzip or none")
    media = content_type.split(";")[0].strip().lower()
    if media == PROTOBUF:
        return decode_protobuf(body)
    if media == JSON:
        return decode_json(body)
    raise UnsupportedEncoding(f"Content-Type must be {PROTOBUF} or {JSON}")
