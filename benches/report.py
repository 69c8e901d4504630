"""Turn a pytest-benchmark JSON file into the ratio table (stdout) and a PNG."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(src: str, png: str) -> None:
    data = json.loads(Path(src).read_text())
    by_name: dict[str, dict[str, Any]] = {b["name"]: b for b in data["benchmarks"]}

    def best(name: str) -> float | None:
        b = by_name.get(name)
        return b["stats"]["min"] * 1000.0 if b else None  # minima are stable on shared machines

    m = data.get("machine_info", {})
    print(
        f"machine: {m.get('cpu', {}).get('brand_raw', '?')}, {m.get('cpu', {}).get('count', '?')} cores; "
        f"python {m.get('python_version', '?')}"
    )
    rows = []
    core, scipy_ms, lapx = best("test_city_core"), best("test_city_scipy"), best("test_city_lapx")
    stream = by_name.get("test_city_stream_latency", {}).get("extra_info", {})
    if core and scipy_ms:
        rows.append(("city from scratch: core vs scipy", core, scipy_ms, scipy_ms / core, "> 1"))
    if core and lapx:
        rows.append(("city from scratch: core vs lapx", core, lapx, lapx / core, "(info)"))
    if stream and scipy_ms:
        rows.append(
            ("city re-match p50 vs scipy scratch", stream["p50_ms"], scipy_ms, scipy_ms / stream["p50_ms"], ">= 100")
        )
    mid_core, mid_ort = best("test_mid_core"), best("test_mid_ortools")
    if mid_core and mid_ort:
        units = by_name["test_mid_core"]["extra_info"]["units"]
        rows.append((f"{units:,} units from scratch: core vs OR-Tools", mid_core, mid_ort, mid_ort / mid_core, "> 1"))
    print(f"{'comparison':<42} {'ours ms':>10} {'theirs ms':>10} {'ratio':>8}  target")
    for name, ours, theirs, ratio, target in rows:
        print(f"{name:<42} {ours:>10.1f} {theirs:>10.1f} {ratio:>8.2f}  {target}")
    for name, label in (
        ("test_rebuild_whole_log", "state rebuild, whole log"),
        ("test_rebuild_from_snapshot", "state rebuild, latest snapshot + tail"),
        ("test_verify_whole_log", "replay: every MatchRun re-run and checked"),
        ("test_submit_rebuild", "city store rebuild, no snapshots"),
        ("test_submit_replay", "city store replay: every MatchRun checked"),
    ):
        x = by_name.get(name, {}).get("extra_info", {})
        if x:
            runs = f", {x['runs_per_s']:,.0f} runs/s" if "runs_per_s" in x else ""
            print(
                f"{label:<42} {x['events']:,} events in {by_name[name]['stats']['min']:.2f} s: "
                f"{x['events_per_s']:,.0f} events/s{runs} (target for the rebuild: >= 50,000 events/s)"
            )
    for name, label in (("test_submit_uncapped", "uncapped"), ("test_submit_capped", "capped")):
        x = by_name.get(name, {}).get("extra_info", {})
        if x.get("commands"):
            print(
                f"city submit latency, {label}, {x['commands']:,} commands (one transaction each): "
                f"p50 {x['p50_ms']:.1f} ms, p95 {x['p95_ms']:.1f} ms, max {x['max_ms']:.1f} ms"
            )
        elif x:
            stage = "the import" if not x["import_finished"] else "no command"
            print(f"city submit, {label}: {stage} did not finish within {x['budget_s']:.0f} s")
    capped(by_name)
    writers(data["benchmarks"])
    nat = by_name.get("test_national_core")
    if nat:
        print(
            f"national from scratch (100,000 units and households): core {nat['stats']['min']:.1f} s, "
            f"peak memory {nat['extra_info']['peak_rss_gib']:.2f} GiB (target < 4 GiB); OR-Tools does not fit "
            "(see benches/test_bench_scratch.py)"
        )
    nat_stream = by_name.get("test_national_stream_latency", {}).get("extra_info", {})
    if nat_stream:
        print(
            f"national re-match latency over {nat_stream['ops']} ops: p50 {nat_stream['p50_ms']:.1f} ms, "
            f"p95 {nat_stream['p95_ms']:.1f} ms, max {nat_stream['max_ms']:.1f} ms (target < 10 ms)"
        )
    if stream:
        print(
            f"city re-match latency over {stream['ops']} ops: p50 {stream['p50_ms']:.1f} ms, "
            f"p95 {stream['p95_ms']:.1f} ms, max {stream['max_ms']:.1f} ms"
        )

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    names = [n for n in ("test_city_core", "test_city_scipy", "test_city_lapx") if n in by_name]
    axes[0].bar([n.replace("test_city_", "") for n in names], [best(n) for n in names], color="#4477aa")
    axes[0].set_ylabel("ms (min)")
    axes[0].set_title("City scale, from scratch")
    if stream:
        axes[1].hist(stream["latencies_ms"], bins=40, color="#228833")
        axes[1].set_xlabel("ms per re-match")
        axes[1].set_title(f"Re-match after each of {stream['ops']} operations")
    scaling = sorted(
        (b["extra_info"]["units"], b["stats"]["min"] * 1000.0) for b in data["benchmarks"] if b["group"] == "scaling"
    )
    if scaling:
        axes[2].loglog([s[0] for s in scaling], [s[1] for s in scaling], "o-", color="#aa3377")
        axes[2].set_xlabel("units (= households)")
        axes[2].set_ylabel("ms from scratch")
        axes[2].set_title("Scaling")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    print(f"wrote {png}")


def capped(by_name: dict[str, dict[str, Any]]) -> None:
    """The default policy's mix cap at city scale (benches/test_bench_capped.py)."""
    core, lp, mip = (by_name.get(f"test_capped_city_{k}") for k in ("core", "highs_lp", "highs_mip"))
    if core:
        x, s = core["extra_info"], core["stats"]["min"]
        print(f"capped city from scratch: core {s:.1f} s, proven optimal in {x['nodes']} nodes, "
              f"objective {x['objective']:,} (uncapped {x['uncapped_objective']:,}; target < 1 s)")  # fmt: skip
    if lp:
        ratio = f", {lp['stats']['min'] / core['stats']['min']:.2f}x the core's time" if core else ""
        print(f"capped city, HiGHS LP relaxation (one thread): {lp['stats']['min']:.1f} s, "
              f"bound {lp['extra_info']['lp_bound']:,.1f}{ratio} (target: the core 10x faster)")  # fmt: skip
    if mip:
        x = mip["extra_info"]
        state = (f"proven optimal, objective {x['objective']:,.0f}" if x["proven"] else
                 f"stopped at {x['time_limit_s']:.0f} s: objective {x['objective']}, bound {x['bound']}")  # fmt: skip
        print(f"capped city, HiGHS MIP (one thread): {mip['stats']['min']:.1f} s, {state}")
    for b in sorted((b for k, b in by_name.items() if k.startswith("test_capped_large")),
                    key=lambda b: b["extra_info"]["units"]):  # fmt: skip
        x = b["extra_info"]
        state = "proven optimal" if x["optimal"] else f"not proven, gap {x['bound'] - x['objective']:,}"
        print(f"capped {x['units']:,} units from scratch, node limit {x['node_limit']}: {b['stats']['min']:.1f} s "
              f"({x['ratio_to_uncapped']:.1f}x the uncapped {x['uncapped_s']:.1f} s; target at national <= 2x), "
              f"{state}, {x['nodes']} nodes")  # fmt: skip
        st = x["stream"]
        if st.get("ops"):
            print(f"capped {x['units']:,} units re-match, {st['ops']} ops within {x['budget_s']:.0f} s, "
                  f"{st['proven']} proven: p50 {st['p50_ms']:.0f} ms, p95 {st['p95_ms']:.0f} ms, "
                  f"max {st['max_ms']:.0f} ms (target at national: p50 <= 100 ms)")  # fmt: skip
        else:
            print(f"capped {x['units']:,} units re-match: no operation finished within {x['budget_s']:.0f} s")
    for name, label in (("test_capped_1000_stream", "1,000 units"), ("test_capped_city_stream", "city")):
        x = by_name.get(name, {}).get("extra_info", {})
        if not x.get("ops"):
            if x:
                print(f"capped re-match, {label}: no operation finished within {x['budget_s']:.0f} s")
            continue
        kinds = "; ".join(f"{k} n {v['n']} p50 {v['p50_ms']:.0f} ms" for k, v in x["per_kind"].items())
        print(f"capped re-match, {label}, {x['ops']} of {x['ops_requested']} ops, each proven: "
              f"p50 {x['p50_ms']:.1f} ms, p95 {x['p95_ms']:.1f} ms, max {x['max_ms']:.1f} ms "
              f"(target at city: p50 <= 5 ms, p95 <= 50 ms); {kinds}")  # fmt: skip


