"""Seeded synthetic portfolios shaped like Trondheim's (DESIGN §2), for measurements.

`city(n_units, n_households, seed)`: about 27 % care units, two-room flats dominant,
buildings of ~40 units in 2–4 stairwells, three quarters of households sitting tenants (10 %
of them asking for a transfer), the rest active applicants, up to 80 % of them single.
"""

from __future__ import annotations

import datetime as dt
import random
import sys
from pathlib import Path

import msgspec

from pyengine.schema import Cap, Household, Instance, Unit

AS_OF = dt.date(2021, 5, 1)
DISTRICTS = ["Saupstad", "Lademoen", "Heimdal", "Byåsen", "Strinda", "Midtbyen", "Lerkendal", "Rosenborg"]
SKILLS = ["gardening", "cleaning", "childcare", "carpentry", "cooking", "painting", "administration", "music"]


def city(n_units: int, n_households: int, seed: int = 1, sitting_share: float = 0.75) -> Instance:
    rng = random.Random(seed)
    units: list[Unit] = []
    b = 0
    while len(units) < n_units:
        b += 1
        district = rng.choices(DISTRICTS, weights=[10, 12, 6, 5, 5, 3, 3, 1])[0]
        care = rng.random() < 0.27
        stairs = rng.randint(2, 4)
        for k in range(min(rng.randint(20, 60), n_units - len(units))):
            units.append(
                Unit(
                    id=f"U{len(units):06d}",
                    building=f"B{b:05d}",
                    stairwell=f"B{b:05d}-{k % stairs}",
                    floor=1 + (k // stairs) % 5,
                    rooms=rng.choices([1, 2, 3, 4, 5], weights=[15, 45, 25, 12, 3])[0],
                    area_m2=float(rng.randint(30, 110)),
                    rent_nok_month=rng.randint(50, 120) * 100,
                    accessible=care or rng.random() < 0.25,
                    kind="care" if care else "ordinary",
                    district=district,
                    school_district=district,
                )
            )
    homes = rng.sample(range(n_units), min(n_units, int(n_households * sitting_share)))
    households: list[Household] = []
    for i in range(n_households):
        home = units[homes[i]] if i < len(homes) else None
        single = rng.random() < 0.8
        children = 0 if single and rng.random() < 0.7 else rng.choice([0, 1, 2, 3])
        households.append(
            Household(
                id=f"H{i:06d}",
                adults=1 if single else 2,
                children=children,
                needs_accessible=home.accessible if home else rng.random() < 0.1,
                care_need=home.kind == "care" if home else rng.random() < 0.2,
                disadvantaged=rng.random() < 0.35,
                refugee=rng.random() < 0.1,
                urgency=rng.choice([0, 0, 0, 1, 2, 3]),
                applied_on=AS_OF - dt.timedelta(days=rng.randint(0, 2000)),
                skills=sorted(rng.sample(SKILLS, rng.randint(0, 3))),
                preferred_districts=sorted(rng.sample(DISTRICTS, rng.randint(0, 2))),
                school_district=rng.choice(DISTRICTS) if children else None,
                current_unit=home.id if home else None,
                transfer_requested=bool(home) and rng.random() < 0.1,
            )
        )
    return Instance(
        as_of=AS_OF,
        units=units,
        households=households,
        caps=[Cap(flag="disadvantaged", scope="building", max_share=0.3)],
    )


if __name__ == "__main__":
    n_u, n_h, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    out.write_bytes(msgspec.json.encode(city(n_u, n_h, seed=int(sys.argv[4]) if len(sys.argv) > 4 else 1)))
    print(f"wrote {out}: {n_u} units, {n_h} households")
