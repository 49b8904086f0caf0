"""Property-based fuzzing of the service from its own OpenAPI document (hypothesis).

Requests are generated from the document the service publishes: path, query and body values of
the declared schemas (valid mode), and anything at all in their place (invalid mode), sent with
a valid key to the real service in a subprocess. No answer may be a 5xx, and every answer must
match the document: a declared status, a JSON body of the schema declared for that status.
Bounded in examples, so the run takes seconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_support import ServiceProcess, client, issue_key, langsmith_connector

EXAMPLES = 150
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
NASTY_TEXT = st.text(max_size=40) | st.sampled_from(["", " ", "..", "%", "null", "0", "a" * 300])


class Document:
    """The OpenAPI document: operations, and schemas with their references resolved."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = self.data["components"]["schemas"][name]
        return schema

    def operations(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [
            (method.upper(), path, operation)
            for path, methods in self.data["paths"].items()
            for method, operation in methods.items()
        ]

    # -- values of a schema ---------------------------------------------------------------------

    def values(self, schema: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return st.one_of([self.values(option, depth) for option in schema[key]])
        if "enum" in schema:
            return st.sampled_from(schema["enum"])
        if "const" in schema:
            return st.just(schema["const"])
        kind = schema.get("type")
        if kind == "string":
            if schema.get("format") == "date-time":
                return st.datetimes(timezones=st.none() | st.just(UTC)).map(datetime.isoformat)
            if "pattern" in schema:
                return st.from_regex(schema["pattern"], fullmatch=True).filter(
                    lambda s: len(s) <= schema.get("maxLength", 60)
                )
            low = schema.get("minLength", 0)
            return st.text(min_size=low, max_size=min(schema.get("maxLength", 30), low + 30))
        if kind == "integer":
            return st.integers(schema.get("minimum"), schema.get("maximum"))
        if kind == "number":
            return st.floats(
                schema.get("minimum"), schema.get("maximum"), allow_nan=False, allow_infinity=False
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "array":
            if depth > 2:
                return st.just([])
            return st.lists(self.values(schema.get("items", {}), depth + 1), max_size=2)
        if kind == "object" or "properties" in schema:
            properties = schema.get("properties", {})
            required = set(schema.get("required", ()))
            if depth > 2:
                return st.just({})
            return st.fixed_dictionaries(
                {k: self.values(v, depth + 1) for k, v in properties.items() if k in required},
                optional={
                    k: self.values(v, depth + 1) for k, v in properties.items() if k not in required
                },
            )
        return JSON

    # -- does a value match a schema? -------------------------------------------------------------

    def mismatch(self, value: Any, schema: dict[str, Any], where: str = "$") -> str | None:
        schema = self.resolve(schema)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                problems = [self.mismatch(value, option, where) for option in schema[key]]
                return None if None in problems else f"{where}: no {key} option fits ({problems})"
        if "enum" in schema and value not in schema["enum"]:
            return f"{where}: {value!r} not in {schema['enum']}"
        kind = schema.get("type")
        checks = {
            "string": lambda v: isinstance(v, str),
            "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "boolean": lambda v: isinstance(v, bool),
            "null": lambda v: v is None,
            "array": lambda v: isinstance(v, list),
            "object": lambda v: isinstance(v, dict),
        }
        if kind in checks and not checks[kind](value):
            return f"{where}: {value!r} is not of type {kind}"
        if isinstance(value, list):
            for i, item in enumerate(value):
                problem = self.mismatch(item, schema.get("items", {}), f"{where}[{i}]")
                if problem:
                    return problem
        if isinstance(value, dict):
            for key in schema.get("required", ()):
                if key not in value:
                    return f"{where}: {key} is missing"
            for key, item in value.items():
                if key in schema.get("properties", {}):
                    problem = self.mismatch(item, schema["properties"][key], f"{where}.{key}")
                    if problem:
                        return problem
                elif schema.get("additionalProperties") is False:
                    return f"{where}: {key} is not declared"
        return None


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[httpx.Client, Document, list[str]]]:
    db = str(tmp_path_factory.mktemp("fuzz") / "service.db")
    key = issue_key(db, "acme")
    with ServiceProcess(db, workers=0) as server, client(server.url, key) as api:
        known = []
        for agent in ("a1", "a2"):
            made = api.post("/api/connectors", json=langsmith_connector(agent, f"prod-{agent}"))
            assert made.status_code == 201, made.text
            known += [made.json()["id"], made.json()["name"]]
        document = Document(api.get("/api/openapi.json").json())
        yield api, document, known


def _request(
    document: Document, known: list[str], valid: bool
) -> st.SearchStrategy[dict[str, Any]]:
    def build(
        method: str, path: str, operation: dict[str, Any]
    ) -> st.SearchStrategy[dict[str, Any]]:
        params = operation.get("parameters", [])
        names = [p["name"] for p in params if p["in"] == "path"]
        path_values = st.fixed_dictionaries(
            {name: st.sampled_from(known) | NASTY_TEXT if valid else NASTY_TEXT for name in names}
        )
        query = st.fixed_dictionaries(
            {},
            optional={
                p["name"]: (document.values(p["schema"]) if valid else NASTY_TEXT)
                for p in params
                if p["in"] == "query"
            },
        )
        content = operation.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None:
            body: st.SearchStrategy[Any] = st.just(None)
        elif valid:
            body = document.values(content["schema"])
        else:
            body = JSON | st.binary(max_size=30)
        return st.fixed_dictionaries(
            {
                "method": st.just(method),
                "template": st.just(path),
                "path": path_values,
                "query": query,
                "body": body,
            }
        )

    return st.one_of([build(m, p, o) for m, p, o in document.operations()])


def _send(api: httpx.Client, request: dict[str, Any]) -> httpx.Response:
    path = request["template"]
    for name, value in request["path"].items():
        path = path.replace("{" + name + "}", quote(str(value), safe="") or "%20")
    query = {
        k: (json.dumps(v) if isinstance(v, dict | list) else "" if v is None else v)
        for k, v in request["query"].items()
    }
    body = request["body"]
    if isinstance(body, bytes):
        return api.request(
            request["method"],
            path,
            params=query,
            content=body,
            headers={"content-type": "application/json"},
        )
    return api.request(request["method"], path, params=query, json=body)


def _check(document: Document, request: dict[str, Any], response: httpx.Response) -> None:
    where = f"{request['method']} {request['template']} -> {response.status_code}"
    assert response.status_code < 500, f"{where}: {response.text[:300]}"
    operation = document.data["paths"][request["template"]][request["method"].lower()]
    declared = operation["responses"]
    if str(response.status_code) == "404" and re.search(r"no such route", response.text):
        return  # a path that no longer matches a route (an encoded slash in an id, say)
    assert str(response.status_code) in declared, (
        f"{where}: undeclared status; {response.text[:300]}"
    )
    media_types = declared[str(response.status_code)].get("content", {})
    content = media_types.get("application/json")
    if not response.content:
        assert content is None or response.status_code == 204, f"{where}: empty body"
        return
    media = response.headers["content-type"].split(";")[0]
    if media != "application/json" and media in media_types:
        return  # a declared binary answer: OTLP's protobuf status for a protobuf request
    assert media == "application/json", where
    if content is not None:
        problem = document.mismatch(response.json(), content["schema"])
        assert problem is None, f"{where}: {problem}"


@pytest.mark.parametrize("valid", [True, False], ids=["schema-values", "any-values"])
def test_no_5xx_and_every_answer_matches_the_document(
    service: tuple[httpx.Client, Document, list[str]], valid: bool
) -> None:
    api, document, known = service

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=_request(document, known, valid))
    def check(request: dict[str, Any]) -> None:
        _check(document, request, _send(api, request))

    check()


def test_the_checker_itself_notices_a_mismatch(
    service: tuple[httpx.Client, Document, list[str]],
) -> None:
    _api, document, _known = service
    job = {"$ref": "#/components/schemas/Job"}
    assert document.mismatch({"id": "x"}, job) is not None
    assert document.mismatch(
        {"error": {"code": 1, "message": "m"}}, {"$ref": "#/components/schemas/ErrorBody"}
    )
