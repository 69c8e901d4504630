//! A cold solve of one instance file, for profiling by hand:
//! `cargo run --release --example cold_solve -- INSTANCE.json [NODE_LIMIT]`.

use std::time::Instant;

use engine_core::Engine;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit: u64 = args.get(2).map_or(0, |s| s.parse().expect("node limit"));
    let policy = r#"{"version": 1, "size_fit_base": 100, "size_fit_excess_penalty": 40,
 "size_fit_deficit_penalty": 100, "waiting_points_per_period": 2, "waiting_period_days": 30,
 "waiting_max_periods": 60, "urgency_points": 150, "stay_bonus": 1000,
 "transfer_own_unit_bonus": 0, "same_building_bonus": 60, "school_district_bonus": 80,
 "preferred_district_bonus": 40, "skill_bonus": 25, "skill_bonus_max": 75,
 "single_adult_rooms": 1}"#;
    let mut e = Engine::new(policy).expect("policy");
    let text = std::fs::read_to_string(&args[1]).expect("instance");
    e.load_instance(&text).expect("load");
    let t = Instant::now();
    let s = e.solve(limit).expect("solve");
    let secs = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&s).expect("result");
    println!(
        "objective {} bound {} optimal {} nodes {} in {secs:.2} s",
        v["objective"], v["bound"], v["optimal"], v["nodes"]
    );
}
