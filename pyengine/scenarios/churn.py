"""A long-running office as domain commands: a small portfolio living for years (benches, tests).

A seeded, open-ended stream of *valid* commands read against the live portfolio, so that every
command is accepted and every MatchRun in the log is the engine's own. Buildings of 20 units
(one of them cooperative and one condominium, so rent-to-own cases run); sitting tenants with
leases that come up for renewal; a queue of applicants kept near `applicants`; offers follow the
latest run's proposals and are accepted, declined or left to expire; days pass; rents change;
units are withdrawn for renovation and come back; sold units are replaced from the pot.

Mix per command (roughly): day closed 6 %, application 7 %, withdrawal 5 %, update 12 %,
offer 15 %, offer answered 13 %, renewal assessed (when due) 5 %, tenant moves out 4 %,
rent change 10 %, unit withdrawn/returned 5 %, rent-to-own step 14 %, unit acquired (pot) 4 %.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import msgspec

from .. import commands as c
from ..commands import Command
from ..handlers.sales import unsuitable
from ..portfolio import Portfolio

START = dt.date(2021, 5, 1)
DISTRICTS = ("Lademoen", "Saupstad", "Kolstad", "Heimdal")
SKILLS = ("cooking", "childcare", "cleaning", "gardening", "maintenance", "administration", "social_activities")
TENURES = ("wholly_owned", "wholly_owned", "cooperative", "condominium")


class Churn:
    def __init__(self, seed: int = 1, buildings: int = 4, per_building: int = 20, applicants: int = 30) -> None:
        self.rng = random.Random(seed)
        self.buildings = buildings
        self.per_building = per_building
        self.applicants_target = applicants
        self.n_households = 0
        self.n_units = 0
        self.live: set[str] = set()  # households believed not withdrawn (checked lazily)
        self.offers: set[tuple[str, str]] = set()  # (household, unit) offers believed open

    # --- the opening: units, tenants with leases, a queue ------------------------------
    def setup(self) -> list[Command]:
        rng = self.rng
        out: list[Command] = [c.DayClosed(date=START)]
        units: list[c.UnitRegistered] = []
        for b in range(self.buildings):
            for _ in range(self.per_building):
                units.append(self._unit(b, TENURES[b % len(TENURES)]))
        out += units
        for u in rng.sample(units, int(len(units) * 0.85)):
            h = self._household(current_unit=u.id)
            out.append(h)
            end = START + dt.timedelta(days=rng.randint(200, 3 * 365))
            out.append(c.LeaseSigned(household=h.id, unit=u.id, start=START, end=end, rent_nok_month=u.rent_nok_month))
        out += [self._household() for _ in range(self.applicants_target)]
        return out

    def _unit(self, b: int, tenure: str, stairwell: str | None = None) -> c.UnitRegistered:
        rng = self.rng
        self.n_units += 1
        k = self.n_units
        rooms = rng.choices((1, 2, 3, 4), weights=(15, 50, 25, 10))[0]
        care = b % len(TENURES) == 0 and rng.random() < 0.1
        grant = c.Grant(amount_nok=300_000, granted_on=dt.date(2010 + k % 10, 1, 1))
        return c.UnitRegistered(
            id=f"U{k:05d}", building=f"B{b}", stairwell=stairwell or f"B{b}-{k % 3}", floor=1 + k % 5, rooms=rooms,
            area_m2=float(18 + 17 * rooms + rng.randint(-5, 5)), rent_nok_month=4000 + 1500 * rooms,
            accessible=k % 5 == 1, kind="care" if care else "ordinary", tenure=tenure,  # type: ignore[arg-type]
            district=DISTRICTS[b % len(DISTRICTS)], school_district=DISTRICTS[b % len(DISTRICTS)],
            grant=grant if tenure != "wholly_owned" else None,
        )  # fmt: skip

    def _household(self, current_unit: str | None = None, on: dt.date = START) -> c.ApplicationSubmitted:
        rng = self.rng
        self.n_households += 1
        hid = f"H{self.n_households:07d}"
        self.live.add(hid)
        single = rng.random() < 0.75
        children = 0 if single and rng.random() < 0.8 else rng.choice((0, 1, 2, 3))
        return c.ApplicationSubmitted(
            id=hid, applied_on=None if current_unit else on - dt.timedelta(days=rng.randint(0, 900)),
            adults=1 if single else 2, children=children, needs_accessible=rng.random() < 0.05,
            care_need=False, monthly_income_nok=rng.randint(9, 50) * 1000, stable_income=rng.random() < 0.5,
            disadvantaged=rng.random() < 0.3,
            refugee_settled_on=on - dt.timedelta(days=rng.randint(100, 3000)) if rng.random() < 0.08 else None,
            skills=sorted(rng.sample(SKILLS, rng.randint(0, 3))),
            preferred_districts=sorted(rng.sample(DISTRICTS, rng.randint(0, 2))),
            school_district=rng.choice(DISTRICTS) if children else None, urgency=rng.choice((0, 0, 0, 1, 1, 2, 3)),
            current_unit=current_unit, transfer_requested=current_unit is not None and rng.random() < 0.05,
        )  # fmt: skip

    # --- the running office -------------------------------------------------------------
    def stream(self, pf: Portfolio, count: int) -> Iterator[Command]:
        """`count` commands, each chosen against `pf` as it is after the previous one was applied."""
        for _ in range(count):
            yield self.next(pf)

    def next(self, pf: Portfolio) -> Command:
        for _ in range(50):
            cmd = self._try(pf)
            if cmd is not None:
                return cmd
        return self._day(pf)  # always possible

    def _try(self, pf: Portfolio) -> Command | None:
        r = self.rng.random()
        table = (
            (0.06, self._day), (0.13, self._apply), (0.18, self._withdraw), (0.30, self._update),
            (0.45, self._offer), (0.58, self._answer), (0.63, self._renewal), (0.67, self._move_out),
            (0.77, self._rent), (0.82, self._renovation), (0.96, self._sale), (1.01, self._acquire),
        )  # fmt: skip
        for bound, make in table:
            if r < bound:
                return make(pf)
        return None

    def _today(self, pf: Portfolio) -> dt.date:
        assert pf.date is not None
        return pf.date

    def _day(self, pf: Portfolio) -> Command:
        return c.DayClosed(date=self._today(pf) + dt.timedelta(days=self.rng.randint(1, 3)))

    def _applicants(self, pf: Portfolio) -> list[str]:
        out = []
        for hid in sorted(self.live):
            h = pf.households.get(hid)
            if h is None or h.withdrawn:
                self.live.discard(hid)
            elif h.spec.current_unit is None:
                out.append(hid)
        return out

    def _apply(self, pf: Portfolio) -> Command | None:
        if len(self._applicants(pf)) > 1.3 * self.applicants_target:
            return None
        return self._household(on=self._today(pf))

    def _withdraw(self, pf: Portfolio) -> Command | None:
        apps = self._applicants(pf)
        if len(apps) < 0.7 * self.applicants_target:
            return None
        # an open offer is answered first: a withdrawn household's open offer would keep the unit
        apps = [h for h in apps if not pf.households[h].offers]
        if not apps:
            return None
        code = coded(pf, "ApplicationWithdrawn", "found_elsewhere")
        return c.ApplicationWithdrawn(id=self.rng.choice(apps), reason="housed elsewhere", code=code)

    def _update(self, pf: Portfolio) -> Command | None:
        rng = self.rng
        live = sorted(h for h in self.live if h in pf.households and not pf.households[h].withdrawn)
        if not live:
            return None
        hid = rng.choice(live)
        k = rng.randint(0, 3)
        if k == 0:
            return c.ApplicationUpdated(id=hid, urgency=rng.choice((0, 1, 2, 3)))
        if k == 1:
            return c.ApplicationUpdated(id=hid, skills=sorted(rng.sample(SKILLS, rng.randint(0, 3))))
        if k == 2:
            return c.ApplicationUpdated(id=hid, monthly_income_nok=rng.randint(9, 50) * 1000)
        return c.ApplicationUpdated(id=hid, preferred_districts=sorted(rng.sample(DISTRICTS, rng.randint(0, 2))))

    def _offer(self, pf: Portfolio) -> Command | None:
        ledger = pf.ledger
        if ledger is None or ledger.last_run is None:
            return None
        offered_units = {u for _, u in self.offers}
        choices = [
            a for hid, a in sorted(ledger.decision.items())
            if pf.households[hid].spec.current_unit is None and a.unit not in pf.occupant
            and a.unit not in offered_units and not pf.households[hid].offers
        ]  # fmt: skip
        if not choices:
            return None
        a = self.rng.choice(choices)
        self.offers.add((a.household, a.unit))
        reply_by = self._today(pf) + dt.timedelta(days=14)
        return c.OfferMade(household=a.household, unit=a.unit, reply_by=reply_by, run=ledger.last_run.run)

    def _answer(self, pf: Portfolio) -> Command | None:
        for hid, uid in sorted(self.offers):
            h = pf.households.get(hid)
            if h is None or h.withdrawn or uid not in h.offers:
                self.offers.discard((hid, uid))
        if not self.offers:
            return None
        hid, uid = self.rng.choice(sorted(self.offers))
        self.offers.discard((hid, uid))
        u = pf.units[uid]
        r = self.rng.random()
        if r < 0.6 and u.active and uid not in pf.occupant and pf.households[hid].spec.current_unit is None:
            return c.OfferAccepted(household=hid, unit=uid)
        if r < 0.85:
            code = coded(pf, "OfferDeclined", "wrong_district")
            return c.OfferDeclined(household=hid, unit=uid, reason="too far from work", code=code)
        return c.OfferExpired(household=hid, unit=uid)

    def _tenants(self, pf: Portfolio) -> list[str]:
        return sorted(pf.occupant.values())

    def _renewal(self, pf: Portfolio) -> Command | None:
        for hid in self._tenants(pf):
            lease = pf.households[hid].lease
            if lease is not None and lease.renewal_due and lease.decision is None:
                return c.AssessLeaseRenewal(
                    household=hid, on=self._today(pf), economic_assessment_positive=self.rng.random() < 0.3
                )
        return None

    def _move_out(self, pf: Portfolio) -> Command | None:
        tenants = [h for h in self._tenants(pf) if pf.households[h].spec.current_unit not in pf.open_case]
        if len(tenants) < 0.6 * len(pf.units):
            return None
        return c.TenantMovedOut(household=self.rng.choice(tenants), on=self._today(pf), reason="moved away")

    def _rent(self, pf: Portfolio) -> Command | None:
        active = sorted(uid for uid, u in pf.units.items() if u.active)
        uid = self.rng.choice(active)
        rent = pf.units[uid].spec.rent_nok_month + self.rng.randint(-2, 4) * 50
        return c.UnitRentChanged(id=uid, rent_nok_month=rent)

    def _renovation(self, pf: Portfolio) -> Command | None:
        withdrawn = sorted(uid for uid, u in pf.units.items() if u.withdrawn and u.merged_into is None and not u.sold)
        if withdrawn and self.rng.random() < 0.6:
            return c.UnitReturned(id=self.rng.choice(withdrawn))
        offered = {u for _, u in self.offers}
        vacant = sorted(
            uid for uid, u in pf.units.items() if u.active and uid not in pf.occupant and uid not in offered
        )  # fmt: skip
        if not vacant or len(withdrawn) > 3:
            return None
        return c.UnitWithdrawn(
            id=self.rng.choice(vacant), reason="renovation", code=coded(pf, "UnitWithdrawn", "renovation")
        )

    def _sale(self, pf: Portfolio) -> Command | None:
        rng = self.rng
        today = self._today(pf)
        if pf.open_case:
            uid, case = rng.choice(sorted(pf.open_case.items()))
            stage = case.stage
            if stage == "interest":
                return c.EconomicAssessmentRecorded(
                    unit=uid, on=today, approved=rng.random() < 0.8, max_price_nok=3_000_000
                )
            if stage == "assessed":
                if rng.random() < 0.75:
                    return c.UnitReleasedForSale(unit=uid, on=today)
                code = coded(pf, "UnitKeptForRent", "needed_for_rental")
                return c.UnitKeptForRent(unit=uid, on=today, reason="the municipality needs it", code=code)
            if stage == "released":
                return c.ValuationRecorded(unit=uid, value_nok=rng.randint(18, 30) * 100_000, valued_on=today)
            if stage == "valued":
                return c.StartLoanApplied(unit=uid, on=today, amount_nok=2_000_000)
            if stage == "loan_applied":
                granted = rng.random() < 0.85
                return c.StartLoanDecided(unit=uid, on=today, granted=granted, amount_nok=2_000_000 if granted else 0)
            if stage == "loan_granted":
                return c.PurchaseOffered(unit=uid, on=today)
            if stage == "offered":
                if rng.random() < 0.7:
                    return c.PurchaseAccepted(unit=uid, on=today)
                code = coded(pf, "PurchaseDeclined", "changed_plans")
                return c.PurchaseDeclined(unit=uid, on=today, reason="changed their mind", code=code)
            if stage == "accepted":
                return c.SaleCompleted(unit=uid, on=today)
            return None
        sellable = [
            (uid, hid) for uid, hid in sorted(pf.occupant.items())
            if pf.units[uid].spec.tenure != "wholly_owned" and pf.units[uid].active
        ]  # fmt: skip
        if not sellable:
            return None
        uid, hid = rng.choice(sellable)
        found = unsuitable(pf.policy, pf.households[hid].spec, pf.units[uid].spec.rooms)
        if found and pf.policy.suitability_check:  # the office has talked it over with the tenant
            return c.PurchaseInterestRegistered(household=hid, unit=uid, on=today, acknowledged=True)
        return c.PurchaseInterestRegistered(household=hid, unit=uid, on=today)

    def _acquire(self, pf: Portfolio) -> Command | None:
        active = sum(1 for u in pf.units.values() if u.active)
        price = 2_000_000
        if active >= self.buildings * self.per_building or pf.pot_nok < price:
            return None
        b = self.rng.randrange(self.buildings)
        unit = self._unit(b, "condominium", stairwell=f"B{b}-X")
        return c.UnitAcquired(unit=unit, price_nok=price, on=self._today(pf))


def coded(pf: Portfolio, kind: str, code: str) -> str | msgspec.UnsetType:
    """The reason code for a `kind` event under the policy in force: `code` where it is listed
    (else the list's last, "other" in v1); none where the policy lists no codes (free text only)."""
    listed = pf.policy.reason_codes(kind)
    if not listed:
        return msgspec.UNSET
    return code if code in listed else listed[-1]
