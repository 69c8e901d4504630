"""`pyengine report fairness` (issue 20): per group and year, the figures of a small history
counted by hand: applications and how many were housed, offers, lets, waits (median, p90),
over- and under-occupancy and transfers; the window; the command line and the HTTP route."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient

from pyengine import commands as c
from pyengine import fairness as f
from pyengine.errors import InputError
from pyengine.http import create_app, hash_token
from pyengine.policy import load_policy
from pyengine.service import AllocationService

from .helpers import app_cmd as app
from .helpers import unit_cmd as unit

D = dt.date


def history() -> list[c.Command]:
    """Seven applications, six lets. Rooms needed (policy v1): a single adult 1; two adults 2;
    one or two adults with one or two children 3; one adult with three children 4.

    A  single, applied 2019-07-01; let U1 (1 room) 2020-03-01: wait 244, fits
    C  single refugee preferring Lademoen, applied 2019-11-01; let U3 (2) 2020-06-01: wait 213, under
    B  family (2 + 2), disadvantaged, applied 2020-01-01; let U2 (3) 2020-04-01: wait 91, fits
    D  single with a care need, applied 2020-01-01; let U4 (2, care) 2021-03-01: wait 425, under
    E  two adults, disadvantaged, applied 2020-01-01: one offer expired, one declined, never let
    S  two adults, sitting tenant of T1, asks for a transfer 2020-06-01 (an application then);
       moved to U5 (3) 2021-01-10: a transfer, under, no wait
    F  one adult, one child, applied 2021-02-01; offered U7 (3), then three children (needs 4);
       let 2021-06-01: wait 120, over-occupied, still a family
    """
    return [
        c.DayClosed(date=D(2020, 1, 1)),
        unit("U1", rooms=1), unit("U2", rooms=3), unit("U3", rooms=2), unit("U4", rooms=2, kind="care"),
        unit("U5", rooms=3), unit("U7", rooms=3), unit("T1", rooms=2),
        app("A", applied_on=D(2019, 7, 1)),
        app("C", applied_on=D(2019, 11, 1), refugee_settled_on=D(2018, 5, 1), preferred_districts=["Lademoen"]),
        app("B", adults=2, children=2, disadvantaged=True, applied_on=D(2020, 1, 1)),
        app("D", care_need=True, applied_on=D(2020, 1, 1)),
        app("E", adults=2, disadvantaged=True, applied_on=D(2020, 1, 1)),
        app("S", adults=2, applied_on=None, current_unit="T1"),  # a sitting tenant: no application yet
        c.OfferMade(household="A", unit="U1"),
        c.DayClosed(date=D(2020, 3, 1)),
        c.OfferAccepted(household="A", unit="U1"),
        c.OfferMade(household="B", unit="U2"),
        c.OfferMade(household="E", unit="U3", reply_by=D(2020, 3, 15)),
        c.DayClosed(date=D(2020, 4, 1)),  # E's offer lapses
        c.OfferAccepted(household="B", unit="U2"),
        c.OfferMade(household="E", unit="U3"),
        c.OfferDeclined(household="E", unit="U3", code="wrong_district"),
        c.OfferMade(household="C", unit="U3"),
        c.DayClosed(date=D(2020, 6, 1)),
        c.OfferAccepted(household="C", unit="U3"),
        c.ApplicationUpdated(id="S", transfer_requested=True),
        c.OfferMade(household="S", unit="U5"),
        c.DayClosed(date=D(2021, 1, 10)),
        c.OfferAccepted(household="S", unit="U5"),
        c.OfferMade(household="D", unit="U4"),
        c.DayClosed(date=D(2021, 3, 1)),
        c.OfferAccepted(household="D", unit="U4"),
        app("F", children=1, applied_on=D(2021, 2, 1)),
        c.OfferMade(household="F", unit="U7"),
        c.ApplicationUpdated(id="F", children=3),
        c.DayClosed(date=D(2021, 6, 1)),
        c.OfferAccepted(household="F", unit="U7"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('fair') / 's.db'}"
    svc = AllocationService(url)
    for cmd in history():
        svc.submit(cmd)
    svc.close()
    return url


# the columns compared: (applications, housed, offers, declined, expired, lets, median, p90, waits, over,
# under, transfers)
def figures(rep: f.FairnessReport, group: str, period: str) -> tuple[Any, ...]:
    (r,) = [r for r in rep.rows if r.group == group and r.period == period]
    return (
        r.applications, r.housed, r.offers_made, r.offers_declined, r.offers_expired, r.lets, r.wait_median_days,
        r.wait_p90_days, r.waits, r.over_occupied, r.under_occupied, r.transfers,
    )  # fmt: skip


def test_figures_per_group_and_year(store: str) -> None:
    rep = f.report(store, None, None)
    assert (rep.window_from, rep.window_to, rep.years) == (D(2019, 7, 1), D(2021, 6, 1), [2019, 2020, 2021])
    assert [g.key for g in rep.groups] == [
        "all", "disadvantaged", "refugee", "families", "singles", "care_need", "district_preference",
    ]  # fmt: skip
    assert len(rep.rows) == 7 * 4  # every group in the window and in each year, zeros too
    expected = {
        # the whole window: waits 91 120 213 244 425
        ("all", "all"): (7, 6, 8, 1, 1, 6, 213.0, 425, 5, 1, 3, 1),
        ("disadvantaged", "all"): (2, 1, 3, 1, 1, 1, 91.0, 91, 1, 0, 0, 0),
        ("refugee", "all"): (1, 1, 1, 0, 0, 1, 213.0, 213, 1, 0, 1, 0),
        ("families", "all"): (2, 2, 2, 0, 0, 2, 105.5, 120, 2, 1, 0, 0),
        ("singles", "all"): (3, 3, 3, 0, 0, 3, 244.0, 425, 3, 0, 2, 0),
        ("care_need", "all"): (1, 1, 1, 0, 0, 1, 425.0, 425, 1, 0, 1, 0),
        ("district_preference", "all"): (1, 1, 1, 0, 0, 1, 213.0, 213, 1, 0, 1, 0),
        # 2019: applications only (housed later, counted in the year they applied)
        ("all", "2019"): (2, 2, 0, 0, 0, 0, None, None, 0, 0, 0, 0),
        ("singles", "2019"): (2, 2, 0, 0, 0, 0, None, None, 0, 0, 0, 0),
        ("refugee", "2019"): (1, 1, 0, 0, 0, 0, None, None, 0, 0, 0, 0),
        # 2020: B D E S applied (E never housed); offers A B E E C S; lets A B C (244 91 213)
        ("all", "2020"): (4, 3, 6, 1, 1, 3, 213.0, 244, 3, 0, 1, 0),
        ("disadvantaged", "2020"): (2, 1, 3, 1, 1, 1, 91.0, 91, 1, 0, 0, 0),
        ("singles", "2020"): (1, 1, 2, 0, 0, 2, 228.5, 244, 2, 0, 1, 0),
        ("care_need", "2020"): (1, 1, 0, 0, 0, 0, None, None, 0, 0, 0, 0),
        # 2021: F applied; offers D F; lets S (transfer, no wait) D (425) F (120, over)
        ("all", "2021"): (1, 1, 2, 0, 0, 3, 272.5, 425, 2, 1, 2, 1),
        ("families", "2021"): (1, 1, 1, 0, 0, 1, 120.0, 120, 1, 1, 0, 0),
        ("care_need", "2021"): (0, 0, 1, 0, 0, 1, 425.0, 425, 1, 0, 1, 0),
        ("refugee", "2021"): (0, 0, 0, 0, 0, 0, None, None, 0, 0, 0, 0),
    }
    for (group, period), want in expected.items():
        assert figures(rep, group, period) == want, (group, period)
    rates = {r.group: r.let_rate for r in rep.rows if r.period == "all"}
    assert rates == {
        "all": round(6 / 7, 4), "disadvantaged": 0.5, "refugee": 1.0, "families": 1.0, "singles": 1.0,
        "care_need": 1.0, "district_preference": 1.0,
    }  # fmt: skip
    assert [r.let_rate for r in rep.rows if r.group == "all" and r.period != "all"] == [1.0, 0.75, 1.0]


def test_the_window_bounds_are_inclusive(store: str) -> None:
    """2020-04-01 to 2020-12-31: S's application (housed only in 2021, after the window); the
    offers of 2020-04-01 and 2020-06-01, E's lapse and decline; B's let on the first day and C's."""
    rep = f.report(store, D(2020, 4, 1), D(2020, 12, 31))
    assert (rep.window_from, rep.window_to, rep.years) == (D(2020, 4, 1), D(2020, 12, 31), [2020])
    assert figures(rep, "all", "all") == (1, 0, 3, 1, 1, 2, 152.0, 213, 2, 0, 1, 0)
    assert figures(rep, "all", "2020") == figures(rep, "all", "all")
    assert [r.let_rate for r in rep.rows if r.group == "all"] == [0.0, 0.0]
    assert figures(rep, "disadvantaged", "all") == (0, 0, 1, 1, 1, 1, 91.0, 91, 1, 0, 0, 0)
    # one bound: the other is the log's
    late = f.report(store, D(2021, 1, 1), None)
    assert (late.window_from, late.window_to, late.years) == (D(2021, 1, 1), D(2021, 6, 1), [2021])
    assert figures(late, "all", "all") == figures(rep := f.report(store, None, None), "all", "2021")
    early = f.report(store, None, D(2019, 12, 31))
    assert early.years == [2019]
    assert figures(rep, "all", "2019")[:2] == (2, 2)  # A and C were housed in 2020,
    assert figures(early, "all", "all")[:2] == (2, 0)  # after this window


