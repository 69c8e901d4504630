//! Scale check, run by hand: `cargo test --release --test perf -- --ignored --nocapture`.
//! Prints timings only; timings are never asserted in tests.

mod common;

use common::*;
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
    let mut e = Engine::new(POLICY).unwrap();
    e.load_instance(&instance(&units, &hh, json!([]))).unwrap();
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
    e.set_caps(&caps.to_string()).unwrap();
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
