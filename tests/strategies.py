"""Random portfolio instances for property tests."""

from __future__ import annotations

import datetime as dt

import msgspec
from hypothesis import strategies as st

from pyengine.schema import Cap, Household, Instance, Unit

AS_OF = dt.date(2021, 5, 1)
DISTRICTS = ["Lademoen", "Saupstad", "Midtbyen"]
SKILLS = ["gardening", "cleaning", "childcare", "carpentry", "cooking"]


@st.composite
def units(draw: st.DrawFn, n: int) -> list[Unit]:
    out = []
    for i in range(n):
        b = draw(st.integers(0, 2))
        out.append(
            Unit(
                id=f"U{i:02d}",
                building=f"B{b}",
                stairwell=f"B{b}-{draw(st.integers(0, 1))}",
                floor=draw(st.integers(1, 4)),
                rooms=draw(st.integers(1, 5)),
                area_m2=50.0,
                rent_nok_month=6800,
                accessible=draw(st.booleans()),
                kind=draw(st.sampled_from(["ordinary", "ordinary", "ordinary", "care"])),
                district=draw(st.sampled_from(DISTRICTS)),
                school_district=draw(st.sampled_from([*DISTRICTS, None])),
            )
        )
    return out


@st.composite
def households(draw: st.DrawFn, n: int, unit_ids: list[str]) -> list[Household]:
    homes = draw(st.lists(st.sampled_from(unit_ids), unique=True, max_size=min(len(unit_ids), n // 2)))
    free = [u for u in unit_ids if u not in homes]  # vacant units an open offer may hold
    out = []
    for i in range(n):
        home = homes[i] if i < len(homes) else None
        held: str | msgspec.UnsetType = msgspec.UNSET
        if home is None and free and draw(st.sampled_from([False, False, False, True])):
            held = free.pop(draw(st.integers(0, len(free) - 1)))
        applied = None if home and draw(st.booleans()) else AS_OF - dt.timedelta(days=draw(st.integers(0, 2500)))
        out.append(
            Household(
                id=f"H{i:02d}",
                adults=draw(st.integers(1, 4)),
                children=draw(st.integers(0, 4)),
                needs_accessible=draw(st.booleans()),
                care_need=draw(st.sampled_from([False, False, True])),
                disadvantaged=draw(st.booleans()),
                refugee=draw(st.booleans()),
                urgency=draw(st.integers(0, 3)),
                applied_on=applied,
                skills=draw(st.lists(st.sampled_from(SKILLS), unique=True, max_size=4)),
                preferred_districts=draw(st.lists(st.sampled_from(DISTRICTS), unique=True, max_size=2)),
                school_district=draw(st.sampled_from([*DISTRICTS, None])),
                current_unit=home,
                transfer_requested=bool(home) and draw(st.booleans()),
                tags=draw(st.lists(st.sampled_from(TAGS), unique=True, max_size=2)),
                held_unit=held,
                # units it declined lately (rule 8); its own among them changes nothing (rule 6)
                declined_units=draw(st.lists(st.sampled_from(unit_ids), unique=True, max_size=2)) or msgspec.UNSET,
            )
        )
    return out


TAGS = ["young", "student"]
FLAGS = ["disadvantaged", "refugee", "care_need", *TAGS]  # what a cap may count

# where a cap (or another mix rule) applies: every building, or some (a building's own model)
BUILDINGS = st.sampled_from([msgspec.UNSET, msgspec.UNSET, ["B0"], ["B1", "B2"]])
cap_st = st.one_of(
    st.builds(
        Cap, flag=st.sampled_from(FLAGS), scope=st.sampled_from(["building", "stairwell"]),
        max_share=st.sampled_from([0.0, 0.2, 0.3, 0.5]), buildings=BUILDINGS,
    ),
    st.builds(
        Cap, flag=st.sampled_from(FLAGS), scope=st.sampled_from(["building", "stairwell"]),
        max_count=st.integers(0, 2), buildings=BUILDINGS,
    ),
)  # fmt: skip


@st.composite
def instances(draw: st.DrawFn, max_units: int = 10, max_households: int = 10, caps: bool = False) -> Instance:
    us = draw(units(draw(st.integers(1, max_units))))
    hs = draw(households(draw(st.integers(1, max_households)), [u.id for u in us]))
    cs = draw(st.lists(cap_st, min_size=1, max_size=3)) if caps else []
    return Instance(as_of=AS_OF, units=us, households=hs, caps=cs)
