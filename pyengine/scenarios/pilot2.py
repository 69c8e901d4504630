"""Pilot 2 (the Svartlamon model, Trondheim 2021) as domain commands.

Facts (DESIGN §2, seeds/000_…txt): two blocks of 24 two-room flats (40–55 m²) in stairwells
over four floors; some pairs merged into family flats before letting; rents NOK 6,800
(two-room) and NOK 9,700 (family flat); 100 applications for 27 flats; 77 % of applications
from single adults with or without children, 21 % from minority-language low-income
immigrants; disadvantaged residents capped at 30 %; shared tasks from the report.

Choices where the report is silent (stated so a reader can change them):
- each block has 3 stairwells × 4 floors × 2 flats; in each stairwell the two second-floor
  flats are merged into one four-room family flat → 21 units a block, 42 in all;
- the first recruitment phase picked residents already living at Svartlamon: they are the
  15 sitting tenants here, in two-room flats (2 of them disadvantaged, 2 asking for a
  transfer), so 27 flats are to let, as in the report;
- 40 % of applicants are flagged disadvantaged (low income plus other needs), enough that
  the 30 % cap (6 of 21 units a block) binds; ground-floor flats are step-free.
"""

from __future__ import annotations

import datetime as dt
import random

import msgspec

from ..commands import ApplicationSubmitted, Command, DayClosed, UnitRegistered, UnitsMerged
from ..policy import Coverage, Policy, load_policy

SEED = 2021
AS_OF = dt.date(2021, 5, 1)  # applications closed in April 2021
DISTRICT = "Lademoen"
SKILLS = (
    "cooking", "childcare", "pet_care", "art_courses", "music", "crafts", "cleaning",
    "painting", "carpentry", "gardening", "maintenance", "administration", "social_activities",
)  # fmt: skip
# The shared tasks pilot 2 wanted covered in every stairwell and on every floor (report 000,
# «Rekruttering»): residents were placed to mix resources vertically and horizontally.
TASKS = ("maintenance", "gardening", "cleaning", "administration", "social_activities", "childcare")
# Points per shared task a household brings to a stairwell / a floor whose residents lack it:
# enough to outweigh a year and more of waiting (2 points a month) or a size-fit step (40),
# less than one urgency level (150) for the floor alone.
STAIRWELL_TASK_POINTS = 100
FLOOR_TASK_POINTS = 50
OTHER_DISTRICTS = ("Midtbyen", "Møllenberg", "Rosenborg", "Saupstad", "Lerkendal")
TWO_ROOM_RENT = 6800
FAMILY_RENT = 9700


def _unit(uid: str, block: str, stair: str, floor: int, rooms: int, area: float, rent: int) -> UnitRegistered:
    return UnitRegistered(
        id=uid,
        building=f"Blokk-{block}",
        stairwell=f"{block}{stair}",
        floor=floor,
        rooms=rooms,
        area_m2=area,
        rent_nok_month=rent,
        accessible=floor == 1,
        kind="ordinary",
        owner="foundation",
        tenure="wholly_owned",
        district=DISTRICT,
        school_district=DISTRICT,
    )


def units(rng: random.Random) -> tuple[list[UnitRegistered], list[UnitsMerged]]:
    flats: list[UnitRegistered] = []
    merges: list[UnitsMerged] = []
    for block in ("A", "B"):
        for stair in ("1", "2", "3"):
            pair: list[UnitRegistered] = []
            for floor in (1, 2, 3, 4):
                for side in ("a", "b"):
                    area = float(rng.randint(40, 55))
                    u = _unit(f"{block}{stair}-{floor}{side}", block, stair, floor, 2, area, TWO_ROOM_RENT)
                    flats.append(u)
                    if floor == 2:
                        pair.append(u)
            family = _unit(f"{block}{stair}-2F", block, stair, 2, 4, pair[0].area_m2 + pair[1].area_m2, FAMILY_RENT)
            merges.append(UnitsMerged(units=[p.id for p in pair], into=family))
    return flats, merges


def _skills(rng: random.Random, k: int) -> list[str]:
    return sorted(rng.sample(SKILLS, k))