def test_groups_follow_the_household_at_each_event() -> None:
    """A single who adds a child after applying counts as a single for the application and as a
    family for the offer and the let; a refugee date given later moves the household too."""
    svc = AllocationService("memory:")
    for cmd in [
        c.DayClosed(date=D(2022, 1, 3)), unit("U", rooms=3), app("H", applied_on=D(2022, 1, 3)),
        c.ApplicationUpdated(id="H", children=1, refugee_settled_on=D(2021, 1, 1)),
        c.OfferMade(household="H", unit="U"), c.DayClosed(date=D(2022, 1, 13)),
        c.OfferAccepted(household="H", unit="U"),
    ]:  # fmt: skip
        svc.submit(cmd)
    rep = f.fairness(svc.app)
    svc.close()
    assert figures(rep, "singles", "2022") == (1, 1, 0, 0, 0, 0, None, None, 0, 0, 0, 0)
    assert figures(rep, "families", "2022") == (0, 0, 1, 0, 0, 1, 10.0, 10, 1, 0, 0, 0)
    assert figures(rep, "refugee", "2022") == figures(rep, "families", "2022")


def test_statistics_and_rooms_needed() -> None:
    assert f.p90([]) is None and f.median([]) is None
    assert f.p90([5]) == 5 and f.p90(list(range(1, 11))) == 9 and f.p90(list(range(1, 12))) == 10
    assert f.median([3, 1, 2]) == 2.0 and f.median([1, 2, 3, 10]) == 2.5
    policy = load_policy()
    need = [f.rooms_needed(app("X", adults=a, children=k), policy) for a, k in ((1, 0), (2, 0), (1, 1), (2, 3), (4, 2))]
    assert need == [1, 2, 3, 4, 5]


