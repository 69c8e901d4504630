"""`pyengine whatif`: re-run a log's history under another policy and show what would change:
per run the proposals that differ, per household the unit and score under both, per building
the disadvantaged share over time against its cap (CSV, an HTML page with PNG plots, and a
terminal summary)."""

from __future__ import annotations

import csv
import html
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.store import open_app

from . import commands as c
from .event_log import EventLog, Row
from .fold import fold_all
from .policy import Policy
from .portfolio import Portfolio
from .schema import Result


@dataclass
class Comparison:
    runs: int = 0
    runs_changed: int = 0
    run_rows: list[dict[str, object]] = field(default_factory=list)  # differing proposals
    household_rows: dict[str, dict[str, object]] = field(default_factory=dict)  # at the last run
    building_rows: list[dict[str, object]] = field(default_factory=list)
    objective_actual: int = 0
    objective_whatif: int = 0


def compare(store_url: str, policy: Policy, progress: bool = False) -> Comparison:
    app = open_app(EventLog, store_url, write=False)
    out = Comparison()
    try:
        pf = Portfolio(None, matcher_policy=policy)  # the history, re-matched under `policy` run after run
        total = app.recorder.max_notification_id() or 0

        def run_again(row: Row, event: Any) -> None:  # each run, re-matched on the state it saw
            p = getattr(event, "payload", None)
            if isinstance(p, c.MatchRun):
                _compare_run(pf, p, policy, out)
                if progress and out.runs % 100 == 0:
                    print(f"  compared {out.runs} runs ({row.id}/{total} events)", file=sys.stderr)

        fold_all(app, pf, before=run_again)
    finally:
        app.close()
    return out


def _compare_run(pf: Portfolio, run: c.MatchRun, policy: Policy, out: Comparison) -> None:
    run = pf.full_run(run)
    pf.sync()  # incremental: only what changed since the last run reaches the core
    alt: Result = pf.matcher.solve()  # under the alternative policy and its own caps
    actual = {a.household: a for a in run.assignments}
    whatif = {a.household: a for a in alt.assignments}
    out.runs += 1
    changed = False
    for hid in sorted(set(actual) | set(whatif)):
        a, w = actual.get(hid), whatif.get(hid)
        if (a.unit if a else None) != (w.unit if w else None):
            changed = True
            out.run_rows.append({
                "run": run.run, "as_of": run.as_of.isoformat(), "household": hid,
                "unit_actual": a.unit if a else "", "score_actual": a.score if a else 0,
                "unit_whatif": w.unit if w else "", "score_whatif": w.score if w else 0,
            })  # fmt: skip
    out.runs_changed += changed
    out.household_rows = {
        hid: {
            "household": hid, "unit_actual": actual[hid].unit if hid in actual else "",
            "score_actual": actual[hid].score if hid in actual else 0,
            "unit_whatif": whatif[hid].unit if hid in whatif else "",
            "score_whatif": whatif[hid].score if hid in whatif else 0,
        }
        for hid in sorted(set(actual) | set(whatif) | set(run.unmatched or []))
    }  # fmt: skip
    out.objective_actual, out.objective_whatif = run.objective, alt.objective
    caps_a = {(u.scope, u.flag): u for u in run.caps if u.flag == "disadvantaged"}
    caps_w = {(u.scope, u.flag): u for u in alt.caps if u.flag == "disadvantaged"}
    buildings = sorted({u.spec.building for u in pf.units.values() if u.active})
    flagged = {hid for hid, h in pf.households.items() if not h.withdrawn and h.spec.disadvantaged}
    for b in buildings:
        n_units = sum(1 for u in pf.units.values() if u.active and u.spec.building == b)
        count_a = sum(1 for hid, a in actual.items() if hid in flagged and pf.units[a.unit].spec.building == b)
        count_w = sum(1 for hid, w in whatif.items() if hid in flagged and pf.units[w.unit].spec.building == b)
        ca, cw = caps_a.get((b, "disadvantaged")), caps_w.get((b, "disadvantaged"))
        out.building_rows.append({
            "run": run.run, "as_of": run.as_of.isoformat(), "building": b, "units": n_units,
            "disadvantaged_actual": count_a, "cap_actual": ca.cap if ca else "",
            "disadvantaged_whatif": count_w, "cap_whatif": cw.cap if cw else "",
        })  # fmt: skip


FILES = ("runs.csv", "households.csv", "buildings.csv", "disadvantaged-share.png", "whatif.html")  # what write() makes


def write(out: Comparison, folder: Path, policy: Policy) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for name, rows in (("runs.csv", out.run_rows), ("households.csv", list(out.household_rows.values())),
                       ("buildings.csv", out.building_rows)):  # fmt: skip
        path = folder / name
        with path.open("w", newline="") as f:
            if rows:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        files.append(path)
    png = folder / "disadvantaged-share.png"
    _plot(out, png)
    files.append(png)
    page = folder / "whatif.html"
    page.write_text(_html(out, policy, png.name))
    files.append(page)
    return files


