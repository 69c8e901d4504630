"""The HTTP service (`pyengine serve`), on Litestar: commands in, events, the decision,
explanations, replay and reports out, each route open to the roles that may use it.

Roles: a clerk submits commands and reads; an auditor reads everything and runs replay and
explain, never writes; an analyst reads the reports. Tokens are given by the operator in a
tokens file, one `role:sha256-of-token` per line (`pyengine token new` makes one): only their
hashes are at rest. No or unknown token: 401; a role the route does not allow: 403; bad input:
400 naming the field; another writer first: 409. Nothing is stored on any refusal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import json
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Union, cast
from urllib.parse import quote

import msgspec
from litestar import Litestar, MediaType, Request, get, post
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.enums import ParamType
from litestar.exceptions import HTTPException, NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIResponse, Parameter, RequestBody, Schema
from litestar.params import FromPath, FromQuery, QueryParameter, RawBody
from litestar.response import Redirect

from . import commands as c
from .coverage import CoverageReport
from .errors import ConcurrencyConflict, InputError
from .events_json import RENAMED, check_event_type, event_record
from .fairness import FairnessReport
from .reasons import ReasonsReport
from .schema import unique_keys
from .service import AllocationService

ROLES = ("clerk", "auditor", "analyst")
READERS = ("clerk", "auditor", "analyst")
PAGE = 1000  # events per page at most
BATCH = 10_000  # commands per batch at most


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def load_tokens(path: str | Path) -> dict[str, str]:
    """The tokens file: `role:sha256` lines (blank lines and `#` comments allowed) → {hash: role}."""
    tokens: dict[str, str] = {}
    for n, raw in enumerate(Path(path).read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        role, sep, digest = line.partition(":")
        if not sep or role not in ROLES or len(digest) != 64 or any(ch not in "0123456789abcdef" for ch in digest):
            raise InputError("--tokens", f"line {n}: expected role:sha256 with role one of {', '.join(ROLES)}")
        tokens[digest] = role
    return tokens


def new_token(role: str, path: str | Path) -> str:
    """A fresh token for `role`; its hash is appended to the tokens file, the token returned once."""
    if role not in ROLES:
        raise InputError("--role", f"no role {role!r}; the roles are {', '.join(ROLES)}")
    token = secrets.token_urlsafe(32)
    with open(path, "a") as f:
        f.write(f"{role}:{hash_token(token)}\n")
    return token


COOKIE = "pyengine_token"


def allow(*roles: str) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], None]:
    def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        header = connection.headers.get("authorization", "")
        scheme, _sep, token = header.partition(" ")
        if scheme.lower() != "bearer":
            token = connection.cookies.get(COOKIE, "")  # a browser, after /login
        role = connection.app.state.tokens.get(hash_token(token.strip()))
        if role is None:
            raise NotAuthorizedException("a valid bearer token is required")
        if role not in roles:
            raise PermissionDeniedException(f"the {role} role may not use this route")

    return guard


class Store:
    """The one writer of this process, used by one request at a time (the service keeps the
    portfolio in memory and catches up with other writers before every decision)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.svc = AllocationService(url)

    @contextmanager
    def use(self) -> Iterator[AllocationService]:
        with self.lock:
            self.svc.catch_up()
            yield self.svc


def _store(request: Request[Any, Any, Any]) -> Store:
    store: Store = request.app.state.store
    return store


def _error(e: Exception) -> HTTPException:
    if isinstance(e, InputError):
        return HTTPException(
            status_code=400, detail=f"{e.field}: {e.reason}", extra={"field": e.field, "reason": e.reason}
        )
    if isinstance(e, ConcurrencyConflict):
        return HTTPException(status_code=409, detail=str(e) or "another writer appended first; nothing was stored")
    raise e


