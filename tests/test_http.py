"""The HTTP service through Litestar's test client, on SQLite and PostgreSQL: every route × role
(401 without a valid token, 403 for a role the route does not allow), bad input 400 naming the
field with nothing stored, a conflict 409, and idempotent retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from pyengine.errors import ConcurrencyConflict
from pyengine.http import ROLES, create_app, hash_token, load_tokens, new_token

TOKENS = {role: f"token-of-{role}" for role in ROLES}
DAY = b'{"type": "DayClosed", "date": "2021-05-01"}'
UNIT = (
    b'{"type": "UnitRegistered", "id": "U1", "building": "B1", "stairwell": "B1-A", "floor": 1, "rooms": 2, '
    b'"area_m2": 48, "rent_nok_month": 6800, "accessible": false, "kind": "ordinary", "district": "Lademoen"}'
)
APPLY = b'{"type": "ApplicationSubmitted", "id": "H1", "adults": 1, "applied_on": "2021-01-01"}'

# route → the roles it allows
ROUTES: dict[tuple[str, str], set[str]] = {
    ("POST", "/commands"): {"clerk"},
    ("POST", "/commands/batch"): {"clerk"},
    ("GET", "/events"): {"clerk", "auditor", "analyst"},
    ("GET", "/decision"): {"clerk", "auditor", "analyst"},
    ("GET", "/explain/household/H1"): {"clerk", "auditor"},
    ("GET", "/explain/unit/U1"): {"clerk", "auditor"},
    ("GET", "/replay"): {"auditor"},
    ("GET", "/reports/sales"): {"analyst", "auditor"},
    ("GET", "/reports/worklist"): {"clerk", "auditor", "analyst"},
    ("GET", "/reports/fairness"): {"analyst", "auditor"},
    ("GET", "/reports/reasons"): {"analyst", "auditor"},
    ("GET", "/reports/coverage?tasks=gardening"): {"clerk", "auditor", "analyst"},
    ("GET", "/"): {"clerk", "auditor", "analyst"},
}


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient[Any]]:
    app = create_app(store_url, {hash_token(t): role for role, t in TOKENS.items()})
    with TestClient(app) as cl:
        for body in (DAY, UNIT, APPLY):
            assert cl.post("/commands", content=body, headers=auth("clerk")).status_code == 200
        yield cl


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def call(cl: TestClient[Any], method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "POST":
        body = b'{"type": "ApplicationSubmitted", "id": "H9", "adults": 2, "applied_on": "2021-02-01"}'
        if path.endswith("batch"):
            body = b"[" + body.replace(b"H9", b"H8") + b"]"
        return cl.post(path, content=body, headers=headers)
    return cl.get(path, headers=headers)


def test_every_route_and_role(client: TestClient[Any]) -> None:
    for (method, path), allowed in ROUTES.items():
        assert call(client, method, path, {}).status_code == 401, path
        assert call(client, method, path, {"Authorization": "Bearer nope"}).status_code == 401, path
        for role in ROLES:
            r = call(client, method, path, auth(role))
            want = 200 if role in allowed else 403
            assert r.status_code == want, (path, role, r.text)


def test_answers(client: TestClient[Any]) -> None:
    page = client.get("/events", params={"limit": 3}, headers=auth("auditor")).json()
    assert [e["type"] for e in page["events"]] == ["LedgerOpened", "DayClosed", "PolicyAdopted"]
    rest = client.get("/events", params={"after": page["next"], "type": "MatchRun"}, headers=auth("auditor")).json()
    assert rest["events"] and all(e["type"] == "MatchRun" for e in rest["events"])
    d = client.get("/decision", headers=auth("analyst")).json()
    assert d["assignments"]["H1"]["unit"] == "U1" and d["head"]["run"] == 3
    why = client.get("/explain/household/H1", headers=auth("auditor")).json()
    assert why["household"] == "H1"
    r = client.get("/replay", headers=auth("auditor")).json()
    assert r["divergence"] is None and r["runs_verified"] == 3


def test_bad_input_names_the_field_and_stores_nothing(client: TestClient[Any]) -> None:
    before = client.get("/events", headers=auth("clerk")).json()["next"]
    bad = b'{"type": "ApplicationSubmitted", "id": "H2", "adults": 0, "applied_on": "2021-01-01"}'
    r = client.post("/commands", content=bad, headers=auth("clerk"))
    assert r.status_code == 400 and r.json()["extra"]["field"] == "adults", r.text
    assert client.post("/commands", content=b"{", headers=auth("clerk")).status_code == 400
    r = client.get("/events", params={"limit": 0}, headers=auth("clerk"))
    assert r.status_code == 400 and r.json()["extra"]["field"] == "limit"
    r = client.get("/events", params={"type": "Nope"}, headers=auth("clerk"))
    assert r.status_code == 400 and r.json()["extra"]["field"] == "type"
    assert client.get("/events", headers=auth("clerk")).json()["next"] == before


def test_a_batch_is_one_write_or_nothing(client: TestClient[Any]) -> None:
    before = client.get("/events", headers=auth("clerk")).json()["next"]
    two = (
        b"["
        + APPLY.replace(b"H1", b"H5")
        + b","
        + APPLY.replace(b"H1", b"H6").replace(b'"adults": 1', b'"adults": 0')
        + b"]"
    )
    r = client.post("/commands/batch", content=two, headers=auth("clerk"))
    assert r.status_code == 400 and r.json()["extra"]["field"] == "[1].adults", r.text
    assert client.get("/events", headers=auth("clerk")).json()["next"] == before
    ok = b"[" + APPLY.replace(b"H1", b"H5") + b"," + APPLY.replace(b"H1", b"H6") + b"]"
    stored = client.post("/commands/batch", content=ok, headers=auth("clerk")).json()
    kinds = [e["type"] for e in stored]
    assert kinds.count("MatchRun") == 1 and kinds[-1] == "MatchRun" and kinds.count("ApplicationSubmitted") == 2


def test_retry_with_the_same_key_is_answered_not_stored_again(client: TestClient[Any]) -> None:
    body = b'{"type": "ApplicationSubmitted", "id": "H3", "adults": 1, "applied_on": "2021-01-01"}'
    h = {**auth("clerk"), "Idempotency-Key": "k-1"}
    first = client.post("/commands", content=body, headers=h).json()
    again = client.post("/commands", content=body, headers=h).json()
    assert first == again and first[-1]["type"] == "MatchRun"


def test_a_conflict_is_409(client: TestClient[Any], monkeypatch: pytest.MonkeyPatch) -> None:
    svc = client.app.state.store.svc

    def stale(*_: Any, **__: Any) -> Any:
        raise ConcurrencyConflict("another writer appended first; nothing was stored")

    monkeypatch.setattr(svc, "submit", stale)
    r = client.post("/commands", content=APPLY.replace(b"H1", b"H4"), headers=auth("clerk"))
    assert r.status_code == 409


def test_the_overview_page(client: TestClient[Any]) -> None:
    page = client.get("/", headers=auth("analyst"))
    assert page.headers["content-type"].startswith("text/html")
    assert "id='building-B1'" in page.text and "<a href='/explain/household/H1'>H1</a>" in page.text
    # a browser logs in once: the token becomes an HttpOnly cookie
    assert client.get("/login", params={"token": "nope"}, follow_redirects=False).status_code == 401
    client.cookies.clear()
    r = client.get("/login", params={"token": TOKENS["auditor"]}, follow_redirects=False)
    assert r.status_code in (301, 302, 303, 307) and "httponly" in r.headers["set-cookie"].lower()
    client.cookies.set("pyengine_token", TOKENS["auditor"])
    assert client.get("/").status_code == 200
    client.cookies.clear()
    assert client.get("/").status_code == 401


def test_tokens_file_holds_hashes_only(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    token = new_token("auditor", path)
    assert token not in path.read_text()
    assert load_tokens(path) == {hash_token(token): "auditor"}


def test_a_real_server_process(store_url: str, tmp_path: Path) -> None:
    """`pyengine serve` on 127.0.0.1: a clerk's command in, the decision out."""
    import json
    import os
    import shutil
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    tokens = tmp_path / "tokens"
    clerk = new_token("clerk", tokens)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyengine.cli", "serve", "--store", store_url, "--tokens", str(tokens),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:

        def send(path: str, body: bytes | None = None) -> tuple[int, Any]:
            req = urllib.request.Request(base + path, data=body, headers={"Authorization": f"Bearer {clerk}"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        for _ in range(200):
            try:
                send("/decision")
                break
            except OSError:
                time.sleep(0.05)
        for body in (DAY, UNIT, APPLY):
            status, _ = send("/commands", body)
            assert status == 200
        status, d = send("/decision")
        assert status == 200 and d["assignments"]["H1"]["unit"] == "U1"
        status, _ = send("/replay")
        assert status == 403
        # what a person sees: the page in headless Chromium, after logging in with the token
        browser = shutil.which("chromium") or shutil.which("chromium-browser")
        if browser is None:
            assert not os.environ.get("PYENGINE_REQUIRE_CHROMIUM"), "chromium is not installed"
            return
        dom = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", f"{base}/login?token={clerk}"],
            capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
        assert "Current allocation" in dom and 'id="building-B1"' in dom, dom[:500]
        assert '<a href="/explain/household/H1">H1</a>' in dom
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_the_openapi_document_describes_the_bodies(client: TestClient[Any]) -> None:
    """The document at /schema/openapi.json holds the msgspec Structs' schemas: what the routes
    accept validates against it, what they refuse does not, and what they answer does."""
    import jsonschema

    doc = client.get("/schema/openapi.json").json()
    assert doc["openapi"].startswith("3.1")

    def schema(path: str, method: str, part: str) -> dict[str, Any]:
        op = doc["paths"][path][method]
        media = op["requestBody"] if part == "request" else op["responses"]["200"]
        return {**media["content"]["application/json"]["schema"], "components": doc["components"]}

    one, batch = schema("/commands", "post", "request"), schema("/commands/batch", "post", "request")
    good = json.loads(APPLY.replace(b"H1", b"H9"))
    jsonschema.validate(good, one)
    params = doc["paths"]["/commands"]["post"]["parameters"]
    assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params)
    jsonschema.validate([good, json.loads(DAY)], batch)
    for bad in ({**good, "adults": 0}, {**good, "type": "Nope"}, {"type": "ApplicationSubmitted", "id": "H9"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(bad, one)
        assert client.post("/commands", json=bad, headers=auth("clerk")).status_code == 400
    stored = client.post("/commands", json=good, headers=auth("clerk")).json()
    jsonschema.validate(stored, schema("/commands", "post", "response"))
    assert [e["type"] for e in stored][-1] == "MatchRun"
    page = client.get("/events", headers=auth("auditor")).json()
    jsonschema.validate(page, schema("/events", "get", "response"))


def test_the_worklist_route_answers_as_the_cli_does(client: TestClient[Any]) -> None:
    r = client.get("/reports/worklist", headers=auth("clerk"))
    assert r.status_code == 200 and set(r.json()) == {
        "purchase_candidates", "renewals_due", "stalled_cases", "offers_past_reply_by", "valuations_expiring",
        "aftercare_due", "loan_decisions_due",
    }  # fmt: skip
    r = client.get("/reports/worklist", params={"as_of": "soon"}, headers=auth("clerk"))
    assert r.status_code == 400 and r.json()["extra"]["field"] == "as_of"
