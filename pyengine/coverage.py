"""`pyengine report coverage`: which shared tasks the residents of each building, stairwell or
floor cover (issue 19; report 000, «Rekruttering»: every shared task covered vertically, per
stairwell, and horizontally, per floor).

The tasks and scopes are the coverage rules of the policy in force (`coverage`), or those given
on the command line. For each scope and task the report says who covers it:

- `now`: a sitting tenant of the scope has the task (as skill);
- `decision`: nobody does now, but a household the last decision places in the scope does
  (a newcomer, or a tenant moving there);
- `missing`: neither.

A sitting tenant whom the last decision moves out of the scope still counts for `now`: until
the move is let, the tenant lives there.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import msgspec

from .errors import InputError
from .policy import Coverage
from .portfolio import Portfolio
from .report_files import text_table, write_chart_page

FILES = ("coverage.png", "coverage.html")
STATES = ("now", "decision", "missing")


class ScopeCover(msgspec.Struct, kw_only=True):
    rule: int  # index into CoverageReport.rules
    scope: str  # the scope's name: a building, a stairwell, or "<building> floor <n>"
    units: int
    residents: int  # sitting tenants living there now
    placed: int  # households the last decision places there
    tasks: dict[str, str]  # task -> now | decision | missing


class CoverageReport(msgspec.Struct, kw_only=True):
    as_of: str | None
    run: int | None  # the decision read (None: no run yet)
    policy_version: int
    rules: list[Coverage]
    scopes: list[ScopeCover]


def scope_name(rule: Coverage, building: str, stairwell: str, floor: int) -> str:
    if rule.scope == "building":
        return building
    if rule.scope == "stairwell":
        return stairwell
    return f"{building} floor {floor}"


def report_of(pf: Portfolio, rules: list[Coverage]) -> CoverageReport:
    """The coverage of `rules` in the portfolio and its last decision."""
    ledger = pf.ledger
    last = ledger.last_run if ledger is not None else None
    placed_in = {a.unit: a.household for a in ledger.decision.values()} if ledger is not None and last else {}
    out: list[ScopeCover] = []
    for i, rule in enumerate(rules):
        units: dict[str, list[str]] = {}
        for uid, u in sorted(pf.units.items()):
            if u.active:
                s = u.spec
                units.setdefault(scope_name(rule, s.building, s.stairwell, s.floor), []).append(uid)
        for name, uids in sorted(units.items()):
            now = [pf.occupant[u] for u in uids if u in pf.occupant]
            later = [placed_in[u] for u in uids if u in placed_in]
            have_now = {t for h in now for t in pf.households[h].spec.skills}
            have_later = {t for h in later for t in pf.households[h].spec.skills}
            tasks = {t: "now" if t in have_now else "decision" if t in have_later else "missing" for t in rule.tasks}
            out.append(
                ScopeCover(rule=i, scope=name, units=len(uids), residents=len(now), placed=len(later), tasks=tasks)
            )
    return CoverageReport(
        as_of=pf.date.isoformat() if pf.date else None,
        run=last.run if last else None,
        policy_version=pf.policy.version,
        rules=list(rules),
        scopes=out,
    )


def rules_for(pf: Portfolio, tasks: str | None, scope: str | None) -> list[Coverage]:
    """The rules to report on: `--tasks`/`--scope` where given, else the policy's."""
    if tasks is None:
        if scope is not None:
            raise InputError("--tasks", "required with --scope")
        if not pf.policy.coverage:
            raise InputError(
                "--tasks",
                f"policy v{pf.policy.version} has no coverage rules: name the tasks to look for (comma-separated)",
            )
        return list(pf.policy.coverage)
    names = [t.strip() for t in tasks.split(",") if t.strip()]
    if not names:
        raise InputError("--tasks", "expected task names, comma-separated")
    if scope not in (None, "building", "stairwell", "floor"):
        raise InputError("--scope", f"expected building, stairwell or floor, got {scope!r}")
    return [Coverage(tasks=sorted(set(names)), scope=scope or "stairwell", points=0)]  # type: ignore[arg-type]


def report(store_url: str, tasks: str | None = None, scope: str | None = None) -> CoverageReport:
    """The report of a store, opened read-only (the command line's)."""
    from .service import AllocationService

    svc = AllocationService(store_url, write=False)
    try:
        return report_of(svc.portfolio, rules_for(svc.portfolio, tasks, scope))
    finally:
        svc.close()


# --- output -----------------------------------------------------------------------------------
MARK = {"now": "x", "decision": "+", "missing": "-"}


