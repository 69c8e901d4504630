"""Rent-to-own in Trondheim 2009–2018 ("fra leie til eie", DESIGN §2, seeds/003_…txt) as a
recorded scenario: a city-scale portfolio imported on 2009-01-01, then ten years of an
allocation office's commands, each re-matched by the engine.

    python -m pyengine.scenarios.rent_to_own replays/rent_to_own_2009_2018 [--store URL]

writes `portfolio.json.gz` (the import file), `policy.toml` and `commands.jsonl.gz` (every
command after the import, one JSON object a line) and leaves the store it ran on
(default `sqlite:///rent_to_own.db`). The same store is rebuilt from the files with

    pyengine import --store URL --policy DIR/policy.toml DIR/portfolio.json.gz
    pyengine submit --store URL DIR/commands.jsonl.gz > /dev/null

Facts used (seeds/003, tables 2.1 and 2.2): sales per year 9, 21, 29, 27, 24, 24, 13, 33, 23,
26; about half of the valuations lead to a sale; average purchase price NOK 1.32 million in
2010 rising to 2.0 million in 2018; the start loan's share of the price from about 53 % to
70 %; offer at valuation − NOK 50,000; valuation valid 6 months; many declined in the first
years (valuation thought too high); start-loan rules tightened in 2015; the 2011 renewal rule.

Choices where the sources are silent (stated so a reader can change them):
- the portfolio is `pyengine.generate.portfolio` city shape (4,050 units, 4,000 households,
  seed 1) dated back to 2009; whole ordinary buildings are cooperative (1,000 units'
  weight), condominium (222), foundation (909), private foundation (106) or municipal wholly
  owned (717), care buildings municipal wholly owned; 40 % of cooperative and condominium
  units were bought with a Husbanken grant (1995–2008, 20-year depreciation);
- policy: v1 without the 30 % mix cap (`policy.toml`, version 2). The cap is the pilot-2 rule
  of 2021, not the municipal rule of 2009–2018, and a capped city-scale solve does not yet
  finish in useful time (issue 2's table);
- 10 % of the sitting tenants hold a 3-year lease signed 2006-08..2008-12; the others hold
  leases without end (recorded without LeaseSigned). Every new let signs a 3-year lease
  (5 for recently settled refugees), so renewals grow with turnover;
- each month: DayClosed on the 1st; a few new applications, withdrawals, move-outs and
  changed circumstances; the office offers up to 3–7 of the engine's proposals of vacant
  units to applicants (80 % accept, 15 % decline, 5 % let the offer expire); due renewals
  are assessed (2011 rule: stable income and a positive assessment → purchase recommended;
  those tenants leave at the lease's end); the pot buys a cooperative unit when it can;
- rent-to-own cases: the course of each case (approval, release or keep, valuation, start
  loan, offer, reply, completion, with realistic gaps) is drawn from the seeded generator;
  each year's programme opens as many cases as complete the report's number of sales that
  year, plus about as many valuations that do not (loan refused, declined, offer expired)
  and some cases closed before a valuation (not approved, unit kept for rent). A case goes
  to a sitting tenant with stable income in a cooperative or condominium unit (a kept case
  may be in any unit) whose lease, if it has an end, runs at least 7 months past the case.
"""

from __future__ import annotations

import datetime as dt
import gzip
import heapq
import random
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import msgspec

from .. import bulk_import
from .. import commands as c
from ..calendar import add_months
from ..generate import CARE_SHARE, HOUSING_DISTRICTS, SKILLS, portfolio
from ..policy import parse_policy
from ..service import AllocationService
from .rent_to_own_cases import LAST_DAY_CLOSED, START, STEPS, CasePlan, plan_cases

