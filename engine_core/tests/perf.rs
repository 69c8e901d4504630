//! Scale check, run by hand: `cargo test --release --test perf -- --ignored --nocapture`.
//! Prints timings only; timings are never asserted in tests.

mod common;

use common::*;
use engine_core::model::Policy;
use engine_core::Engine;
use serde_json::json;

const N: usize = 4000;

#[test]
#[ignore]
fn city_scale_dense() {
    let mut rng = Lcg(42);
    let (mut units, mut hh) = random_instance(&mut rng, N, N, 60);
    // Dense eligibility: mostly ordinary, small households, few special needs.
    for u in units.iter_mut() {
        u["kind"] = json!("ordinary");
        u["rooms"] = json!(2 + rng.below(3));
    }
    for h in hh.iter_mut() {
        h["care_need"] = json!(false);
        h["needs_accessible"] = json!(false);
        if rng.below(4) == 0 {
            h["transfer_requested"] = json!(true);
        }
    }
    let mut e = v1_engine();
    e.load_json(&instance(&units, &hh, json!([]))).unwrap();
    let t = std::time::Instant::now();
    let (a, _, _) = e.pairs().unwrap();
    println!("pairs: {} in {:?}", a.len(), t.elapsed());
    let t = std::time::Instant::now();
    let r = e.solve(0).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    println!(
        "solve: {:?} objective {} bound {}",
        t.elapsed(),
        v["objective"],
        v["bound"]
    );
    let caps = json!([{"flag": "disadvantaged", "scope": "building", "max_share": 0.3}]);
    e.set_caps_json(&caps.to_string()).unwrap();
    let t = std::time::Instant::now();
    let r = e.solve(3).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    println!(
        "capped: {:?} objective {} bound {} uncapped {} nodes {} optimal {}",
        t.elapsed(),
        v["objective"],
        v["bound"],
        v["uncapped_objective"],
        v["nodes"],
        v["optimal"]
    );
}

/// Per-operation re-match latency at city scale (4,050 units, 3,000 tenants, 1,000
/// applicants): each operation followed by a solve; prints percentiles per kind.
#[test]
#[ignore]
fn city_scale_incremental() {
    let mut rng = Lcg(7);
    let (units, hh) = city_instance(&mut rng, 4050, 3000, 1000);
    let mut e = v1_engine();
    e.load_json(&instance(&units, &hh, json!([]))).unwrap();
    let t = std::time::Instant::now();
    let r0 = e.solve(0).unwrap();
    println!("cold solve: {:?}", t.elapsed());
    let (a, _, _) = e.pairs().unwrap();
    println!("eligible pairs: {}", a.len());
    let v: serde_json::Value = serde_json::from_str(&r0).unwrap();
    println!("objective {}", v["objective"]);
    let mut times: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
    let mut day = 0;
    let mut all = 0u64;
    for k in 0..300 {
        let kind;
        let t = std::time::Instant::now();
        match k % 6 {
            0 => {
                kind = "new applicant";
                let mut h = household(&format!("X{k:06}"), 1, rng.below(3) as i64);
                h["applied_on"] = json!("2021-03-01");
                h["urgency"] = json!(rng.below(4));
                e.upsert_household_json(&h.to_string()).unwrap();
            }
            1 => {
                kind = "edit applicant";
                let i = 3000 + rng.below(1000) as usize;
                let mut h = hh[i].clone();
                h["urgency"] = json!(rng.below(4));
                e.upsert_household_json(&h.to_string()).unwrap();
            }
            2 => {
                kind = "remove applicant";
                e.remove_household(&format!("X{:06}", k - 2)).unwrap();
            }
            3 => {
                kind = "edit unit";
                let i = rng.below(4050) as usize;
                let mut u = units[i].clone();
                u["accessible"] = json!(rng.below(2) == 0);
                e.upsert_unit_json(&u.to_string()).unwrap();
            }
            4 => {
                kind = "tenant transfer";
                let i = rng.below(3000) as usize;
                let mut h = hh[i].clone();
                h["transfer_requested"] = json!(rng.below(2) == 0);
                h["skills"] = json!(["gardening"]);
                e.upsert_household_json(&h.to_string()).unwrap();
            }
            _ => {
                kind = "set_as_of +1 day";
                day += 1;
                e.set_as_of_str(&format!("2021-05-{:02}", 1 + day % 28))
                    .unwrap();
            }
        }
        let r = e.solve(0).unwrap();
        let dt = t.elapsed().as_secs_f64() * 1e3;
        all = all.rotate_left(7) ^ digest(&r);
        times.entry(kind).or_default().push(dt);
        if k < 12 {
            println!("{kind}: {dt:.2} ms stats {:?}", e.last_solve_stats());
        }
    }
    for (kind, mut v) in times {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{kind:>18}: n {:3} median {:7.2} ms  p90 {:7.2} ms  max {:7.2} ms",
            v.len(),
            v[v.len() / 2],
            v[v.len() * 9 / 10],
            v[v.len() - 1]
        );
    }
    println!("digest of all incremental results: {all:016x}");
    // From-scratch reference on the final snapshot.
    let mut fresh = v1_engine();
    let t = std::time::Instant::now();
    let snapshot_ids = e.household_ids().len();
    fresh.load_json(&instance(&units, &hh, json!([]))).unwrap();
    fresh.solve(0).unwrap();
    println!(
        "fresh load+solve ({snapshot_ids} households live): {:?}",
        t.elapsed()
    );
}