def writers(benchmarks: list[dict[str, Any]]) -> None:
    """Several writer processes on one city store, and one command over HTTP against the Python
    API (benches/test_bench_writers.py)."""
    rows = sorted((b["extra_info"] for b in benchmarks if b["group"] == "writers"),
                  key=lambda x: (x["store"] != "sqlite", x["writers"]))  # fmt: skip
    if rows:
        print(f"{'city store, writer processes':<32} {'commands':>8} {'cmd/s':>8} {'conflicts':>9} "
              f"{'p50 ms':>8} {'p95 ms':>8} {'max ms':>9}")  # fmt: skip
        for x in rows:
            print(f"{x['store'] + ', ' + str(x['writers']):<32} {x['commands']:>8} {x['commands_per_s']:>8.0f} "
                  f"{x['conflicts']:>9} {x['p50_ms']:>8.1f} {x['p95_ms']:>8.1f} {x['max_ms']:>9.1f}")  # fmt: skip
    http = [b["extra_info"] for b in benchmarks if b["group"] == "http"]
    for x in sorted(http, key=lambda x: x["store"] != "sqlite"):
        print(
            f"one command, city {x['store']} store, {x['commands']} commands: HTTP p50 {x['http_p50_ms']:.1f} ms, "
            f"p95 {x['http_p95_ms']:.1f} ms; Python API p50 {x['api_p50_ms']:.1f} ms, p95 {x['api_p95_ms']:.1f} ms; "
            f"HTTP - API per command p50 {x['overhead_p50_ms']:.1f} ms, p95 {x['overhead_p95_ms']:.1f} ms"
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