SEED = 2009
# average purchase price (table 2.2; 2009 by the 2010 trend) and the start loan's share of it
PRICE = {
    2009: 1_250_000, 2010: 1_322_200, 2011: 1_489_739, 2012: 1_579_245, 2013: 1_773_690,
    2014: 1_807_258, 2015: 1_663_077, 2016: 1_697_766, 2017: 1_790_007, 2018: 2_000_000,
}  # fmt: skip
LOAN_SHARE = {2009: 0.53, 2010: 0.532, 2011: 0.438, 2012: 0.55, 2013: 0.511, 2014: 0.538, 2015: 0.537,
              2016: 0.672, 2017: 0.695, 2018: 0.702}  # fmt: skip
ROOM_PRICE = {1: 0.75, 2: 1.0, 3: 1.2, 4: 1.4, 5: 1.55}
GENERATED_AS_OF = dt.date(2021, 5, 1)  # generate.portfolio's date; its application dates move back with it
POLICY_TOML = """\
# The scenario's policy: default v1 without the 30 % mix cap (pyengine/scenarios/rent_to_own.py).
version = 2
name = "municipal-2009-no-mix-cap"
caps = []
"""
OWNERSHIP = (  # (owner, tenure, weight) for whole ordinary buildings (DESIGN §2: 2017 numbers)
    ("municipality", "cooperative", 1400), ("municipality", "condominium", 300), ("foundation", "wholly_owned", 909),
    ("private_foundation", "wholly_owned", 106), ("municipality", "wholly_owned", 717),
)  # fmt: skip
SELLABLE = ("cooperative", "condominium")


# --- the portfolio file ------------------------------------------------------------------
def portfolio_file(seed: int = SEED) -> bulk_import.ImportFile:
    """The city portfolio of `generate.portfolio`, dated 2009-01-01, with the domain fields."""
    inst = portfolio(4050, 4000, seed=1)
    rng = random.Random(seed)
    shift = GENERATED_AS_OF - START
    owner_of: dict[str, tuple[str, str]] = {}
    units: list[bulk_import.ImportUnit] = []
    for u in inst.units:
        if u.building not in owner_of:
            if u.kind == "care":
                owner_of[u.building] = ("municipality", "wholly_owned")
            else:
                o, t, _ = rng.choices(OWNERSHIP, weights=[w for *_, w in OWNERSHIP])[0]
                owner_of[u.building] = (o, t)
        owner, tenure = owner_of[u.building]
        grant = None
        if tenure in SELLABLE and rng.random() < 0.4:
            granted = dt.date(1995, 1, 1) + dt.timedelta(days=rng.randint(0, 14 * 365))
            grant = c.Grant(amount_nok=rng.randint(15, 45) * 10_000, granted_on=granted)
        units.append(
            bulk_import.ImportUnit(**msgspec.structs.asdict(u), owner=owner, tenure=tenure, grant=grant)  # type: ignore[arg-type]
        )
    households: list[bulk_import.ImportHousehold] = []
    for h in inst.households:
        applied = h.applied_on - shift if h.applied_on is not None else None
        stable = rng.random() < 0.4
        income = rng.randint(22, 48) * 1000 if stable else rng.randint(9, 24) * 1000
        settled = None
        if h.refugee:
            settled = applied if applied is not None else START - dt.timedelta(days=rng.randint(200, 4000))
        lease = None
        if h.current_unit is not None and rng.random() < 0.1:
            start = add_months(dt.date(2006, 8, 1), rng.randint(0, 28))
            lease = bulk_import.ImportLease(start=start, end=add_months(start, 36) - dt.timedelta(days=1))
        fields = msgspec.structs.asdict(h)
        fields["applied_on"] = applied
        households.append(
            bulk_import.ImportHousehold(
                **fields, monthly_income_nok=income, stable_income=stable, refugee_settled_on=settled, lease=lease
            )
        )
    return bulk_import.ImportFile(as_of=START, units=units, households=households, caps=[])


# --- the run ----------------------------------------------------------------------------------
@dataclass(order=True)
class Action:
    date: dt.date
    seq: int
    do: Callable[[dt.date], None] = field(compare=False)


