"""`pyengine report sales`: the rent-to-own programme per year, read from any log."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from . import commands as c


@dataclass
class Year:
    valuations: int = 0
    offers: int = 0
    sales: int = 0
    declines: int = 0
    expiries: int = 0
    price_total_nok: int = 0
    discounts_nok: int = 0
    grant_repayments_nok: int = 0
    proceeds_nok: int = 0
    acquisitions: int = 0
    acquisitions_nok: int = 0
    _valuation_of: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def average_price_nok(self) -> int:
        return self.price_total_nok // self.sales if self.sales else 0


COLUMNS = (
    ("valuations", "valuations"), ("offers", "offers"), ("sales", "sales"), ("declines", "declines"),
    ("expiries", "expiries"), ("average_price_nok", "avg price"), ("discounts_nok", "discounts"),
    ("grant_repayments_nok", "grant repaid"), ("proceeds_nok", "proceeds"), ("acquisitions", "acquired"),
)  # fmt: skip


def sales_by_year(payloads: Iterable[Any]) -> dict[int, Year]:
    years: dict[int, Year] = defaultdict(Year)
    valuation: dict[str, int] = {}  # unit -> latest valuation (the discount is measured against it)
    for p in payloads:
        if isinstance(p, c.ValuationRecorded):
            years[p.valued_on.year].valuations += 1
            valuation[p.unit] = p.value_nok
        elif isinstance(p, c.PurchaseOffered):
            y = years[p.on.year]
            y.offers += 1
            y.discounts_nok += valuation.get(p.unit, p.price_nok or 0) - (p.price_nok or 0)
        elif isinstance(p, c.PurchaseDeclined):
            years[p.on.year].declines += 1
        elif isinstance(p, c.PurchaseOfferExpired):
            years[p.on.year].expiries += 1
        elif isinstance(p, c.SaleCompleted):
            y = years[p.on.year]
            y.sales += 1
            y.price_total_nok += p.price_nok
            y.grant_repayments_nok += p.grant_repayment_nok
            y.proceeds_nok += p.price_nok - p.grant_repayment_nok
        elif isinstance(p, c.UnitAcquired):
            y = years[p.on.year]
            y.acquisitions += 1
            y.acquisitions_nok += p.price_nok
    return dict(sorted(years.items()))


def format_table(years: dict[int, Year]) -> str:
    head = "year " + " ".join(f"{label:>12}" for _, label in COLUMNS)
    lines = [head, "-" * len(head)]
    total = Year()
    for year, y in years.items():
        lines.append(f"{year:<4} " + " ".join(f"{getattr(y, attr):>12,}" for attr, _ in COLUMNS))
        for attr in ("valuations", "offers", "sales", "declines", "expiries", "price_total_nok", "discounts_nok",
                     "grant_repayments_nok", "proceeds_nok", "acquisitions", "acquisitions_nok"):  # fmt: skip
            setattr(total, attr, getattr(total, attr) + getattr(y, attr))
    lines.append("all  " + " ".join(f"{getattr(total, attr):>12,}" for attr, _ in COLUMNS))
    return "\n".join(lines)


def plot_sales(years: dict[int, Year], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = list(years)
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.bar([x - 0.2 for x in xs], [years[x].valuations for x in xs], width=0.4, label="valuations", color="#bbbbbb")
    ax.bar([x + 0.2 for x in xs], [years[x].sales for x in xs], width=0.4, label="sales", color="#4477aa")
    for x in xs:
        ax.annotate(str(years[x].sales), (x + 0.2, years[x].sales), ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs)
    ax.set_ylabel("units")
    ax.set_title("Rent-to-own: valuations and completed sales per year")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