def _plot(out: Comparison, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    buildings = sorted({str(r["building"]) for r in out.building_rows})
    fig, axes = plt.subplots(1, max(1, min(len(buildings), 4)), figsize=(5 * max(1, min(len(buildings), 4)), 3.6),
                             squeeze=False)  # fmt: skip
    for ax, b in zip(axes[0], buildings[:4], strict=False):
        rows = [r for r in out.building_rows if r["building"] == b]
        xs = [int(str(r["run"])) for r in rows]
        units = [max(1, int(str(r["units"]))) for r in rows]
        ax.plot(xs, [int(str(r["disadvantaged_actual"])) / n for r, n in zip(rows, units, strict=True)],
                label="actual policy")  # fmt: skip
        ax.plot(xs, [int(str(r["disadvantaged_whatif"])) / n for r, n in zip(rows, units, strict=True)],
                "--", label="what-if policy")  # fmt: skip
        caps = [
            (int(str(r["cap_actual"])) / n if r["cap_actual"] != "" else None) for r, n in zip(rows, units, strict=True)
        ]
        if any(x is not None for x in caps):
            ax.plot(xs, [x if x is not None else float("nan") for x in caps], ":", color="grey", label="cap (actual)")
        ax.set_title(b)
        ax.set_xlabel("run")
        ax.set_ylabel("disadvantaged share of units")
    axes[0][0].legend(fontsize=8)
    if len(buildings) > 4:
        fig.suptitle(f"first 4 of {len(buildings)} buildings; all in buildings.csv", fontsize=9)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _html(out: Comparison, policy: Policy, png: str) -> str:
    def table(rows: list[dict[str, object]], limit: int = 200) -> str:
        if not rows:
            return "<p>No differences.</p>"
        head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>"
                       for r in rows[:limit])  # fmt: skip
        more = f"<p>{len(rows) - limit} more rows in the CSV.</p>" if len(rows) > limit else ""
        return f"<table><tr>{head}</tr>{body}</table>{more}"

    changed_households = [r for r in out.household_rows.values() if r["unit_actual"] != r["unit_whatif"]]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>What if: policy v{policy.version}</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:2px 6px;font-size:90%}}</style></head><body>
<h1>What if policy v{policy.version} ({html.escape(policy.name)}) had been in force</h1>
<p>{out.runs} runs re-run; {out.runs_changed} would have proposed something else. Last run: objective
{out.objective_actual} actual, {out.objective_whatif} under the what-if policy.</p>
<h2>Disadvantaged share per building over time</h2><img src="{png}" alt="disadvantaged share per building">
<h2>Households whose unit would differ at the last run</h2>{table(changed_households)}
<h2>Proposals that differ, run by run</h2>{table(out.run_rows)}
</body></html>
"""


def compare_many(
    store_url: str, policies: list[Policy], scheduler: str | None = None, progress: bool = False
) -> list[Comparison]:
    """The same history under each policy, fanned out over an executor (`fanout`): local
    processes, or a Dask cluster's workers when `scheduler` is given. Results in policy order."""
    from concurrent.futures import as_completed

    from .fanout import executor

    results: list[Comparison | None] = [None] * len(policies)
    with executor(scheduler, len(policies)) as pool:
        futures = {pool.submit(compare, store_url, p): i for i, p in enumerate(policies)}
        for done, fut in enumerate(as_completed(futures), start=1):
            i = futures[fut]
            results[i] = fut.result()
            if progress:
                where = scheduler or "local processes"
                print(f"  policy v{policies[i].version} compared ({done}/{len(policies)}, {where})", file=sys.stderr)
    return [r for r in results if r is not None]


SUMMARY_FILES = ("policies.csv", "policies.png", "index.html")


def write_many(results: list[Comparison], labels: list[str], policies: list[Policy], folder: Path) -> list[Path]:
    """One folder per policy (as `write` makes it) and a summary that compares them: a CSV, a
    bar chart and a page linking each policy's own."""
    folder.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    rows: list[dict[str, object]] = []
    for out, label, policy in zip(results, labels, policies, strict=True):
        files += write(out, folder / label, policy)
        changed = sum(1 for r in out.household_rows.values() if r["unit_actual"] != r["unit_whatif"])
        rows.append({
            "policy": label, "version": policy.version, "name": policy.name, "runs": out.runs,
            "runs_changed": out.runs_changed, "proposals_differing": len(out.run_rows),
            "households_changed_last_run": changed, "objective_actual": out.objective_actual,
            "objective_whatif": out.objective_whatif,
        })  # fmt: skip
    path = folder / "policies.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    png = folder / "policies.png"
    _plot_policies(rows, png)
    page = folder / "index.html"
    page.write_text(_summary_html(rows, png.name))
    return [*files, path, png, page]


def _plot_policies(rows: list[dict[str, object]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [str(r["policy"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    actual = int(str(rows[0]["objective_actual"]))
    left.bar(labels, [int(str(r["objective_whatif"])) - actual for r in rows])
    left.axhline(0, color="grey", lw=0.8)
    left.set_title("objective at the last run, minus the actual")
    right.bar(labels, [int(str(r["runs_changed"])) for r in rows], color="tab:orange")
    right.set_title(f"runs that would have proposed something else (of {rows[0]['runs']})")
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)


def _summary_html(rows: list[dict[str, object]], png: str) -> str:
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td><a href='{html.escape(str(v))}/whatif.html'>{html.escape(str(v))}</a></td>"
            if k == "policy"
            else f"<td>{html.escape(str(v))}</td>"
            for k, v in r.items()
        )
        + "</tr>"
        for r in rows
    )
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>What if: {len(rows)} policies</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:2px 6px}}</style></head><body><h1>The same history under {len(rows)} policies</h1>
<img src="{png}" alt="objective and changed runs per policy"><table><tr>{head}</tr>{body}</table></body></html>
"""


def labels_for(paths: list[str]) -> list[str]:
    """A folder name per policy file: its stem, numbered where two share one."""
    stems = [Path(p).stem for p in paths]
    return [f"{s}-{i + 1}" if stems.count(s) > 1 else s for i, s in enumerate(stems)]
