//! Re-match latency per kind of operation, run by hand on generated files:
//! `cargo run --release --example stream_latency -- INSTANCE.json OPS.jsonl [--quiet]`.
//! Prints the cold solve and, per operation kind, the median, p95 and max of the re-match
//! (`Engine::rematch`) after it.

use std::collections::BTreeMap;
use std::time::Instant;

use engine_core::model::Policy;
use engine_core::{io, Engine};
use serde_json::Value;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (inst, ops) = (&args[1], &args[2]);
    let verbose = !args.iter().any(|a| a == "--quiet");
    let mut e = Engine::new(Policy::default());
    let text = std::fs::read_to_string(inst).expect("instance");
    let t = Instant::now();
    e.load(io::instance(&text).expect("instance"))
        .expect("load");
    e.solve(0).expect("cold solve");
    eprintln!("cold load + solve: {:.1} s", t.elapsed().as_secs_f64());
    // Sitting tenants, to tell a unit vacated from a withdrawn application.
    let v: Value = serde_json::from_str(&text).expect("instance");
    let mut sitting: std::collections::BTreeSet<String> = v["households"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| !h["current_unit"].is_null())
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    let mut known: std::collections::BTreeSet<String> = v["households"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect();
    drop(v);
    let mut times: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for (n, line) in std::fs::read_to_string(ops)
        .expect("ops")
        .lines()
        .enumerate()
    {
        let op: Value = serde_json::from_str(line).expect("op");
        let kind = match op["op"].as_str().unwrap() {
            "upsert_household" => {
                let h = &op["household"];
                let id = h["id"].as_str().unwrap().to_string();
                let was = !known.insert(id.clone());
                if !h["current_unit"].is_null() {
                    sitting.insert(id);
                }
                let kind = match (was, h["current_unit"].is_null()) {
                    (false, _) => "new application",
                    (true, false) => "offer accepted",
                    (true, true) => "household changed",
                };
                e.upsert_household(io::household(&h.to_string()).unwrap())
                    .unwrap();
                kind
            }
            "remove_household" => {
                let id = op["id"].as_str().unwrap();
                known.remove(id);
                let was_sitting = sitting.remove(id);
                e.remove_household(id).unwrap();
                if was_sitting {
                    "unit vacated"
                } else {
                    "withdrawal"
                }
            }
            "upsert_unit" => {
                e.upsert_unit(io::unit(&op["unit"].to_string()).unwrap())
                    .unwrap();
                "unit changed"
            }
            "remove_unit" => {
                e.remove_unit(op["id"].as_str().unwrap()).unwrap();
                "unit withdrawn"
            }
            _ => {
                e.set_as_of(io::date(op["as_of"].as_str().unwrap(), "as_of").unwrap())
                    .unwrap();
                "new date"
            }
        };
        let t = Instant::now();
        e.rematch(0).unwrap();
        let ms = t.elapsed().as_secs_f64() * 1e3;
        if verbose {
            eprintln!(
                "{n:4} {kind:>18} {ms:9.2} ms rescored {:?} pricing {:?}",
                e.last_solve_stats(),
                e.last_pricing_stats()
            );
        }
        times.entry(kind.to_string()).or_default().push(ms);
    }
    let mut all: Vec<f64> = times.values().flatten().copied().collect();
    times.insert("(all)".into(), std::mem::take(&mut all));
    for (kind, mut v) in times {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!(
            "{kind:>18}: n {:4}  p50 {:9.2} ms  p95 {:9.2} ms  max {:9.2} ms  total {:9.1} ms",
            v.len(),
            v[v.len() / 2],
            v[(v.len() * 95 / 100).min(v.len() - 1)],
            v[v.len() - 1],
            v.iter().sum::<f64>()
        );
    }
}
