//! Engine-level matching against brute force, with and without caps; invariants of results.

mod common;

use std::collections::BTreeMap;

use common::*;
use engine_core::Engine;
use serde_json::{json, Value};

/// Exhaustive optimum from the engine's own eligible pairs; caps recomputed here from the
/// instance so the engine's cap arithmetic is checked too.
fn brute(e: &Engine, units: &[Value], hh: &[Value], caps: &Value) -> i64 {
    let hids = e.household_ids();
    let uids = e.unit_ids();
    let hv: Vec<&Value> = hids
        .iter()
        .map(|id| hh.iter().find(|h| h["id"] == **id).unwrap())
        .collect();
    let uv: Vec<&Value> = uids
        .iter()
        .map(|id| units.iter().find(|u| u["id"] == **id).unwrap())
        .collect();
    let (ph, pu, pw) = e.pairs().unwrap();
    let mut opts: Vec<Vec<(usize, i64)>> = vec![Vec::new(); hids.len()];
    for k in 0..ph.len() {
        opts[ph[k] as usize].push((pu[k] as usize, pw[k]));
    }
    // (rule, scope) -> effective cap
    let mut cap: BTreeMap<(usize, String), i64> = BTreeMap::new();
    let rules = caps.as_array().unwrap();
    for (r, c) in rules.iter().enumerate() {
        let key = if c["scope"] == "building" {
            "building"
        } else {
            "stairwell"
        };
        let flag = c["flag"].as_str().unwrap();
        let mut n: BTreeMap<String, i64> = BTreeMap::new();
        for u in &uv {
            *n.entry(u[key].as_str().unwrap().to_string()).or_default() += 1;
        }
        for (s, cnt) in n {
            let v = match c["max_count"].as_i64() {
                Some(m) => m,
                None => (c["max_share"].as_f64().unwrap() * cnt as f64 + 1e-9).floor() as i64,
            };
            let sitting = hv
                .iter()
                .filter(|h| h[flag] == true && h["current_unit"].is_string())
                .filter(|h| {
                    uv.iter()
                        .any(|u| u["id"] == h["current_unit"] && u[key] == *s.as_str())
                })
                .count() as i64;
            cap.insert((r, s), v.max(sitting));
        }
    }
    struct S<'a> {
        opts: Vec<Vec<(usize, i64)>>,
        hv: Vec<&'a Value>,
        uv: Vec<&'a Value>,
        rules: &'a [Value],
        cap: BTreeMap<(usize, String), i64>,
    }
    fn go(
        s: &S,
        i: usize,
        used: &mut Vec<bool>,
        cnt: &mut BTreeMap<(usize, String), i64>,
    ) -> Option<i64> {
        if i == s.hv.len() {
            return Some(0);
        }
        let sitting = s.hv[i]["current_unit"].is_string();
        let mut best = if sitting {
            None
        } else {
            go(s, i + 1, used, cnt)
        };
        for &(u, w) in &s.opts[i] {
            if used[u] || (!sitting && w <= 0) {
                continue;
            }
            let keys: Vec<(usize, String)> = s
                .rules
                .iter()
                .enumerate()
                .filter(|(_, c)| s.hv[i][c["flag"].as_str().unwrap()] == true)
                .map(|(r, c)| {
                    let key = if c["scope"] == "building" {
                        "building"
                    } else {
                        "stairwell"
                    };
                    (r, s.uv[u][key].as_str().unwrap().to_string())
                })
                .collect();
            if keys
                .iter()
                .any(|k| cnt.get(k).copied().unwrap_or(0) + 1 > s.cap[k])
            {
                continue;
            }
            used[u] = true;
            keys.iter()
                .for_each(|k| *cnt.entry(k.clone()).or_default() += 1);
            if let Some(rest) = go(s, i + 1, used, cnt) {
                best = Some(best.map_or(rest + w, |b: i64| b.max(rest + w)));
            }
            used[u] = false;
            keys.iter().for_each(|k| *cnt.get_mut(k).unwrap() -= 1);
        }
        best
    }
    let s = S {
        opts,
        hv,
        uv,
        rules,
        cap,
    };
    go(&s, 0, &mut vec![false; uids.len()], &mut BTreeMap::new()).expect("staying put is feasible")
}