def table(rep: CoverageReport, i: int) -> list[list[str]]:
    rule = rep.rules[i]
    head = [rule.scope, "units", "tenants", "placed", *rule.tasks, "missing"]
    rows = [
        [s.scope, str(s.units), str(s.residents), str(s.placed), *(MARK[s.tasks[t]] for t in rule.tasks),
         str(sum(v == "missing" for v in s.tasks.values()))]
        for s in rep.scopes if s.rule == i
    ]  # fmt: skip
    return [head, *rows]


def format_tables(rep: CoverageReport) -> str:
    when = f"as of {rep.as_of}" if rep.as_of else "no date yet"
    run = f"run {rep.run}" if rep.run is not None else "no run yet"
    out = [f"shared tasks covered, {when} ({run}, policy v{rep.policy_version})"]
    for i, rule in enumerate(rep.rules):
        missing = sum(v == "missing" for s in rep.scopes if s.rule == i for v in s.tasks.values())
        total = sum(len(s.tasks) for s in rep.scopes if s.rule == i)
        out += ["", f"== per {rule.scope}: {total - missing} of {total} (scope, task) pairs covered"]
        out += text_table(table(rep, i))
    out += ["", "x: a sitting tenant has it now; +: a household the last decision places there has it; -: missing"]
    return "\n".join(out)


def as_json(rep: CoverageReport) -> str:
    return json.dumps(msgspec.to_builtins(rep), indent=1, ensure_ascii=False)


def write(rep: CoverageReport, folder: Path) -> list[Path]:
    """coverage.png (a grid per rule: scopes by tasks) and coverage.html (the tables, the chart)."""
    return write_chart_page(folder, FILES, lambda png: _plot(rep, png), lambda chart: _html(rep, chart))


COLOURS = {"now": "#2e7d32", "decision": "#a5d6a7", "missing": "#e57373"}


def _plot(rep: CoverageReport, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch

    n = max(1, len(rep.rules))
    heights = [max(2.0, 0.35 * sum(s.rule == i for s in rep.scopes) + 1.2) for i in range(n)]
    fig, axes = plt.subplots(n, 1, figsize=(8, sum(heights)), squeeze=False, height_ratios=heights)
    cmap = ListedColormap([COLOURS[s] for s in STATES])
    for i, ax in enumerate(axes.flat):
        if i >= len(rep.rules):
            ax.text(0.5, 0.5, "no coverage rules", ha="center", va="center")
            ax.axis("off")
            continue
        rule = rep.rules[i]
        scopes = [s for s in rep.scopes if s.rule == i]
        grid = [[STATES.index(s.tasks[t]) for t in rule.tasks] for s in scopes]
        if grid:
            ax.imshow(grid, cmap=cmap, vmin=0, vmax=len(STATES) - 1, aspect="auto")
        ax.set_xticks(range(len(rule.tasks)), rule.tasks, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(scopes)), [s.scope for s in scopes], fontsize=8)
        ax.set_title(f"per {rule.scope}", fontsize=10)
    handles = [Patch(color=COLOURS[s], label=label) for s, label in zip(STATES, LEGEND, strict=True)]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=8)
    fig.suptitle(f"Shared tasks covered, as of {rep.as_of or '-'}", fontsize=12)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(png, dpi=100)
    plt.close(fig)


LEGEND = ("a sitting tenant has it", "the last decision brings it", "missing")


def _html(rep: CoverageReport, png_base64: str) -> str:
    e = html.escape
    parts = []
    for i, rule in enumerate(rep.rules):
        head, *rows = table(rep, i)
        parts.append(f"<h2>Per {e(rule.scope)}</h2>")
        parts.append(
            "<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
            + "".join("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>" for row in rows)
            + "</table>"
        )  # fmt: skip
    legend = "".join(f"<li><b>{e(MARK[s])}</b>: {e(label)}</li>" for s, label in zip(STATES, LEGEND, strict=True))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Shared tasks covered</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;
padding:2px 6px;font-size:90%}} td:not(:first-child){{text-align:center}}</style></head><body>
<h1>Shared tasks covered, as of {e(rep.as_of or "-")}</h1>
<p>Which shared tasks the residents of each scope cover now, which the last decision (run {rep.run}) brings, and
which are missing (policy v{rep.policy_version}).</p>
<img src="data:image/png;base64,{png_base64}" alt="shared tasks covered per scope">
{"".join(parts)}
<ul>{legend}</ul>
</body></html>
"""
