"""Seeded synthetic portfolios shaped like Trondheim's (DESIGN §2), and operation streams.

City scale: 4,050 units (2,954 ordinary, 1,096 care) in buildings of 12–60 units with 2–4
stairwells; districts weighted by where municipal units are (Lademoen 11.7 % and Saupstad
9.9 % of their dwellings, Rosenborg 0.4 %; two districts with none); two-room flats dominant;
4,000 households: 3,000 sitting tenants (8 % asking for a transfer) and 1,000 active
applicants, 80 % of them single. National scale: 100,000 units and 100,000 households with
the same shape. `N`: N units and N households.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import msgspec

from .schema import (
    Cap,
    Household,
    Instance,
    Operation,
    RemoveHousehold,
    RemoveUnit,
    SetAsOf,
    Unit,
    UpsertHousehold,
)

AS_OF = dt.date(2021, 5, 1)
# district -> relative weight of municipal units (none in the last two)
DISTRICTS: dict[str, float] = {
    "Lademoen": 11.7, "Saupstad": 9.9, "Kolstad": 8.0, "Kattem": 6.5, "Heimdal": 6.0, "Tiller": 4.5,
    "Lerkendal": 4.0, "Strinda": 4.0, "Byåsen": 3.5, "Møllenberg": 3.0, "Midtbyen": 2.5, "Ranheim": 2.0,
    "Rosenborg": 0.4, "Sverresborg": 0.0, "Klæbu": 0.0,
}  # fmt: skip
HOUSING_DISTRICTS = [d for d, w in DISTRICTS.items() if w > 0]
SKILLS = (
    "cooking", "childcare", "pet_care", "art_courses", "music", "crafts", "cleaning",
    "painting", "carpentry", "gardening", "maintenance", "administration", "social_activities",
)  # fmt: skip
CARE_SHARE = 1096 / 4050
ROOMS = (1, 2, 3, 4, 5)
ROOM_WEIGHTS = (14, 46, 26, 11, 3)
SCALES = {"city": (4050, 4000), "national": (100_000, 100_000)}


def parse_scale(scale: str) -> tuple[int, int]:
    if scale in SCALES:
        return SCALES[scale]
    n = int(scale)
    if n < 1:
        raise ValueError("scale must be city, national or a positive number of units")
    return n, n


def portfolio(n_units: int, n_households: int, seed: int, sitting_share: float = 0.75) -> Instance:
    rng = random.Random(seed)
    weights = [DISTRICTS[d] for d in HOUSING_DISTRICTS]
    units: list[Unit] = []
    b = n_care = 0
    while len(units) < n_units:
        b += 1
        district = rng.choices(HOUSING_DISTRICTS, weights=weights)[0]
        size = min(rng.randint(12, 60), n_units - len(units))
        # whole buildings are care buildings; keep their share on the published 1,096 / 4,050
        care = n_care + size / 2 <= CARE_SHARE * (len(units) + size)
        n_care += size if care else 0
        stairs = rng.randint(2, 4)
        school = f"{district}-{rng.randint(1, 2)}"
        for k in range(size):
            rooms = 2 if care and rng.random() < 0.8 else rng.choices(ROOMS, weights=ROOM_WEIGHTS)[0]
            units.append(
                Unit(
                    id=f"U{len(units):06d}",
                    building=f"B{b:05d}",
                    stairwell=f"B{b:05d}-{k % stairs}",
                    floor=1 + (k // stairs) % 6,
                    rooms=rooms,
                    area_m2=float(18 + 17 * rooms + rng.randint(-6, 6)),
                    rent_nok_month=4000 + 1500 * rooms + 100 * rng.randint(0, 20),
                    accessible=care or rng.random() < 0.2,
                    kind="care" if care else "ordinary",
                    district=district,
                    school_district=school,
                )
            )
    n_sitting = min(n_units, round(n_households * sitting_share))
    homes = rng.sample(range(n_units), n_sitting)
    households = [_household(rng, i, units[homes[i]] if i < n_sitting else None) for i in range(n_households)]
    return Instance(
        as_of=AS_OF, units=units, households=households,
        caps=[Cap(flag="disadvantaged", scope="building", max_share=0.30)],
    )  # fmt: skip


def _household(rng: random.Random, i: int, home: Unit | None, prefix: str = "H", as_of: dt.date = AS_OF) -> Household:
    single = rng.random() < 0.8
    children = 0 if single and rng.random() < 0.75 else rng.choice((0, 1, 1, 2, 3))
    if home is not None:
        needs_accessible, care_need = home.accessible and rng.random() < 0.5, home.kind == "care"
    else:
        needs_accessible, care_need = rng.random() < 0.08, rng.random() < CARE_SHARE * 0.8
    return Household(
        id=f"{prefix}{i:06d}", adults=1 if single else 2, children=children,
        needs_accessible=needs_accessible, care_need=care_need, disadvantaged=rng.random() < 0.3,
        refugee=rng.random() < 0.08, urgency=rng.choice((0, 0, 0, 1, 1, 2, 3)),
        applied_on=None if home is not None and rng.random() < 0.3 else as_of - dt.timedelta(days=rng.randint(0, 2500)),
        skills=sorted(rng.sample(SKILLS, rng.randint(0, 3))),
        preferred_districts=sorted(rng.sample(HOUSING_DISTRICTS, rng.randint(0, 2))),
        school_district=(f"{rng.choice(HOUSING_DISTRICTS)}-{rng.randint(1, 2)}" if children else None),
        current_unit=home.id if home else None, transfer_requested=home is not None and rng.random() < 0.08,
    )  # fmt: skip


def operations(inst: Instance, count: int, seed: int) -> Iterator[Operation]:
    """A mixed stream of `count` valid operations against `inst` (DESIGN §6 forms).

    Mix: new application 30 %, withdrawal 15 %, unit vacated (a tenant moves out) 15 %, unit
    withdrawn for renovation 10 %, offer accepted (an applicant becomes the sitting tenant of
    a vacant unit) 20 %, a new date 10 %.
    """
    rng = random.Random(seed)
    units = {u.id: u for u in inst.units}
    households = {h.id: h for h in inst.households}
    # units let, or held for an applicant by an open offer (held_unit): neither is vacant
    occupied = {home: h.id for h in inst.households if (home := h.current_unit or _held(h))}
    as_of = inst.as_of
    n_new = 0
    for _ in range(count):
        applicants = sorted(h for h, x in households.items() if x.current_unit is None)
        tenants = sorted(h for h, x in households.items() if x.current_unit is not None)
        vacant = sorted(u for u in units if u not in occupied)
        r = rng.random()
        if r < 0.30 or (r < 0.45 and not applicants):
            n_new += 1
            h = _household(rng, n_new, None, prefix="N", as_of=as_of)
            households[h.id] = h
            yield UpsertHousehold(household=h)
        elif r < 0.45:
            hid = rng.choice(applicants)
            held = _held(households.pop(hid))
            if held:
                del occupied[held]
            yield RemoveHousehold(id=hid)
        elif r < 0.60 and tenants:
            hid = rng.choice(tenants)
            del occupied[households.pop(hid).current_unit]  # type: ignore[arg-type]
            yield RemoveHousehold(id=hid)
        elif r < 0.70 and vacant:
            uid = rng.choice(vacant)
            del units[uid]
            yield RemoveUnit(id=uid)
        elif r < 0.90 and vacant and applicants:
            hid, uid = rng.choice(applicants), rng.choice(vacant)
            held = _held(households[hid])
            if held:  # the offer it held lapses as it takes another unit
                del occupied[held]
            h = msgspec.structs.replace(
                households[hid], current_unit=uid, transfer_requested=False, held_unit=msgspec.UNSET
            )
            households[hid] = h
            occupied[uid] = hid
            yield UpsertHousehold(household=h)
        else:
            as_of = as_of + dt.timedelta(days=rng.randint(1, 14))
            yield SetAsOf(as_of=as_of)


def _held(h: Household) -> str | None:
    """The vacant unit an open offer holds for `h`, if any."""
    return h.held_unit if isinstance(h.held_unit, str) else None