fn random_caps(rng: &mut Lcg) -> Value {
    let n = rng.below(4);
    let caps: Vec<Value> = (0..n)
        .map(|_| {
            let flag = if rng.below(2) == 0 {
                "disadvantaged"
            } else {
                "refugee"
            };
            let scope = if rng.below(2) == 0 {
                "building"
            } else {
                "stairwell"
            };
            if rng.below(2) == 0 {
                json!({"flag": flag, "scope": scope, "max_count": rng.below(3)})
            } else {
                let share = [0.0, 0.2, 0.3, 0.5][rng.below(4) as usize];
                json!({"flag": flag, "scope": scope, "max_share": share})
            }
        })
        .collect();
    json!(caps)
}

fn check_invariants(r: &Value, hh: &[Value]) {
    let assigned: BTreeMap<&str, &str> = r["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["household"].as_str().unwrap(),
                a["unit"].as_str().unwrap(),
            )
        })
        .collect();
    for h in hh {
        if h["current_unit"].is_string() {
            assert!(
                assigned.contains_key(h["id"].as_str().unwrap()),
                "sitting tenant evicted"
            );
        }
    }
    let total: i64 = r["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["score"].as_i64().unwrap())
        .sum();
    assert_eq!(total, r["objective"].as_i64().unwrap());
    for c in r["caps"].as_array().unwrap() {
        assert!(
            c["count"].as_i64() <= c["cap"].as_i64(),
            "cap exceeded: {c}"
        );
    }
    assert_eq!(r["optimal"], true);
    assert_eq!(r["bound"], r["objective"]);
}

#[test]
fn engine_matches_brute_force() {
    matches_brute_force(false);
}

#[test]
fn kept_capped_search_matches_brute_force() {
    matches_brute_force(true);
}

fn matches_brute_force(kept: bool) {
    let mut rng = Lcg(2024);
    let mut binding = 0;
    for t in 0..400 {
        let n_u = 1 + rng.below(7) as usize;
        let n_h = 1 + rng.below(7) as usize;
        let (units, hh) = random_instance(&mut rng, n_u, n_h, 2);
        let caps = if t % 4 == 0 {
            json!([])
        } else {
            random_caps(&mut rng)
        };
        let mut e = v1_engine();
        e.use_kept_caps(kept);
        e.load_json(&instance(&units, &hh, caps.clone())).unwrap();
        let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
        check_invariants(&r, &hh);
        assert_eq!(r["optimal"], true, "case {t}");
        assert_eq!(
            r["objective"].as_i64().unwrap(),
            brute(&e, &units, &hh, &caps),
            "case {t}"
        );
        assert_eq!(
            r["uncapped_objective"].as_i64().unwrap(),
            brute(&e, &units, &hh, &json!([])),
            "case {t}"
        );
        if r["objective"] != r["uncapped_objective"] {
            binding += 1;
        }
    }
    assert!(binding > 10, "only {binding} binding cases");
}

#[test]
fn same_bytes_under_input_permutation() {
    let mut rng = Lcg(99);
    for _ in 0..30 {
        let (mut units, mut hh) = random_instance(&mut rng, 30, 40, 4);
        let caps = json!([{"flag": "disadvantaged", "scope": "building", "max_share": 0.3}]);
        let mut e = v1_engine();
        e.use_kept_caps(rng.below(2) == 0);
        e.load_json(&instance(&units, &hh, caps.clone())).unwrap();
        let a = e.solve(0).unwrap();
        check_invariants(&serde_json::from_str(&a).unwrap(), &hh);
        units.reverse();
        hh.rotate_left(7);
        e.load_json(&instance(&units, &hh, caps)).unwrap();
        assert_eq!(a, e.solve(0).unwrap());
    }
}

#[test]
fn node_limit_reports_gap_or_optimum() {
    let mut rng = Lcg(3);
    for _ in 0..20 {
        let (units, hh) = random_instance(&mut rng, 30, 40, 3);
        let caps = json!([{"flag": "disadvantaged", "scope": "stairwell", "max_count": 1}]);
        let mut e = v1_engine();
        e.load_json(&instance(&units, &hh, caps)).unwrap();
        let full: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
        let cut: Value = serde_json::from_str(&e.solve(1).unwrap()).unwrap();
        let opt = full["objective"].as_i64().unwrap();
        assert!(cut["objective"].as_i64().unwrap() <= opt && opt <= cut["bound"].as_i64().unwrap());
        assert_eq!(cut["optimal"], cut["objective"] == cut["bound"]);
    }
}