class Office:
    """Submits the month's commands in date order and keeps the command list."""

    def __init__(self, svc: AllocationService, seed: int, progress: bool) -> None:
        self.svc = svc
        self.pf = svc.portfolio
        self.rng = random.Random(seed)
        self.out: list[c.Command] = []
        self.queue: list[Action] = []
        self.seq = 0
        self.progress = progress
        self.t0 = time.perf_counter()
        self.n_new = 0
        self.n_bought = 0
        self.in_case: dict[str, str] = {}  # household -> unit of its open rent-to-own case
        self.leaving: set[str] = set()  # purchase recommended: moves out at the lease's end
        self.assessing: set[str] = set()  # renewal due, assessment planned

    # plumbing
    def busy(self, hid: str) -> bool:
        return hid in self.in_case or hid in self.leaving

    def do(self, cmd: c.Command) -> list[Any]:
        stored = self.svc.submit(cmd)
        self.pf = self.svc.portfolio  # the service may rebuild its projection
        self.out.append(cmd)
        return [e.payload for _, e in stored]

    def at(self, date: dt.date, do: Callable[[dt.date], None]) -> None:
        self.seq += 1
        heapq.heappush(self.queue, Action(date, self.seq, do))

    def day(self, month: dt.date, lo: int = 0, hi: int = 27) -> dt.date:
        return month + dt.timedelta(days=self.rng.randint(lo, hi))

    # the ten years
    def run(self, cases: list[CasePlan]) -> None:
        month = START
        pending = list(reversed(cases))
        while month <= LAST_DAY_CLOSED:
            nxt = add_months(month, 1)
            if month > START:
                self.do(c.DayClosed(date=month))
                self.closed_cases()  # offers lapse on a DayClosed
            self.renewals(month)
            while pending and pending[-1].start < nxt:
                plan = pending.pop()
                self.at(plan.start, partial(self.open_case, plan))
            self.month(month)
            while self.queue and self.queue[0].date < nxt:
                a = heapq.heappop(self.queue)
                a.do(a.date)
            if self.progress:
                print(
                    f"  {month:%Y-%m}: {len(self.out):,} commands, {self.pf.position:,} events, "
                    f"{time.perf_counter() - self.t0:.0f} s",
                    file=sys.stderr,
                )
            month = nxt
        assert not pending and all(getattr(a.do, "func", None) == self.leave for a in self.queue), "actions left"
        # what is left are moves at leases' ends in 2019: outside the scenario's ten years

    def month(self, month: dt.date) -> None:
        rng = self.rng
        for _ in range(rng.randint(3, 7)):
            self.at(month, self.apply)
        for _ in range(rng.randint(0, 2)):
            self.at(self.day(month), self.withdraw)
        for _ in range(rng.randint(1, 5)):
            self.at(self.day(month), self.move_out)
        for _ in range(rng.randint(1, 3)):
            self.at(self.day(month), self.update)
        self.at(self.day(month, 5, 12), self.offer_round)
        self.at(self.day(month, 20, 27), self.buy_unit)

    # households and lets
    def apply(self, d: dt.date) -> None:
        rng = self.rng
        self.n_new += 1
        single = rng.random() < 0.8
        children = 0 if single and rng.random() < 0.75 else rng.choice((0, 1, 1, 2, 3))
        refugee = rng.random() < 0.08
        stable = rng.random() < 0.25
        today = self.pf.date
        assert today is not None
        self.do(
            c.ApplicationSubmitted(
                id=f"N{self.n_new:05d}", applied_on=today, adults=1 if single else 2, children=children,
                needs_accessible=rng.random() < 0.08, care_need=rng.random() < CARE_SHARE * 0.8,
                monthly_income_nok=(rng.randint(20, 40) if stable else rng.randint(8, 22)) * 1000,
                stable_income=stable, disadvantaged=rng.random() < 0.3,
                refugee_settled_on=today - dt.timedelta(days=rng.randint(0, 700)) if refugee else None,
                skills=sorted(rng.sample(SKILLS, rng.randint(0, 3))),
                preferred_districts=sorted(rng.sample(HOUSING_DISTRICTS, rng.randint(0, 2))),
                school_district=f"{rng.choice(HOUSING_DISTRICTS)}-{rng.randint(1, 2)}" if children else None,
                urgency=rng.choice((0, 0, 0, 1, 1, 2, 3)),
            )
        )  # fmt: skip

    def applicants(self) -> list[str]:
        return sorted(
            hid
            for hid, h in self.pf.households.items()
            if not h.withdrawn and h.spec.current_unit is None and not h.offers
        )

    def tenants(self) -> list[str]:
        """Sitting tenants free to move: no open case or planned move, no renewal in hand."""
        return sorted(
            hid
            for hid, h in self.pf.households.items()
            if not h.withdrawn and h.spec.current_unit is not None and not self.busy(hid)
            and hid not in self.assessing and not h.offers and (h.lease is None or h.lease.decision is None)
        )  # fmt: skip

    def withdraw(self, d: dt.date) -> None:
        pool = self.applicants()
        if pool:
            self.do(c.ApplicationWithdrawn(id=self.rng.choice(pool), reason="no longer needs a municipal unit"))

    def move_out(self, d: dt.date) -> None:
        pool = self.tenants()
        if pool:
            why = self.rng.choice(("moved away", "moved to a nursing home", "died", "moved in with family"))
            self.do(c.TenantMovedOut(household=self.rng.choice(pool), on=d, reason=why))

    def update(self, d: dt.date) -> None:
        rng = self.rng
        pool = sorted(h for h, x in self.pf.households.items() if not x.withdrawn and not self.busy(h))
        hid = rng.choice(pool)
        h = self.pf.households[hid].spec
        r = rng.random()
        if r < 0.4:  # a job, or losing one
            stable = not h.stable_income if rng.random() < 0.5 else True
            income = (rng.randint(22, 48) if stable else rng.randint(9, 24)) * 1000
            self.do(c.ApplicationUpdated(id=hid, stable_income=stable, monthly_income_nok=income))
        elif r < 0.7:
            self.do(c.ApplicationUpdated(id=hid, children=h.children + 1))
        elif h.current_unit is None:
            self.do(c.ApplicationUpdated(id=hid, urgency=rng.randint(0, 3)))
        else:
            self.do(c.ApplicationUpdated(id=hid, transfer_requested=not h.transfer_requested))

    def offer_round(self, d: dt.date) -> None:
        """Offer the engine's proposals of vacant units to applicants, as the latest run has them."""
        ledger = self.pf.ledger
        assert ledger is not None
        offered = {u for h in self.pf.households.values() for u in h.offers}
        for _ in range(self.rng.randint(3, 7)):
            candidates = [
                a for hid, a in sorted(ledger.decision.items())
                if self.pf.households[hid].spec.current_unit is None and not self.pf.households[hid].offers
                and a.unit not in self.pf.occupant and a.unit not in offered
            ]  # fmt: skip
            if not candidates:
                return
            a = self.rng.choice(candidates)
            assert ledger.last_run is not None
            self.do(c.OfferMade(household=a.household, unit=a.unit, reply_by=d + dt.timedelta(days=14),
                                run=ledger.last_run.run))  # fmt: skip
            offered.add(a.unit)
            r = self.rng.random()
            reply: c.Command
            if r < 0.8:
                reply = c.OfferAccepted(household=a.household, unit=a.unit)
            elif r < 0.95:
                reply = c.OfferDeclined(household=a.household, unit=a.unit, reason="declined")
            else:
                reply = c.OfferExpired(household=a.household, unit=a.unit)
            self.at(d + dt.timedelta(days=self.rng.randint(3, 14)), partial(self.command, reply))

    def command(self, cmd: c.Command, d: dt.date) -> None:
        self.do(cmd)

    def renewals(self, month: dt.date) -> None:
        """Assess the renewals that fell due (2011 rule); recommended buyers leave at the lease's end."""
        for hid, h in sorted(self.pf.households.items()):
            lease = h.lease
            if h.withdrawn or lease is None or not lease.renewal_due or lease.decision is not None:
                continue
            if hid in self.assessing:
                continue
            self.assessing.add(hid)
            self.at(self.day(month), partial(self.assess, hid))

    def assess(self, hid: str, d: dt.date) -> None:
        self.assessing.discard(hid)
        h = self.pf.households[hid]
        if h.withdrawn or h.lease is None:
            return
        positive = h.spec.stable_income and hid not in self.in_case and self.rng.random() < 0.3
        out = self.do(c.AssessLeaseRenewal(household=hid, on=d, economic_assessment_positive=positive))
        if isinstance(out[0], c.PurchaseRecommended):
            self.leaving.add(hid)
            end = h.lease.end
            self.at(end, partial(self.leave, hid))

    def leave(self, hid: str, d: dt.date) -> None:
        self.leaving.discard(hid)
        self.do(c.TenantMovedOut(household=hid, on=d, reason="bought or rents privately (2011 rule)"))

    def buy_unit(self, d: dt.date) -> None:
        """The pot buys a cooperative unit, two to a stairwell at most."""
        price = round(PRICE[d.year] * self.rng.uniform(0.9, 1.1), -4)
        if self.pf.pot_nok < price:
            return
        self.n_bought += 1
        n = self.n_bought
        district = self.rng.choice(HOUSING_DISTRICTS)
        rooms = self.rng.choice((1, 2, 2, 3))
        stair = f"K{(n + 1) // 2:04d}"
        unit = c.UnitRegistered(
            id=f"K{n:04d}", building=f"BRL-{stair}", stairwell=f"BRL-{stair}-A", floor=1 + n % 4, rooms=rooms,
            area_m2=float(18 + 17 * rooms), rent_nok_month=4500 + 1500 * rooms, accessible=n % 4 == 1,
            kind="ordinary", owner="municipality", tenure="cooperative", district=district,
            school_district=f"{district}-1",
        )  # fmt: skip
        self.do(c.UnitAcquired(unit=unit, price_nok=int(price), on=d))

    # rent-to-own
    def candidates(self, plan: CasePlan) -> list[str]:
        last = plan.dates()[-1]
        out = []
        for hid in self.tenants():
            h = self.pf.households[hid]
            uid = h.spec.current_unit
            assert uid is not None
            if not h.spec.stable_income or uid in self.pf.open_case or not self.pf.units[uid].active:
                continue
            if plan.fate != "kept" and self.pf.units[uid].spec.tenure not in SELLABLE:
                continue
            if h.lease is not None and h.lease.end < add_months(last, 7):
                continue  # a renewal must not fall inside the case
            out.append(hid)
        return out

    def open_case(self, plan: CasePlan, d: dt.date) -> None:
        pool = self.candidates(plan)
        assert pool, f"no tenant for a {plan.fate} case on {plan.start}"
        hid = self.rng.choice(pool)
        uid = self.pf.households[hid].spec.current_unit
        assert uid is not None
        self.do(c.PurchaseInterestRegistered(household=hid, unit=uid, on=plan.start))
        self.in_case[hid] = uid
        rooms = self.pf.units[uid].spec.rooms
        value = int(round(PRICE[plan.start.year] * ROOM_PRICE[rooms] * self.rng.uniform(0.85, 1.15), -4))
        case = {"hid": hid, "uid": uid, "value": value, "plan": plan}
        for step, date in zip(STEPS[plan.fate], plan.dates()[1:], strict=True):
            self.at(date, partial(self.step, case, step))

    def step(self, case: dict[str, Any], step: str, d: dt.date) -> None:
        uid, value, plan = case["uid"], case["value"], case["plan"]
        price = value - 50_000
        if step == "assess":
            approved = plan.fate != "not_approved"
            cap = price + self.rng.randint(0, 30) * 10_000 if approved else 0
            self.do(c.EconomicAssessmentRecorded(unit=uid, on=d, approved=approved, max_price_nok=cap))
        elif step == "keep":
            tenure = self.pf.units[uid].spec.tenure
            why = "wholly-owned building: not for sale" if tenure not in SELLABLE else "the municipality needs the unit"
            self.do(c.UnitKeptForRent(unit=uid, on=d, reason=why))
        elif step == "release":
            self.do(c.UnitReleasedForSale(unit=uid, on=d))
        elif step == "value":
            self.do(c.ValuationRecorded(unit=uid, value_nok=value, valued_on=d))
        elif step == "loan":
            loan = int(round(price * LOAN_SHARE[d.year], -4))
            case["loan"] = loan
            self.do(c.StartLoanApplied(unit=uid, on=d, amount_nok=loan))
        elif step == "refuse":
            self.do(c.StartLoanDecided(unit=uid, on=d, granted=False))
        elif step == "grant":
            self.do(c.StartLoanDecided(unit=uid, on=d, granted=True, amount_nok=case["loan"]))
        elif step == "offer":
            self.do(c.PurchaseOffered(unit=uid, on=d))
        elif step == "decline":
            why = "the valuation was too high" if d.year <= 2011 else "changed plans"
            self.do(c.PurchaseDeclined(unit=uid, on=d, reason=why))
        elif step == "accept":
            self.do(c.PurchaseAccepted(unit=uid, on=d))
        else:
            self.do(c.SaleCompleted(unit=uid, on=d))
        self.closed_cases()

    def closed_cases(self) -> None:
        for hid, uid in sorted(self.in_case.items()):
            if uid not in self.pf.open_case:
                del self.in_case[hid]


