//! A cold solve of one instance file, for profiling by hand:
//! `cargo run --release --example cold_solve -- INSTANCE.json [NODE_LIMIT]`.

use std::time::Instant;

use engine_core::model::Policy;
use engine_core::{io, Engine};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let limit: u64 = args.get(2).map_or(0, |s| s.parse().expect("node limit"));
    let mut e = Engine::new(Policy::default());
    let text = std::fs::read_to_string(&args[1]).expect("instance");
    e.load(io::instance(&text).expect("instance"))
        .expect("load");
    let t = Instant::now();
    let s = e.solve(limit).expect("solve");
    let secs = t.elapsed().as_secs_f64();
    let v: serde_json::Value = serde_json::from_str(&s).expect("result");
    println!(
        "objective {} bound {} optimal {} nodes {} in {secs:.2} s",
        v["objective"], v["bound"], v["optimal"], v["nodes"]
    );
}
