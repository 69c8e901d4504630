"""The rent-to-own cases of the 2009–2018 scenario, drawn before the run: per year, the
report's sales and about as many valuations that do not end in one (report 003)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from ..calendar import add_months

START = dt.date(2009, 1, 1)
END = dt.date(2018, 12, 31)
LAST_DAY_CLOSED = dt.date(2018, 12, 1)
SALES = {2009: 9, 2010: 21, 2011: 29, 2012: 27, 2013: 24, 2014: 24, 2015: 13, 2016: 33, 2017: 23, 2018: 26}


# --- rent-to-own cases, drawn before the run ------------------------------------------------
@dataclass
class CasePlan:
    fate: str  # sale, declined, expired, loan_refused, not_approved, kept
    gaps: list[int]  # days between the steps, from interest on
    start: dt.date = START

    def dates(self) -> list[dt.date]:
        out = [self.start]
        for g in self.gaps:
            out.append(out[-1] + dt.timedelta(days=g))
        return out


STEPS = {  # the case's commands, in order, after PurchaseInterestRegistered
    "not_approved": ["assess"],
    "kept": ["assess", "keep"],
    "loan_refused": ["assess", "release", "value", "loan", "refuse"],
    "expired": ["assess", "release", "value", "loan", "grant", "offer"],
    "declined": ["assess", "release", "value", "loan", "grant", "offer", "decline"],
    "sale": ["assess", "release", "value", "loan", "grant", "offer", "accept", "complete"],
}
GAP = {  # days before each step (loan decisions: prioritised cases, 3–4.5 months)
    "assess": (14, 45), "keep": (7, 30), "release": (7, 30), "value": (14, 40), "loan": (3, 14),
    "refuse": (90, 135), "grant": (90, 135), "offer": (3, 10), "decline": (5, 20), "accept": (5, 15),
    "complete": (30, 75),
}  # fmt: skip


def _case(rng: random.Random, fate: str) -> CasePlan:
    return CasePlan(fate, [rng.randint(*GAP[s]) for s in STEPS[fate]])


def _place(rng: random.Random, plan: CasePlan, key_step: int, year: int, latest: dt.date) -> CasePlan:
    """Start the case so that its `key_step` date (completion, valuation, ...) falls in `year`."""
    before = sum(plan.gaps[:key_step])
    after = sum(plan.gaps[key_step:])
    lo = max(dt.date(year, 1, 1), START + dt.timedelta(days=before))
    hi = min(dt.date(year, 12, 31), latest - dt.timedelta(days=after))
    assert lo <= hi, (plan, year)
    key = lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))
    plan.start = key - dt.timedelta(days=before)
    return plan


def plan_cases(rng: random.Random) -> list[CasePlan]:
    """Each year: the report's sales, about as many valuations that do not end in a sale, and
    some cases closed before a valuation."""
    plans: list[CasePlan] = []
    for year, sales in SALES.items():
        for _ in range(sales):  # completion in `year`
            plans.append(_place(rng, _case(rng, "sale"), len(STEPS["sale"]), year, END))
        declined = 0.5 if year <= 2011 else 0.3  # valuations thought too high in the first years
        refused = 0.5 if year == 2015 else 0.3  # start-loan rules tightened in 2015
        for _ in range(round(sales * rng.uniform(0.8, 1.2))):  # valuation in `year`
            fate = rng.choices(("declined", "loan_refused", "expired"), weights=(declined, refused, 0.2))[0]
            plan = _case(rng, fate)
            latest = END
            if fate == "expired":  # it lapses at the first DayClosed after the valuation's 6 months: inside the run
                latest = add_months(LAST_DAY_CLOSED, -6) - dt.timedelta(days=1) + dt.timedelta(days=sum(plan.gaps[3:]))
            plans.append(_place(rng, plan, 3, year, latest))
        for _ in range(round(sales * 0.4)):
            fate = "not_approved" if rng.random() < 0.6 else "kept"
            plans.append(_place(rng, _case(rng, fate), 0, year, END))
    plans.sort(key=lambda p: p.start)
    return plans
