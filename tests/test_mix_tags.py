"""Mix caps beyond the two flags: on care need and on the office's own tags (issue 19)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from pyengine import commands as c
from pyengine.errors import InputError
from pyengine.policy import load_policy
from pyengine.schema import Cap
from pyengine.service import AllocationService

from .helpers import app_cmd, unit_cmd


def service(tmp_path: Path, *caps: Cap) -> AllocationService:
    policy = msgspec.structs.replace(load_policy(), version=7, caps=list(caps))
    svc = AllocationService(f"sqlite:///{tmp_path / 's.db'}", policy)
    svc.submit(c.DayClosed(date=dt.date(2021, 5, 1)))
    for i in range(4):  # one stairwell of four two-room flats
        svc.submit(unit_cmd(f"U{i}"))
    return svc


def housed(svc: AllocationService) -> set[str]:
    return {a.household for a in svc.portfolio.decision().assignments}


def test_a_cap_on_a_tag_counts_the_tagged_households(tmp_path: Path) -> None:
    svc = service(tmp_path, Cap(flag="student", scope="stairwell", max_count=1))
    # Students waited longest, so without the cap all three would be housed.
    for i in range(3):
        svc.submit(app_cmd(f"S{i}", tags=["student"], applied_on=dt.date(2018, 1, 1)))
    for i in range(3):
        svc.submit(app_cmd(f"N{i}", tags=["young"] if i == 0 else []))
    got = housed(svc)
    assert len(got) == 4 and len(got & {"S0", "S1", "S2"}) == 1, got
    (row,) = svc.portfolio.decision().caps
    assert (row.flag, row.scope, row.count, row.cap) == ("student", "B1-A", 1, 1)
    # The tag is lifted from one student: two may now be housed.
    svc.submit(c.ApplicationUpdated(id="S1", tags=[]))
    assert len(housed(svc) & {"S0", "S1", "S2"}) == 2
    svc.close()


def test_a_cap_on_care_need(tmp_path: Path) -> None:
    svc = service(tmp_path, Cap(flag="care_need", scope="building", max_share=0.25))
    for i in range(4):
        svc.submit(unit_cmd(f"K{i}", kind="care", stairwell="B1-B"))
    for i in range(4):
        svc.submit(app_cmd(f"C{i}", care_need=True, applied_on=dt.date(2018, 1, 1)))
    # 8 units in B1: at most 2 households with a care need.
    assert len(housed(svc) & {f"C{i}" for i in range(4)}) == 2
    assert [(r.flag, r.count, r.cap) for r in svc.portfolio.decision().caps] == [("care_need", 2, 2)]
    svc.close()


@pytest.mark.parametrize("tag", ["refugee", "care_need", "disadvantaged"])
def test_a_tag_may_not_take_an_attributes_name(tmp_path: Path, tag: str) -> None:
    svc = service(tmp_path)
    before = svc.portfolio.position
    with pytest.raises(InputError) as e:
        svc.submit(app_cmd("X", tags=["young", tag]))
    assert e.value.field == "tags[1]" and "household attribute" in e.value.reason
    assert svc.portfolio.position == before and "X" not in svc.portfolio.households  # nothing stored
    svc.submit(app_cmd("Y"))
    with pytest.raises(InputError) as e:
        svc.submit(c.ApplicationUpdated(id="Y", tags=[tag]))
    assert e.value.field == "tags[0]" and not svc.portfolio.households["Y"].spec.tags
    svc.close()


def test_a_malformed_tag_is_refused_at_the_boundary(tmp_path: Path) -> None:
    lines = tmp_path / "cmds.jsonl"
    lines.write_text(
        json.dumps({"type": "ApplicationSubmitted", "id": "H1", "adults": 1, "applied_on": "2021-01-01",
                    "tags": ["Young People"]}) + "\n"
    )  # fmt: skip
    p = subprocess.run(
        [sys.executable, "-m", "pyengine.cli", "submit", "--store", f"sqlite:///{tmp_path / 'x.db'}", str(lines)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.returncode == 2 and "tags[0]" in p.stderr, p.stderr