@post("/commands", guards=[allow("clerk")], sync_to_thread=True, status_code=200)
def submit(request: Request[Any, Any, Any], body: RawBody) -> list[dict[str, Any]]:
    """One command (a JSON object with its `type`); `Idempotency-Key` or `command_id` makes a
    retry safe. Answers the stored events, MatchRun last."""
    try:
        cmd, key = c.parse_command_line(body)
        key = request.headers.get("idempotency-key") or key
        with _store(request).use() as svc:
            stored = svc.submit(cmd, command_id=key)
    except (InputError, ConcurrencyConflict) as e:
        raise _error(e) from None
    return [event_record(pos, ev) for pos, ev in stored]


@post("/commands/batch", guards=[allow("clerk")], sync_to_thread=True, status_code=200)
def submit_batch(request: Request[Any, Any, Any], body: RawBody) -> list[dict[str, Any]]:
    """A JSON array of commands stored as one write, re-matched once at the end (all or
    nothing: a refused command names its place, `[i].field`, and nothing is stored)."""
    try:
        try:
            items = json.loads(body, object_pairs_hook=unique_keys)
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
            raise InputError("$", "expected a JSON array of commands") from None
        if not isinstance(items, list) or not items or len(items) > BATCH:
            raise InputError("$", f"expected a JSON array of 1 to {BATCH:,} commands")
        cmds: list[c.Command] = []
        for i, item in enumerate(items):
            try:
                cmd, key = c.parse_command_line(json.dumps(item).encode())
            except InputError as e:
                raise InputError(f"[{i}].{e.field}".replace(".$", ""), e.reason) from None
            if key is not None:
                raise InputError(f"[{i}].command_id", "idempotency keys are taken one command at a time")
            cmds.append(cmd)
        with _store(request).use() as svc:
            stored = svc.submit_batch(cmds, "Batch", [f"[{i}]" for i in range(len(cmds))])
    except (InputError, ConcurrencyConflict) as e:
        raise _error(e) from None
    return [event_record(pos, ev) for pos, ev in stored]


@get("/events", guards=[allow(*READERS)], sync_to_thread=True)
def events(
    request: Request[Any, Any, Any],
    after: FromQuery[int] = 0,
    limit: FromQuery[int] = PAGE,
    type: FromQuery[str | None] = None,
) -> dict[str, Any]:
    """Stored events after position `after`, at most `limit` (≤ 1000), optionally of one type;
    `next` is the position to ask from for the next page."""
    if limit < 1 or limit > PAGE:
        raise _error(InputError("limit", f"must be 1 to {PAGE}"))
    try:
        check_event_type(type, "type")
    except InputError as e:
        raise _error(e) from None
    out: list[dict[str, Any]] = []
    last = after
    with _store(request).use() as svc:
        app = svc.app
        for note in app.recorder.select_notifications(start=after + 1, limit=limit):
            last = note.id
            ev = app.mapper.to_domain_event(note)
            if type is None or type_name(ev) == type:
                out.append(event_record(note.id, ev))
    return {"events": out, "next": last}


def type_name(event: Any) -> str:
    return str(type(event.payload).__name__)