def households(
    rng: random.Random, unit_ids: list[str]
) -> tuple[list[ApplicationSubmitted], list[ApplicationSubmitted]]:
    """15 sitting tenants (phase 1) and 100 applications (phase 2)."""
    tenants: list[ApplicationSubmitted] = []
    homes = sorted(rng.sample(unit_ids, 15))
    for i, home in enumerate(homes):
        tenants.append(
            ApplicationSubmitted(
                id=f"T{i + 1:02d}",
                applied_on=None,
                adults=1 if i % 3 else 2,
                children=0,
                monthly_income_nok=rng.randint(18, 45) * 1000,
                stable_income=rng.random() < 0.6,
                disadvantaged=i in (3, 9),
                skills=_skills(rng, rng.randint(1, 3)),
                preferred_districts=[DISTRICT],
                school_district=DISTRICT,
                urgency=0,
                current_unit=home,
                transfer_requested=i in (5, 11),
            )
        )
    apps: list[ApplicationSubmitted] = []
    n = 100
    minority = set(rng.sample(range(n), 21))  # 21 % minority-language, low income
    single = set(rng.sample(range(n), 77))  # 77 % single adults, with or without children
    for i in range(n):
        is_minority = i in minority
        adults = 1 if i in single else 2
        children = rng.choice((0, 0, 0, 1, 2, 3)) if (adults == 2 or rng.random() < 0.3) else 0
        low_income = is_minority or rng.random() < 0.35
        disadvantaged = low_income and rng.random() < (0.8 if is_minority else 0.75)
        settled = None
        if is_minority and rng.random() < 0.5:
            settled = AS_OF - dt.timedelta(days=rng.randint(200, 2400))
        applied = AS_OF - dt.timedelta(days=rng.randint(1, 900))
        prefs = [DISTRICT] if rng.random() < 0.85 else sorted(rng.sample(OTHER_DISTRICTS, 2))
        apps.append(
            ApplicationSubmitted(
                id=f"S{i + 1:03d}",
                applied_on=applied,
                adults=adults,
                children=children,
                needs_accessible=rng.random() < 0.06,
                care_need=rng.random() < 0.02,
                monthly_income_nok=rng.randint(9, 20) * 1000 if low_income else rng.randint(22, 55) * 1000,
                stable_income=not low_income and rng.random() < 0.7,
                disadvantaged=disadvantaged,
                refugee_settled_on=settled,
                skills=_skills(rng, rng.randint(0 if disadvantaged else 1, 3)),
                preferred_districts=prefs,
                school_district=DISTRICT if children else None,
                urgency=rng.choice((1, 2, 2, 3)) if disadvantaged else rng.choice((0, 0, 0, 1)),
            )
        )
    return tenants, apps


def policy() -> Policy:
    """The foundation's policy for the pilot: the default v1 with its task-coverage rules, one
    per stairwell (vertically) and one per floor (horizontally)."""
    return msgspec.structs.replace(
        load_policy(),
        name="pilot2",
        coverage=[
            Coverage(tasks=list(TASKS), scope="stairwell", points=STAIRWELL_TASK_POINTS),
            Coverage(tasks=list(TASKS), scope="floor", points=FLOOR_TASK_POINTS),
        ],
    )


def commands(seed: int = SEED) -> list[Command]:
    """The whole scenario, in the order an office would record it."""
    rng = random.Random(seed)
    flats, merges = units(rng)
    merged_away = {uid for m in merges for uid in m.units}
    # phase-1 residents (mostly single) live in two-room flats; family flats are all to let
    two_room = [u.id for u in flats if u.id not in merged_away]
    tenants, apps = households(rng, sorted(two_room))
    out: list[Command] = [DayClosed(date=AS_OF)]
    out += flats
    out += merges
    out += tenants
    out += apps
    return out


def write_files(out_dir: str) -> None:
    """Write the scenario as commands (JSON lines) and its portfolio as an instance file."""
    from pathlib import Path

    from ..service import AllocationService

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cmds = commands()
    enc = msgspec.json.Encoder()
    (out / "commands.jsonl").write_bytes(b"".join(enc.encode(x) + b"\n" for x in cmds))
    svc = AllocationService("memory:")
    for cmd in cmds:
        svc.submit(cmd)
    inst = svc.portfolio.instance()
    (out / "instance.json").write_bytes(msgspec.json.format(enc.encode(inst), indent=1) + b"\n")
    svc.close()


if __name__ == "__main__":
    import sys

    write_files(sys.argv[1] if len(sys.argv) > 1 else "replays/pilot2")