/// Deterministic digest of a result, to compare solver versions by hand.
fn digest(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Cold solve on a dense all-applicant instance (4,000 households × 4,000 units, ~7M
/// eligible pairs); prints the time and a digest of the result bytes.
#[test]
#[ignore]
fn dense_all_applicants_cold() {
    let mut rng = Lcg(11);
    let (units, hh) = city_instance(&mut rng, N, 0, N);
    let mut e = v1_engine();
    e.load_json(&instance(&units, &hh, json!([]))).unwrap();
    let (a, _, _) = e.pairs().unwrap();
    println!("dense: eligible pairs {}", a.len());
    let t = std::time::Instant::now();
    let r = e.solve(0).unwrap();
    let v: serde_json::Value = serde_json::from_str(&r).unwrap();
    println!(
        "dense cold solve: {:?} objective {} bound {} digest {:016x}",
        t.elapsed(),
        v["objective"],
        v["bound"],
        digest(&r)
    );
}

/// Cold solve on the city shape (4,050 units, 3,000 tenants, 1,000 applicants).
#[test]
#[ignore]
fn city_cold() {
    let mut rng = Lcg(7);
    let (units, hh) = city_instance(&mut rng, 4050, 3000, 1000);
    let mut e = v1_engine();
    e.load_json(&instance(&units, &hh, json!([]))).unwrap();
    let t = std::time::Instant::now();
    let r = e.solve(0).unwrap();
    println!(
        "city cold solve: {:?} digest {:016x}",
        t.elapsed(),
        digest(&r)
    );
}

/// The policy of the file runs: v1, or v1 with ties broken by a lottery drawn from
/// `LOTTERY_SEED` (what policy v2 adds to v1).
fn file_engine() -> Engine {
    Engine::new(Policy {
        lottery_seed: std::env::var("LOTTERY_SEED").ok(),
        ..Policy::default()
    })
}

/// A capped instance file (`pyengine generate`) from scratch: `CAPPED_INSTANCE=path
/// [NODE_LIMIT=n] [LEGACY=1] [LOTTERY_SEED=s] cargo test --release --test perf
/// capped_instance_file -- --ignored --nocapture`.
#[test]
#[ignore]
fn capped_instance_file() {
    let Ok(path) = std::env::var("CAPPED_INSTANCE") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let mut e = file_engine();
    e.load_json(&text).unwrap();
    let limit: u64 = std::env::var("NODE_LIMIT").map_or(0, |v| v.parse().unwrap());
    // LEGACY=1: engine 0.1.0's branch and bound instead of the kept search (the default).
    e.use_kept_caps(std::env::var("LEGACY").is_err());
    let t = std::time::Instant::now();
    let s = e.rematch(limit).unwrap();
    println!("from scratch: {:?} {s:?}", t.elapsed());
}

/// A capped instance file and its operations (`pyengine generate --ops N --ops-output`), each
/// operation re-matched: `CAPPED_INSTANCE=path CAPPED_OPS=path [NODE_LIMIT=n] [LEGACY=1]
/// [LOTTERY_SEED=s] cargo test --release --test perf capped_stream_file -- --ignored
/// --nocapture`. Prints the latency per kind of operation, how many re-matches were proven,
/// and checks the last one against a from-scratch solve of the final snapshot.
#[test]
#[ignore]
fn capped_stream_file() {
    let (Ok(path), Ok(ops)) = (
        std::env::var("CAPPED_INSTANCE"),
        std::env::var("CAPPED_OPS"),
    ) else {
        return;
    };
    let limit: u64 = std::env::var("NODE_LIMIT").map_or(0, |v| v.parse().unwrap());
    let kept = std::env::var("LEGACY").is_err();
    let text = std::fs::read_to_string(path).unwrap();
    let mut inst: serde_json::Value = serde_json::from_str(&text).unwrap();
    let by_id = |v: &serde_json::Value| -> std::collections::BTreeMap<String, serde_json::Value> {
        let list = v.as_array().unwrap().iter();
        list.map(|x| (x["id"].as_str().unwrap().to_string(), x.clone()))
            .collect()
    };
    let (mut units, mut hh) = (by_id(&inst["units"]), by_id(&inst["households"]));
    let mut e = file_engine();
    e.load_json(&text).unwrap();
    e.use_kept_caps(kept);
    let t = std::time::Instant::now();
    let s0 = e.rematch(limit).unwrap();
    println!("from scratch: {:?} {s0:?}", t.elapsed());
    let mut times: std::collections::BTreeMap<String, Vec<f64>> = Default::default();
    let (mut proven, mut n) = (0, 0);
    for line in std::fs::read_to_string(ops).unwrap().lines() {
        let op: serde_json::Value = serde_json::from_str(line).unwrap();
        let kind = op["op"].as_str().unwrap().to_string();
        let t = std::time::Instant::now();
        match kind.as_str() {
            "upsert_household" => e.upsert_household_json(&op["household"].to_string()),
            "remove_household" => e.remove_household(op["id"].as_str().unwrap()),
            "upsert_unit" => e.upsert_unit_json(&op["unit"].to_string()),
            "remove_unit" => e.remove_unit(op["id"].as_str().unwrap()),
            _ => e.set_as_of_str(op["as_of"].as_str().unwrap()),
        }
        .unwrap();
        let id = |x: &serde_json::Value| x["id"].as_str().unwrap().to_string();
        match kind.as_str() {
            "upsert_household" => drop(hh.insert(id(&op["household"]), op["household"].clone())),
            "remove_household" => drop(hh.remove(op["id"].as_str().unwrap())),
            "upsert_unit" => drop(units.insert(id(&op["unit"]), op["unit"].clone())),
            "remove_unit" => drop(units.remove(op["id"].as_str().unwrap())),
            _ => inst["as_of"] = op["as_of"].clone(),
        }
        let s = e.rematch(limit).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        // One line per operation: a slow stream shows its progress.
        println!(
            "op {n:3} {kind:>18}: {ms:9.1} ms, {} nodes, optimal {}, objective {}",
            s.nodes, s.optimal, s.objective
        );
        times.entry(kind).or_default().push(ms);
        proven += usize::from(s.optimal);
        n += 1;
    }
    println!("{proven} of {n} re-matches proven optimal");
    for (kind, mut v) in times {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{kind:>18}: n {:3} p50 {:8.2} ms  p95 {:8.2} ms  max {:8.2} ms",
            v.len(),
            v[v.len() / 2],
            v[(v.len() * 95 / 100).min(v.len() - 1)],
            v[v.len() - 1]
        );
    }
    let last = e.result().unwrap();
    let mut fresh = file_engine();
    inst["units"] = units.into_values().collect();
    inst["households"] = hh.into_values().collect();
    fresh.load_json(&inst.to_string()).unwrap();
    fresh.use_kept_caps(kept);
    let t = std::time::Instant::now();
    let f = fresh.rematch(limit).unwrap();
    println!("fresh solve of the final snapshot: {:?}", t.elapsed());
    if !(f.optimal && proven == n) {
        // A node budget that stopped a search leaves the best allocation its path met:
        // only proven optima are the same whatever the path.
        println!("not compared: a re-match or the fresh solve stopped at its node budget");
        return;
    }
    let (a, b): (serde_json::Value, serde_json::Value) = (
        serde_json::from_str(&last).unwrap(),
        serde_json::from_str(&fresh.result().unwrap()).unwrap(),
    );
    assert_eq!(
        a["assignments"], b["assignments"],
        "stream and fresh solve differ"
    );
}