@get("/decision", guards=[allow(*READERS)], sync_to_thread=True)
def decision(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The current decision: the last run's head and every household's proposed unit."""
    with _store(request).use() as svc:
        head = svc.head
        ledger = svc.portfolio.ledger
        assignments = {h: msgspec.to_builtins(a) for h, a in sorted(ledger.decision.items())} if ledger else {}
    return {"head": head._asdict() if head else None, "assignments": assignments}


def _explained(request: Request[Any, Any, Any], kind: str, ident: str) -> dict[str, Any]:
    """The explanation of household or unit `ident` in the last run (explain folds the log up
    to that run itself, so it reads the store, not the writer's view)."""
    from . import explain

    try:
        pf, run = explain.state_at(_store(request).url, None, None)
        how = explain.explain_household if kind == "household" else explain.explain_unit
        return how(pf, run, ident)
    except InputError as e:
        raise _error(e) from None


@get("/explain/household/{hid:str}", guards=[allow("clerk", "auditor")], sync_to_thread=True)
def explain_household(request: Request[Any, Any, Any], hid: FromPath[str]) -> dict[str, Any]:
    return _explained(request, "household", hid)


@get("/explain/unit/{uid:str}", guards=[allow("clerk", "auditor")], sync_to_thread=True)
def explain_unit(request: Request[Any, Any, Any], uid: FromPath[str]) -> dict[str, Any]:
    return _explained(request, "unit", uid)


@get("/replay", guards=[allow("auditor")], sync_to_thread=True)
def replay_status(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """Replays the whole log now and answers what it found."""
    from .replay import replay

    r = replay(_store(request).url)
    return {
        "events": r.events, "runs_verified": r.runs_verified, "seconds": round(r.seconds, 3),
        "divergence": dataclasses.asdict(r.divergence) if r.divergence else None,
        "snapshots_checked": r.snapshots_checked, "snapshot_problems": r.snapshot_problems,
        "head": dataclasses.asdict(r.head) if r.head else None, "not_resolved": r.not_resolved,
    }  # fmt: skip


@get("/reports/sales", guards=[allow("analyst", "auditor")], sync_to_thread=True)
def report_sales(request: Request[Any, Any, Any]) -> dict[str, Any]:
    from .reports import sales_by_year

    with _store(request).use() as svc:
        years = sales_by_year(ev.payload for _, ev in svc.stored_events())
    return {str(y): dataclasses.asdict(v) for y, v in sorted(years.items())}


@get("/reports/worklist", guards=[allow(*READERS)], sync_to_thread=True)
def report_worklist(request: Request[Any, Any, Any], as_of: FromQuery[str | None] = None) -> dict[str, Any]:
    """The office's worklist as of `as_of` (YYYY-MM-DD; default the store's date), as
    `pyengine report worklist --json` gives it."""
    from .worklist import as_json, observe, parse_as_of, worklist

    try:
        day = parse_as_of(as_of, "as_of")
        with _store(request).use() as svc:
            pf, steps, day = observe(svc, day)
            out: dict[str, Any] = json.loads(as_json(worklist(pf, day, steps)))
    except InputError as e:
        field = "as_of" if e.field == "--as-of" else e.field
        raise _error(InputError(field, e.reason)) from None
    return out


@get("/reports/fairness", guards=[allow("analyst", "auditor")], sync_to_thread=True)
def report_fairness(
    request: Request[Any, Any, Any],
    from_: Annotated[str | None, QueryParameter(name="from", description="first day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, QueryParameter(description="last day, YYYY-MM-DD")] = None,
) -> FairnessReport:
    """Allocation across groups of households, per year of the window from `from` to `to`
    (YYYY-MM-DD; default the earliest date in the log and the store's date): applications and
    how many were housed, offers, lets, waits, size fit and transfers, with the definitions,
    as `pyengine report fairness --json` gives it."""
    from .fairness import fairness, parse_window

    try:
        start, end = parse_window(from_, to, ("from", "to"))
        with _store(request).use() as svc:
            return fairness(svc.app, start, end)
    except InputError as e:
        raise _error(InputError(e.field.removeprefix("--"), e.reason)) from None


@get("/reports/reasons", guards=[allow("analyst", "auditor")], sync_to_thread=True)
def report_reasons(
    request: Request[Any, Any, Any],
    from_: Annotated[str | None, QueryParameter(name="from", description="first day, YYYY-MM-DD")] = None,
    to: Annotated[str | None, QueryParameter(description="last day, YYYY-MM-DD")] = None,
) -> ReasonsReport:
    """The reason codes recorded per year of the window from `from` to `to` (YYYY-MM-DD;
    default the log's first day and the store's date): offers declined, applications
    withdrawn, leases not renewed or ended, units kept for rent or withdrawn, purchases
    declined and rent-to-own cases closed, by code, as `pyengine report reasons --json` gives it."""
    from .fairness import parse_window
    from .reasons import reasons

    try:
        start, end = parse_window(from_, to, ("from", "to"))
        with _store(request).use() as svc:
            return reasons(svc.app, start, end)
    except InputError as e:
        raise _error(InputError(e.field.removeprefix("--"), e.reason)) from None


@get("/reports/coverage", guards=[allow(*READERS)], sync_to_thread=True)
def report_coverage(
    request: Request[Any, Any, Any],
    tasks: Annotated[str | None, QueryParameter(description="task names, comma-separated")] = None,
    scope_: Annotated[
        str | None, QueryParameter(name="scope", description="building, stairwell or floor (with tasks)")
    ] = None,
) -> CoverageReport:
    """Which shared tasks the residents of each scope cover now, which the last decision
    brings and which are missing, for the policy's coverage rules (or `tasks` and `scope`),
    as `pyengine report coverage --json` gives it."""
    from .coverage import report_of, rules_for

    try:
        with _store(request).use() as svc:
            return report_of(svc.portfolio, rules_for(svc.portfolio, tasks, scope_))
    except InputError as e:
        raise _error(InputError(e.field.removeprefix("--"), e.reason)) from None


@get("/login", sync_to_thread=False)
def login(request: Request[Any, Any, Any], token: FromQuery[str]) -> Redirect:
    """For a browser: a valid token becomes an HttpOnly cookie, then the overview page."""
    if request.app.state.tokens.get(hash_token(token)) is None:
        raise NotAuthorizedException("a valid token is required")
    cookie = Cookie(key=COOKIE, value=token, httponly=True, samesite="strict", path="/")
    return Redirect(path="/", cookies=[cookie])


@get("/", guards=[allow(*READERS)], sync_to_thread=True, media_type=MediaType.HTML)
def overview(request: Request[Any, Any, Any]) -> str:
    """The current allocation per building, with its mix against the caps and links to each
    household's explanation: one server-rendered page, no script."""
    with _store(request).use() as svc:
        head = svc.head
        pf = svc.portfolio
        ledger = pf.ledger
        household_of = {a.unit: h for h, a in ledger.decision.items()} if ledger else {}
        rows_of: dict[str, list[Any]] = {}
        for row in ledger.cap_rows.values() if ledger else ():
            rows_of.setdefault(row.scope, []).append(row)
        buildings: dict[str, list[Any]] = {}
        for unit in pf.units.values():
            if unit.sold or unit.withdrawn or getattr(unit, "merged_into", None):
                continue  # not in the rental portfolio
            buildings.setdefault(unit.spec.building, []).append(unit.spec)
    return render_overview(head, buildings, household_of, rows_of)


def render_overview(
    head: Any, buildings: dict[str, list[Any]], household_of: dict[str, str], rows_of: dict[str, list[Any]]
) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Allocation</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px}.over{color:#b00}</style></head><body>",
        "<h1>Current allocation</h1>",
        f"<p id='head'>Run {head.run}, log position {head.position}</p>" if head else "<p id='head'>No run yet</p>",
    ]
    for building in sorted(buildings):
        units = sorted(buildings[building], key=lambda u: u.id)
        housed = sum(1 for u in units if u.id in household_of)
        parts.append(f"<section class='building' id='building-{e(building)}'><h2>{e(building)}</h2>")
        parts.append(f"<p>{housed} of {len(units)} units proposed</p>")
        scopes = sorted({building, *(u.stairwell for u in units)})
        for scope in scopes:
            for row in sorted(rows_of.get(scope, ()), key=lambda r: r.rule):
                over = " over" if row.count > row.cap else ""
                parts.append(f"<p class='mix{over}'>{e(row.flag)} in {e(scope)}: {row.count} of at most {row.cap}</p>")
        parts.append("<table><tr><th>unit</th><th>rooms</th><th>household</th></tr>")
        for u in units:
            h = household_of.get(u.id)
            who = f"<a href='/explain/household/{quote(h)}'>{e(h)}</a>" if h else "vacant"
            parts.append(f"<tr><td>{e(u.id)}</td><td>{u.rooms}</td><td>{who}</td></tr>")
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "".join(parts)


def create_app(store_url: str, tokens: dict[str, str]) -> Litestar:
    store = Store(store_url)

    def close() -> None:
        store.svc.close()

    app = Litestar(
        route_handlers=[
            login,
            overview,
            submit,
            submit_batch,
            events,
            decision,
            explain_household,
            explain_unit,
            replay_status,
            report_sales,
            report_worklist,
            report_fairness,
            report_reasons,
            report_coverage,
        ],
        on_shutdown=[close],
    )
    app.state.store = store
    app.state.tokens = tokens
    document(app)
    return app


def as_schema(json_schema: dict[str, Any]) -> Schema:
    # Litestar writes a plain JSON Schema dict into the document as it is; msgspec makes them.
    return cast(Schema, json_schema)


def document(app: Litestar) -> None:
    """Names in the OpenAPI document (`/schema/openapi.json`) the msgspec Structs the routes
    take and give. Command bodies are read by the same strict reader as `pyengine submit`
    (duplicate keys refused, `command_id` beside the command), not by a typed parameter, so
    their schema is attached here rather than inferred."""
    payloads = tuple(
        t for t in vars(c).values() if isinstance(t, type) and issubclass(t, c.Payload) and t is not c.Payload
    )
    (command, _), components = msgspec.json.schema_components(
        [c.Command, Union[payloads]],  # noqa: UP007 (a runtime union of a tuple of types)
        ref_template="#/components/schemas/{name}",
    )
    envelope = {
        "position": {"type": "integer"}, "stream": {"type": "string"}, "version": {"type": "integer"},
        "recorded_at": {"type": "string", "format": "date-time"},
    }  # fmt: skip
    record_refs = []
    for t in payloads:
        # A record is the payload's fields beside the envelope's (`events_json.event_record`).
        own = components[t.__name__]
        renamed = {n: RENAMED.get((t, n), n) for n in own.get("properties", {})}
        components[f"{t.__name__}Record"] = {
            **own,
            "properties": {**envelope, **{renamed[n]: v for n, v in own.get("properties", {}).items()}},
            "required": [*envelope, *(renamed[n] for n in own.get("required", []))],
        }
        record_refs.append({"$ref": f"#/components/schemas/{t.__name__}Record"})
    record = {"anyOf": record_refs, "description": "A stored event: its envelope and its payload's fields"}
    records = {"type": "array", "items": {"$ref": "#/components/schemas/EventRecord"}}
    schema = app.openapi_schema
    paths, named = schema.paths, schema.components.schemas
    assert paths is not None and named is not None
    named.update(components)
    named["EventRecord"] = as_schema(record)

    def body(path: str, value: dict[str, Any]) -> None:
        op = paths[path].post
        assert op is not None
        op.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=as_schema(value))}, required=True
        )

    def answer(path: str, method: str, value: dict[str, Any]) -> None:
        op = getattr(paths[path], method)
        op.responses["200"] = OpenAPIResponse(
            description="OK", content={"application/json": OpenAPIMediaType(schema=as_schema(value))}
        )

    body("/commands", command)
    op = paths["/commands"].post
    assert op is not None
    op.parameters = [*(op.parameters or []), Parameter(
        name="Idempotency-Key", param_in=ParamType.HEADER, required=False,
        schema=as_schema({"type": "string", "minLength": 1, "maxLength": 200}),
        description="A retry with the same key answers the stored events and stores nothing "
        "(the body may carry it as `command_id` instead, as a `pyengine submit` line does)",
    )]  # fmt: skip
    body("/commands/batch", {"type": "array", "items": command, "minItems": 1, "maxItems": BATCH})
    answer("/commands", "post", records)
    answer("/commands/batch", "post", records)
    answer("/events", "get", {"type": "object", "properties": {"events": records, "next": {"type": "integer"}}})


def serve(store_url: str, tokens_path: str, host: str, port: int) -> None:
    import uvicorn

    app = create_app(store_url, load_tokens(tokens_path))  # opens the store: its errors come first
    uvicorn.run(app, host=host, port=port, log_level="warning")
