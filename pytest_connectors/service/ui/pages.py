"""The pages: server-rendered HTML over the same data layer and request bodies as the REST API.

Every page acts with the scope of the signed-in key, through :class:`~..data.Data` exactly as the
API routes do, so a key sees and changes here what the API lets it, no more. Forms post
``application/x-www-form-urlencoded`` bodies (parsed here, bounded by the guard), are refused
unless they carry the session's CSRF token and come from this origin, and are validated by the
API's own body models. A form that fails comes back with one line saying why; secrets typed in
it never do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import anyio
import jinja2
from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.routing import APIRoute
from pydantic import ValidationError

from pytest_connectors._support.times import as_utc
from pytest_connectors.errors import (
    DuplicateImportConnectorError,
    InvalidInputError,
    OutOfScopeError,
    RecordNotFoundError,
)
from pytest_connectors.evaluation.report_html import TEMPLATES as REPORT_TEMPLATES
from pytest_connectors.imports.backend import ConversationList, ConversationQuery
from pytest_connectors.imports.provider import ProviderSpec
from pytest_connectors.imports.providers import REGISTRY, find_spec, spec_of
from pytest_connectors.models.imports import (
    ImportConnector,
    Job,
    JobStatus,
    Scope,
)
from pytest_connectors.service.auth import BAD_KEY
from pytest_connectors.service.bodies import (
    CreateConnectorBody,
    SyncBody,
    UpdateConnectorBody,
)
from pytest_connectors.service.data import Data
from pytest_connectors.service.problems import ServiceProblem, validation_message
from pytest_connectors.service.ui.sessions import (
    COOKIE,
    SIGN_IN_COOKIE,
    SIGN_IN_LIFETIME_S,
    BrowserSession,
    SessionTable,
    new_sign_in_nonce,
    sign_in_accepts,
    sign_in_token,
)
from pytest_connectors.storage.api_keys import ApiKeyVerifier, KeyProof

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
SIGN_IN = "/ui/sign-in"
HOME = "/ui/connectors"
PAGE_SIZE = 50
JOBS_SHOWN = 100
MAX_FORM_FIELDS = 64
# Only this origin's styles, script and fetches; no frames, no plugins, forms post here only.
POLICY = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
FORBIDDEN = (
    "this form was not sent from this site's own page (or the page is too old): "
    "reload the page and send it again"
)


_TITLES = {
    400: "Bad request",
    403: "Refused",
    404: "Not found",
    409: "Conflict",
    422: "Invalid input",
}


def sign_in_required() -> ServiceProblem:
    """No session, an expired one, or one whose key was revoked: the page asks to sign in."""
    return ServiceProblem(401, "sign in")


def cross_site() -> ServiceProblem:
    return ServiceProblem(403, FORBIDDEN)


def _safe_link(value: object) -> str | None:
    """A link only to http(s): a ``javascript:`` or ``data:`` URL in recorded data stays text."""
    if not isinstance(value, str):
        return None
    try:
        scheme = urlsplit(value.strip()).scheme.lower()
    except ValueError:
        return None
    return value if scheme in ("http", "https") else None


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["safe_link"] = _safe_link
    environment.filters["as_json"] = lambda value: json.dumps(value, ensure_ascii=False)
    return environment


ENVIRONMENT = _environment()
# The report's look, with the few rules only the pages need after it: one stylesheet, no fork.
STYLESHEET = (REPORT_TEMPLATES / "report.css").read_text(encoding="utf-8") + (
    TEMPLATES / "ui.css"
).read_text(encoding="utf-8")
PROGRESS_SCRIPT = (TEMPLATES / "progress.js").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Viewer:
    scope: Scope
    session: BrowserSession

    @property
    def label(self) -> str:
        if self.scope.agent_id is None:
            return f"{self.session.proof.prefix} (tenant {self.scope.tenant_id})"
        return f"{self.session.proof.prefix} (agent {self.scope.agent_id})"


def render(
    request: Request,
    template: str,
    status: int = 200,
    viewer: Viewer | None = None,
    message: str | None = None,
    **context: Any,
) -> Response:
    text = ENVIRONMENT.get_template(template).render(
        viewer=viewer, path=request.url.path, message=message, **context
    )
    return Response(text, status, media_type="text/html", headers=PAGE_HEADERS)


def _error_page(request: Request, status: int, message: str) -> Response:
    title = _TITLES.get(status, "Something went wrong")
    return render(request, "error.html.j2", status, message=message, title=title)


def _to_sign_in() -> Response:
    response = RedirectResponse(SIGN_IN, 303, headers=PAGE_HEADERS)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


class PageRoute(APIRoute):
    """Errors of a page answer as pages (the API's handlers answer JSON): not signed in goes
    to the sign-in form, an unknown or out-of-reach record is a 404 page."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except RecordNotFoundError as exc:
                return _error_page(request, 404, str(exc))
            except RequestValidationError as exc:
                return _error_page(request, 400, validation_message(list(exc.errors())))
            except ServiceProblem as exc:
                if exc.status == 401:
                    return _to_sign_in()
                return _error_page(request, exc.status, exc.message)

        return page


router = APIRouter(route_class=PageRoute, include_in_schema=False)


def _sessions(request: Request) -> SessionTable:
    table: SessionTable = request.app.state.ui_sessions
    return table


def _data(request: Request) -> Data:
    data: Data = request.app.state.data
    return data


def signed_in(request: Request) -> Viewer:
    """The viewer of a request, its key checked again now (a revoked key's session ends)."""
    table = _sessions(request)
    session = table.get(request.cookies.get(COOKIE))
    if session is None:
        raise sign_in_required()
    verifier: ApiKeyVerifier = request.app.state.verifier
    scope = verifier.verify_proof(session.proof)
    if scope is None:  # its row goes with the expired ones, at a later sign-in
        raise sign_in_required()
    return Viewer(scope, session)


def _own_origin(request: Request) -> str:
    return f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"


def check_same_origin(request: Request) -> None:
    """Refuses a post another site's page made: by the browser's own word (``Sec-Fetch-Site``)
    or the ``Origin`` it sends, whichever is there."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise cross_site()
    origin = request.headers.get("origin")
    if origin is not None and origin != _own_origin(request):
        raise cross_site()


async def form_fields(request: Request) -> dict[str, str]:
    check_same_origin(request)
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        pairs = parse_qsl(body, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise ServiceProblem(400, "the form has too many fields") from None
    return dict(pairs)


async def posted(request: Request) -> tuple[Viewer, dict[str, str]]:
    """The viewer and fields of a state-changing form, its CSRF token checked."""
    viewer = signed_in(request)
    fields = await form_fields(request)
    if not viewer.session.accepts(fields.get("csrf")):
        raise cross_site()
    return viewer, fields


def _failure(exc: Exception) -> tuple[int, str]:
    """The status and one line for a form that could not be applied."""
    if isinstance(exc, ValidationError):
        return 422, validation_message(list(exc.errors()))
    if isinstance(exc, ServiceProblem):
        return exc.status, exc.message
    if isinstance(exc, OutOfScopeError):
        return 403, str(exc)
    if isinstance(exc, DuplicateImportConnectorError):
        return 409, str(exc)
    return 422, str(exc)


FORM_ERRORS = (
    ValidationError,
    ServiceProblem,
    OutOfScopeError,
    DuplicateImportConnectorError,
    InvalidInputError,
)


# -- sign-in ----------------------------------------------------------------------------------


@router.get("/")
def root() -> Response:
    return RedirectResponse(HOME, 303)


@router.get("/favicon.ico")
def favicon() -> Response:
    """No icon, said without an error: browsers ask for one on every site."""
    return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})


@router.get("/ui/style.css")
def stylesheet() -> Response:
    return Response(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=300"})


@router.get("/ui/progress.js")
def progress_script() -> Response:
    return Response(
        PROGRESS_SCRIPT,
        media_type="text/javascript",
        headers={"Cache-Control": "max-age=300"},
    )


def _sign_in_page(request: Request, status: int = 200, message: str | None = None) -> Response:
    """The form with a fresh CSRF token, its nonce in a cookie only this site's pages send."""
    nonce = new_sign_in_nonce()
    token = sign_in_token(nonce)
    response = render(request, "sign_in.html.j2", status, message=message, csrf=token)
    response.set_cookie(
        SIGN_IN_COOKIE,
        nonce,
        max_age=SIGN_IN_LIFETIME_S,
        path=SIGN_IN,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get(SIGN_IN)
def sign_in_form(request: Request) -> Response:
    return _sign_in_page(request)


@router.post(SIGN_IN)
async def sign_in(request: Request) -> Response:
    fields = await form_fields(request)
    # Without the token of a form this site served, a page elsewhere could sign a visitor in
    # with the attacker's key (login CSRF), even from a browser that sends no Origin.
    if not sign_in_accepts(request.cookies.get(SIGN_IN_COOKIE), fields.get("csrf")):
        raise cross_site()
    proof = KeyProof.of(fields.get("key", "").strip())
    verifier: ApiKeyVerifier = request.app.state.verifier
    if proof is None or verifier.verify_proof(proof) is None:
        # The key typed is never put back into the form.
        return _sign_in_page(request, 401, BAD_KEY)
    table = _sessions(request)
    session = await anyio.to_thread.run_sync(lambda: table.open(proof))
    response = RedirectResponse(HOME, 303, headers=PAGE_HEADERS)
    response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN, httponly=True, samesite="strict")
    response.set_cookie(
        COOKIE,
        session.id,
        max_age=int(table.lifetime),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/ui/sign-out")
async def sign_out(request: Request) -> Response:
    viewer, _fields = await posted(request)
    table = _sessions(request)
    await anyio.to_thread.run_sync(lambda: table.close(viewer.session.id))
    return _to_sign_in()


# -- connectors -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigField:
    name: str
    required: bool
    secret: bool


def config_fields(provider: str) -> list[ConfigField]:
    """The provider's config keys as form fields, from the spec that validates them (none for
    a provider no longer installed)."""
    spec = find_spec(provider)
    if spec is None:
        return []
    return [ConfigField(name, key.required, key.secret) for name, key in spec.config.items()]


def _usable_specs() -> list[ProviderSpec]:
    """Every provider a connector may be created with: a broken plugin is left out."""
    return [spec for name in REGISTRY.names() if (spec := find_spec(name)) is not None]


def _connectors_page(
    request: Request,
    viewer: Viewer,
    status: int = 200,
    message: str | None = None,
    entered: Mapping[str, str] | None = None,
) -> Response:
    found = _data(request).run(viewer.scope, lambda b: b.list_connectors())
    return render(
        request,
        "connectors.html.j2",
        status,
        viewer,
        connectors=found,
        providers=[(s.name, s.category, config_fields(s.name)) for s in _usable_specs()],
        message=message,
        entered=_shown_fields(entered or {}),
    )


def _shown_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """What a failed form may show again: what was typed, but never a secret or the token (no
    config at all for a provider that is not installed: which keys are secret is unknown)."""
    spec = find_spec(fields.get("provider", ""))
    if spec is None:
        return {k: v for k, v in fields.items() if k != "csrf" and not k.startswith("config.")}
    hidden = {f"config.{name}" for name in spec.secret_keys} | {"csrf"}
    return {k: v for k, v in fields.items() if k not in hidden}


def _config_from(fields: Mapping[str, str], provider: str) -> dict[str, Any]:
    """The non-empty ``config.*`` fields the provider takes (empty: left as it is)."""
    config: dict[str, Any] = {}
    for field in config_fields(provider):
        value = fields.get(f"config.{field.name}", "").strip()
        if value:
            config[field.name] = value
    return config


@router.get("/ui/connectors")
def connectors(request: Request) -> Response:
    return _connectors_page(request, signed_in(request))


@router.post("/ui/connectors")
async def create_connector(request: Request) -> Response:
    viewer, fields = await posted(request)
    try:
        spec = spec_of(fields.get("provider", ""))
        body = CreateConnectorBody.model_validate(
            {
                "agentId": fields.get("agentId", "").strip() or None,
                "name": fields.get("name", ""),
                "category": spec.category.value,
                "provider": spec.name,
                "config": _config_from(fields, spec.name),
            }
        )
        data = _data(request)
        created = await anyio.to_thread.run_sync(lambda: data.create_connector(viewer.scope, body))
    except ValueError as exc:
        if not isinstance(exc, FORM_ERRORS):  # not a mistake the form can name
            exc = InvalidInputError("choose one of the providers listed")
        status, message = _failure(exc)
        return _connectors_page(request, viewer, status, message, fields)
    except FORM_ERRORS as exc:
        status, message = _failure(exc)
        return _connectors_page(request, viewer, status, message, fields)
    return RedirectResponse(f"/ui/connectors/{created.id}", 303)


def _connector_page(
    request: Request,
    viewer: Viewer,
    connector: ImportConnector,
    status: int = 200,
    message: str | None = None,
) -> Response:
    return render(
        request,
        "connector.html.j2",
        status,
        viewer,
        connector=connector,
        fields=config_fields(connector.provider),
        message=message,
    )


@router.get("/ui/connectors/{ref}")
def connector(request: Request, ref: str) -> Response:
    viewer = signed_in(request)
    found = _data(request).run(viewer.scope, lambda b: b.get_connector(ref))
    return _connector_page(request, viewer, found)


async def _connector_form(
    request: Request,
    ref: str,
    apply: Callable[[Data, Viewer, ImportConnector, dict[str, str]], str],
) -> Response:
    """Runs one of a connector's forms; ``apply`` returns where to go next. A failure shows the
    connector's page again with its one-line reason."""
    viewer, fields = await posted(request)
    data = _data(request)
    current = data.run(viewer.scope, lambda b: b.get_connector(ref))
    try:
        # Writes may wait for the database's lock: off the event loop, as the API's writes.
        target = await anyio.to_thread.run_sync(lambda: apply(data, viewer, current, fields))
    except FORM_ERRORS as exc:
        status, message = _failure(exc)
        current = data.run(viewer.scope, lambda b: b.get_connector(ref))
        return _connector_page(request, viewer, current, status, message)
    return RedirectResponse(target, 303)


@router.post("/ui/connectors/{ref}")
async def update_connector(request: Request, ref: str) -> Response:
    def apply(data: Data, viewer: Viewer, current: ImportConnector, fields: dict[str, str]) -> str:
        changes: dict[str, Any] = {}
        name = fields.get("name", "").strip()
        if name and name != current.name:
            changes["name"] = name
        config = {
            k: v
            for k, v in _config_from(fields, current.provider).items()
            if v != current.config.get(k)
        }
        if config:
            changes["config"] = config
        body = UpdateConnectorBody.model_validate(changes)
        update = body.model_dump(exclude_unset=True, by_alias=True)
        data.run(viewer.scope, lambda b: b.update_connector(current.id, update))
        return f"/ui/connectors/{current.id}"

    return await _connector_form(request, ref, apply)


@router.post("/ui/connectors/{ref}/connect")
async def connect_connector(request: Request, ref: str) -> Response:
    def apply(data: Data, viewer: Viewer, current: ImportConnector, _f: dict[str, str]) -> str:
        result = data.run(viewer.scope, lambda b: b.connect(current.id, None))
        return f"/ui/jobs/{result.job.id}"

    return await _connector_form(request, ref, apply)


@router.post("/ui/connectors/{ref}/disconnect")
async def disconnect_connector(request: Request, ref: str) -> Response:
    def apply(data: Data, viewer: Viewer, current: ImportConnector, _f: dict[str, str]) -> str:
        data.run(viewer.scope, lambda b: b.disconnect(current.id))
        return f"/ui/connectors/{current.id}"

    return await _connector_form(request, ref, apply)


@router.post("/ui/connectors/{ref}/sync")
async def sync_connector(request: Request, ref: str) -> Response:
    def apply(data: Data, viewer: Viewer, current: ImportConnector, fields: dict[str, str]) -> str:
        window = {k: fields[k].strip() for k in ("from", "to") if fields.get(k, "").strip()}
        body = SyncBody.model_validate(window)
        job = data.run(viewer.scope, lambda b: b.sync(current.id, body.from_, body.to))
        return f"/ui/jobs/{job.id}"

    return await _connector_form(request, ref, apply)


# -- jobs -------------------------------------------------------------------------------------


def _names(request: Request, viewer: Viewer) -> dict[str, str]:
    listed = _data(request).run(viewer.scope, lambda b: b.list_connectors())
    return {c.id: c.name for c in listed}


@router.get("/ui/jobs")
def jobs(request: Request) -> Response:
    viewer = signed_in(request)
    found = _data(request).run(viewer.scope, lambda b: b.list_jobs(JOBS_SHOWN))
    return render(request, "jobs.html.j2", 200, viewer, jobs=found, names=_names(request, viewer))


def progress(job: Job) -> dict[str, Any]:
    """What the job page's bar shows: finished is 100; otherwise how far through its window the
    job is (a job paused and queued again keeps its place), else 0 while queued and
    indeterminate (``percent`` None) while running: its provider cannot tell, the counts grow."""
    percent: int | None
    if job.status.finished:
        percent = 100
    elif job.stats.progress is not None:
        percent = int(job.stats.progress * 100)
    elif job.status is JobStatus.QUEUED:
        percent = 0
    else:
        percent = None
    return {
        "status": job.status.value,
        "finished": job.status.finished,
        "percent": percent,
        "fetched": job.stats.fetched,
        "created": job.stats.created,
        "updated": job.stats.updated,
        "unchanged": job.stats.unchanged,
        "error": job.error,
    }


@router.get("/ui/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> Response:
    viewer = signed_in(request)
    job = _data(request).run(viewer.scope, lambda b: b.get_job(job_id))
    names = _names(request, viewer)
    return render(request, "job.html.j2", 200, viewer, job=job, progress=progress(job), names=names)


@router.get("/ui/jobs/{job_id}/progress")
def job_progress(request: Request, job_id: str) -> Response:
    """For the job page's script, with the session cookie: a read, so no CSRF token."""
    viewer = signed_in(request)
    job = _data(request).run(viewer.scope, lambda b: b.get_job(job_id))
    return JSONResponse(progress(job), headers={"Cache-Control": "no-store"})


# -- conversations ----------------------------------------------------------------------------


@router.get("/ui/conversations")
def conversations(
    request: Request,
    agent: Annotated[str, Query(max_length=128)] = "",
    connector: Annotated[str, Query(max_length=200)] = "",
    origin: Literal["", "imported", "native"] = "",
    since: Annotated[str, Query(max_length=64)] = "",
    until: Annotated[str, Query(max_length=64)] = "",
    text: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[str, Query(max_length=512)] = "",
) -> Response:
    """Filters like replay's ``where``: agent, source, origin, a window of start times (UTC)
    and a text; newest first, a page at a time."""
    viewer = signed_in(request)
    filters = {
        "agent": agent,
        "connector": connector,
        "origin": origin,
        "since": since,
        "until": until,
        "text": text,
    }
    status, message, following = 200, None, None
    try:
        query = ConversationQuery(
            connector=connector or None,
            agent_id=agent or None,
            origin=origin or None,
            limit=PAGE_SIZE,
            cursor=cursor or None,
            since=as_utc(since or None, "since"),
            until=as_utc(until or None, "until"),
            text=text or None,
        )
        page = _data(request).run(viewer.scope, lambda b: b.list_conversations(query))
    except InvalidInputError as exc:
        status, message, page = 422, str(exc), ConversationList(items=[])
    if page.next_cursor:
        following = "?" + urlencode({**filters, "cursor": page.next_cursor})
    return render(
        request,
        "conversations.html.j2",
        status,
        viewer,
        message,
        page=page,
        filters=filters,
        following=following,
        names=_names(request, viewer),
    )


@router.get("/ui/conversations/{conversation_id}")
def conversation(request: Request, conversation_id: str, agent: str = "") -> Response:
    viewer = signed_in(request)
    detail = _data(request).run(
        viewer.scope, lambda b: b.get_conversation(conversation_id, agent_id=agent or None)
    )
    return render(
        request,
        "conversation.html.j2",
        200,
        viewer,
        detail=detail,
        conversation=detail.conversation,
        names=_names(request, viewer),
    )


@router.get("/ui/{rest:path}")
def unknown_page(request: Request, rest: str) -> Response:
    return _error_page(request, 404, "no such page")
