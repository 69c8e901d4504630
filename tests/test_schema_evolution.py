"""A committed log written with OfferMade schema 1 is upcast on read, replays and verifies."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from adapters.records import export_records, import_records
from pyengine import commands as c
from pyengine.replay import replay
from pyengine.service import AllocationService

FIXTURE = Path(__file__).resolve().parents[1] / "replays" / "fixtures" / "schema-v1-offers.jsonl"


def test_fixture_holds_schema_1_offers() -> None:
    states = [
        json.loads(base64.b64decode(r["state"]))["payload"]["_data_"]
        for r in map(json.loads, FIXTURE.read_text().splitlines())
        if r["topic"] == "pyengine/OfferMade"
    ]
    assert states and all(s["schema"] == 1 and "expires_on" in s and "reply_by" not in s for s in states)


def test_v1_log_upcasts_replays_and_verifies(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'v1.db'}"
    assert import_records(FIXTURE, url) == len(FIXTURE.read_text().splitlines())
    report = replay(url)
    assert report.divergence is None and report.runs_verified > 70
    svc = AllocationService(url)
    offers = [e.payload for _, e in svc.stored_events() if isinstance(e.payload, c.OfferMade)]
    assert offers and all(o.schema == 2 and o.reply_by == dt.date(2021, 5, 15) and o.run is None for o in offers)
    # the log goes on under today's schema, and still verifies as a whole
    h = offers[0].household
    svc.submit(c.OfferDeclined(household=h, unit=offers[0].unit, reason="too far from school"))
    svc.close()
    assert replay(url).divergence is None
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "events", "--store", url, "--type", "OfferMade"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    first = json.loads(p.stdout.splitlines()[0])
    assert first["schema"] == 2 and first["reply_by"] == "2021-05-15" and "expires_on" not in first


def test_records_round_trip_byte_for_byte(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    import_records(FIXTURE, url)
    again = tmp_path / "again.jsonl"
    export_records(url, again)
    assert again.read_text() == FIXTURE.read_text()


def test_offer_naming_a_run_must_follow_its_proposal(tmp_path: Path) -> None:
    import pytest

    from pyengine.errors import InputError

    url = f"sqlite:///{tmp_path / 'v1.db'}"
    import_records(FIXTURE, url)
    svc = AllocationService(url)
    svc.submit(c.ApplicationSubmitted(id="S900", adults=2, applied_on=dt.date(2020, 1, 1), urgency=3))
    run = svc.portfolio.ledger.last_run  # type: ignore[union-attr]
    assert run is not None
    a = next(x for x in run.assignments if x.household == "S900")
    with pytest.raises(InputError, match="run: offers follow the latest run"):
        svc.submit(c.OfferMade(household=a.household, unit=a.unit, run=run.run - 1))
    other = next(x.unit for x in run.assignments if x.unit != a.unit)
    with pytest.raises(InputError, match="did not propose"):
        svc.submit(c.OfferMade(household=a.household, unit=other, run=run.run))
    out = svc.submit(c.OfferMade(household=a.household, unit=a.unit, run=run.run))
    assert out[0][1].payload.run == run.run
    svc.close()