def test_a_log_without_a_date_and_a_window_the_wrong_way_round() -> None:
    with pytest.raises(InputError) as e:
        f.parse_window("2021-01-02", "2021-01-01", ("--from", "--to"))
    assert e.value.message() == "--from: 2021-01-02 is after --to 2021-01-01"
    with pytest.raises(InputError) as e:
        f.parse_window(None, "2021-02-30", ("--from", "--to"))
    assert e.value.message() == "--to: '2021-02-30' is not a date (YYYY-MM-DD)"
    with pytest.raises(InputError, match="no DayClosed"):
        f.figures(f.History())


# --- the command line and the HTTP route ---------------------------------------------------------
def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "report", "fairness", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_table_json_and_files(store: str, tmp_path: Path) -> None:
    p = cli("--store", store)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "fairness of allocation, 2019-07-01 to 2021-06-01 (waits in days; groups as at each event)"
    assert "== 2019-07-01 to 2021-06-01 (the whole window)" in lines and "== 2021" in lines
    whole = lines.index("== 2019-07-01 to 2021-06-01 (the whole window)")
    assert lines[whole + 1].split()[:4] == ["group", "applied", "housed", "let"]
    assert lines[whole + 3].split() == ["all", "7", "6", "86%", "8", "1", "1", "6", "213", "425", "5", "1", "3", "1"]
    assert lines[whole + 5].split()[:8] == ["refugee", "1", "1", "100%", "1", "0", "0", "1"]
    assert "  singles: one adult without children (adults 1, children 0)" in lines

    out = tmp_path / "report"
    p = cli("--store", store, "--from", "2020-04-01", "--to", "2020-12-31", "--json", "--out", str(out))
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)  # stdout is one JSON document, even with --out
    assert (doc["from"], doc["to"], doc["years"]) == ("2020-04-01", "2020-12-31", [2020])
    assert [m["key"] for m in doc["measures"]][:3] == ["applications", "housed", "let_rate"]
    row = next(r for r in doc["rows"] if r["group"] == "all" and r["period"] == "all")
    assert row == {
        "group": "all", "period": "all", "applications": 1, "housed": 0, "let_rate": 0.0, "offers_made": 3,
        "offers_declined": 1, "offers_expired": 1, "lets": 2, "wait_median_days": 152.0, "wait_p90_days": 213,
        "waits": 2, "over_occupied": 0, "under_occupied": 1, "transfers": 0,
    }  # fmt: skip
    png = (out / "fairness.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    page = (out / "fairness.html").read_text("utf-8")
    assert f'src="data:image/png;base64,{base64.b64encode(png).decode()}"' in page  # the chart, embedded
    assert "<h2>2020-04-01 to 2020-12-31 (the whole window)</h2>" in page and "<dt>district_preference</dt>" in page
    assert "<tr><td>all</td><td>1</td><td>0</td><td>0%</td><td>3</td>" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2020-13-01"], "--from: '2020-13-01' is not a date (YYYY-MM-DD)"),
        (["--to", "June"], "--to: 'June' is not a date (YYYY-MM-DD)"),
        (["--from", "2021-01-01", "--to", "2020-12-31"], "--from: 2021-01-01 is after --to 2020-12-31"),
    ],
)
def test_cli_bad_dates(store: str, args: list[str], message: str) -> None:
    p = cli("--store", store, *args)
    assert (p.returncode, p.stdout) == (2, "")
    assert p.stderr == f"pyengine report: error: {message}\n"