# --- files ----------------------------------------------------------------------------------
def simulate(store_url: str, progress: bool = True, seed: int = SEED) -> tuple[bulk_import.ImportFile, list[c.Command]]:
    """Import the portfolio into `store_url` (which must be empty) and run the ten years."""
    pfile = portfolio_file(seed)
    policy = parse_policy(tomllib.loads(POLICY_TOML), "policy.toml")
    svc = AllocationService(store_url, policy)
    try:
        if svc.portfolio.position:
            raise ValueError(f"{store_url} is not empty")
        bulk_import.import_portfolio(svc, pfile)
        office = Office(svc, seed + 1, progress)
        office.run(plan_cases(random.Random(seed + 2)))
        return pfile, office.out
    finally:
        svc.close()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, compresslevel=9, mtime=0)  # mtime 0: the same bytes on every run


def portfolio_bytes(pfile: bulk_import.ImportFile) -> bytes:
    return msgspec.json.encode(pfile) + b"\n"


def commands_bytes(cmds: list[c.Command]) -> bytes:
    enc = msgspec.json.Encoder()
    return b"".join(enc.encode(x) + b"\n" for x in cmds)


def write_files(out_dir: str, store_url: str, progress: bool = True) -> list[c.Command]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    pfile, cmds = simulate(store_url, progress)
    (out / "policy.toml").write_text(POLICY_TOML)
    (out / "portfolio.json.gz").write_bytes(gz(portfolio_bytes(pfile)))
    (out / "commands.jsonl.gz").write_bytes(gz(commands_bytes(cmds)))
    if progress:
        print(f"{len(cmds):,} commands in {time.perf_counter() - t0:.0f} s; store {store_url}", file=sys.stderr)
    return cmds


def main(argv: list[str]) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m pyengine.scenarios.rent_to_own")
    p.add_argument("out_dir", nargs="?", default="replays/rent_to_own_2009_2018")
    p.add_argument("--store", default="sqlite:///rent_to_own.db", help="an empty store to run on")
    args = p.parse_args(argv)
    write_files(args.out_dir, args.store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