def test_cli_bad_store_and_output(store: str, tmp_path: Path) -> None:
    p = cli("--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert p.returncode == 2 and p.stderr.startswith("pyengine report: error: --store: ")
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "file").write_text("")
    p = cli("--store", store, "--out", str(tmp_path / "file"))
    assert p.returncode == 2 and "--out: " in p.stderr and "is a file, not a folder" in p.stderr


def test_the_http_route_answers_as_the_cli_does(store: str) -> None:
    import jsonschema

    tokens = {"analyst": "a", "auditor": "b", "clerk": "c"}
    with TestClient(create_app(store, {hash_token(t): role for role, t in tokens.items()})) as cl:
        r = cl.get("/reports/fairness", params={"from": "2020-04-01", "to": "2020-12-31"}, headers=bearer("a"))
        assert r.status_code == 200, r.text
        assert r.json() == json.loads(f.as_json(f.report(store, D(2020, 4, 1), D(2020, 12, 31))))
        whole = cl.get("/reports/fairness", headers=bearer("b")).json()
        assert (whole["from"], whole["to"]) == ("2019-07-01", "2021-06-01")
        assert cl.get("/reports/fairness", headers=bearer("c")).status_code == 403
        bad = cl.get("/reports/fairness", params={"from": "2021-01-01", "to": "2020-01-01"}, headers=bearer("a"))
        assert bad.status_code == 400 and bad.json()["extra"] == {
            "field": "from", "reason": "2021-01-01 is after to 2020-01-01",
        }  # fmt: skip
        bad = cl.get("/reports/fairness", params={"to": "soon"}, headers=bearer("a"))
        assert bad.status_code == 400 and bad.json()["extra"]["field"] == "to"
        doc = cl.get("/schema/openapi.json").json()
        op = doc["paths"]["/reports/fairness"]["get"]
        assert {p["name"] for p in op["parameters"]} == {"from", "to"}
        schema = {**op["responses"]["200"]["content"]["application/json"]["schema"], "components": doc["components"]}
        jsonschema.validate(whole, schema)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**whole, "rows": [{"group": "all"}]}, schema)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
