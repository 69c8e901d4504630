#![allow(dead_code)]
//! Builders for test instances.

use engine_core::io;
use engine_core::model::Policy;
use engine_core::Engine;
use serde_json::{json, Value};

/// The JSON forms of the engine's inputs, read by [`engine_core::io`] as the binding does: the
/// tests build their instances and operations as JSON values.
pub trait Json {
    fn load_json(&mut self, text: &str) -> Result<(), String>;
    fn upsert_unit_json(&mut self, text: &str) -> Result<(), String>;
    fn upsert_household_json(&mut self, text: &str) -> Result<(), String>;
    fn set_as_of_str(&mut self, date: &str) -> Result<(), String>;
    fn set_caps_json(&mut self, text: &str) -> Result<(), String>;
}

impl Json for Engine {
    fn load_json(&mut self, text: &str) -> Result<(), String> {
        self.load(io::instance(text)?)
    }
    fn upsert_unit_json(&mut self, text: &str) -> Result<(), String> {
        self.upsert_unit(io::unit(text)?)
    }
    fn upsert_household_json(&mut self, text: &str) -> Result<(), String> {
        self.upsert_household(io::household(text)?)
    }
    fn set_as_of_str(&mut self, date: &str) -> Result<(), String> {
        self.set_as_of(io::date(date, "as_of")?)
    }
    fn set_caps_json(&mut self, text: &str) -> Result<(), String> {
        self.set_caps(io::caps(text)?);
        Ok(())
    }
}

/// An engine under the default policy (v1).
pub fn v1_engine() -> Engine {
    Engine::new(Policy::default())
}

pub fn unit(id: &str, building: &str, rooms: i64) -> Value {
    json!({"id": id, "building": building, "stairwell": format!("{building}-A"), "floor": 1,
           "rooms": rooms, "area_m2": 48.5, "rent_nok_month": 6800, "accessible": false,
           "kind": "ordinary", "district": "Lademoen", "school_district": null})
}

pub fn household(id: &str, adults: i64, children: i64) -> Value {
    json!({"id": id, "adults": adults, "children": children, "needs_accessible": false,
           "care_need": false, "disadvantaged": false, "refugee": false, "urgency": 0,
           "applied_on": null, "skills": [], "preferred_districts": [],
           "school_district": null, "current_unit": null, "transfer_requested": false})
}

pub fn instance(units: &[Value], households: &[Value], caps: Value) -> String {
    json!({"as_of": "2021-05-01", "units": units, "households": households, "caps": caps})
        .to_string()
}

/// Tiny deterministic LCG so tests need no rand crate.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// A random portfolio: `n_b` buildings with two stairwells each, a mix of applicants and
/// sitting tenants (some asking for a transfer), flags, skills and districts.
pub fn random_instance(
    rng: &mut Lcg,
    n_units: usize,
    n_hh: usize,
    n_b: u64,
) -> (Vec<Value>, Vec<Value>) {
    let districts = ["Lademoen", "Saupstad", "Rosenborg"];
    let skills = ["gardening", "childcare", "cleaning", "maintenance", "admin"];
    let units: Vec<Value> = (0..n_units)
        .map(|i| {
            let b = rng.below(n_b);
            let mut u = unit(
                &format!("U{i:05}"),
                &format!("B{b}"),
                1 + rng.below(4) as i64,
            );
            u["stairwell"] = json!(format!("B{b}-{}", rng.below(2)));
            u["accessible"] = json!(rng.below(3) == 0);
            u["kind"] = json!(if rng.below(8) == 0 {
                "care"
            } else {
                "ordinary"
            });
            u["district"] = json!(districts[rng.below(3) as usize]);
            u["school_district"] = if rng.below(2) == 0 {
                json!(districts[rng.below(3) as usize])
            } else {
                Value::Null
            };
            u
        })
        .collect();
    let mut free: Vec<usize> = (0..n_units).collect();
    let households: Vec<Value> = (0..n_hh)
        .map(|i| {
            let mut h = household(
                &format!("H{i:05}"),
                1 + rng.below(3) as i64,
                rng.below(4) as i64 * rng.below(2) as i64,
            );
            h["needs_accessible"] = json!(rng.below(6) == 0);
            h["care_need"] = json!(rng.below(8) == 0);
            h["disadvantaged"] = json!(rng.below(3) == 0);
            h["refugee"] = json!(rng.below(5) == 0);
            h["urgency"] = json!(rng.below(4));
            let sk: Vec<&str> = (0..rng.below(3))
                .map(|_| skills[rng.below(5) as usize])
                .collect();
            h["skills"] = json!(sk);
            h["preferred_districts"] = json!([districts[rng.below(3) as usize]]);
            h["school_district"] = json!(districts[rng.below(3) as usize]);
            if !free.is_empty() && rng.below(3) == 0 {
                let k = rng.below(free.len() as u64) as usize;
                let u = free.swap_remove(k);
                h["current_unit"] = json!(format!("U{u:05}"));
                h["transfer_requested"] = json!(rng.below(2) == 0);
            } else {
                h["applied_on"] = json!(format!(
                    "20{:02}-{:02}-{:02}",
                    10 + rng.below(11),
                    1 + rng.below(12),
                    1 + rng.below(28)
                ));
            }
            h
        })
        .collect();
    (units, households)
}

/// City-like portfolio: ~`n_units` units in buildings of 20–60 units, rooms 1–5 weighted to
/// 2, 27% care units, `n_tenants` sitting tenants (a quarter asking for a transfer) and
/// `n_applicants` applicants, 80% of households single.
pub fn city_instance(
    rng: &mut Lcg,
    n_units: usize,
    n_tenants: usize,
    n_applicants: usize,
) -> (Vec<Value>, Vec<Value>) {
    let districts = [
        "Lademoen",
        "Saupstad",
        "Rosenborg",
        "Byasen",
        "Heimdal",
        "Moholt",
    ];
    let skills = ["gardening", "childcare", "cleaning", "maintenance", "admin"];
    let rooms = [1, 2, 2, 2, 2, 3, 3, 4, 5];
    let mut units = Vec::new();
    let mut b = 0;
    while units.len() < n_units {
        let size = 20 + rng.below(41) as usize;
        let district = districts[rng.below(6) as usize];
        let care = rng.below(100) < 27;
        for _ in 0..size.min(n_units - units.len()) {
            let mut u = unit(&format!("U{:06}", units.len()), &format!("B{b:04}"), 1);
            u["rooms"] = json!(rooms[rng.below(rooms.len() as u64) as usize]);
            u["stairwell"] = json!(format!("B{b:04}-{}", rng.below(3)));
            u["accessible"] = json!(rng.below(4) == 0);
            u["kind"] = json!(if care { "care" } else { "ordinary" });
            u["district"] = json!(district);
            u["school_district"] = json!(district);
            units.push(u);
        }
        b += 1;
    }
    let mut order: Vec<usize> = (0..units.len()).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut hh = Vec::new();
    for i in 0..n_tenants + n_applicants {
        let single = rng.below(100) < 80;
        let mut h = if single {
            household(&format!("H{i:06}"), 1, 0)
        } else {
            household(
                &format!("H{i:06}"),
                1 + rng.below(2) as i64,
                rng.below(4) as i64,
            )
        };
        h["needs_accessible"] = json!(rng.below(10) == 0);
        h["disadvantaged"] = json!(rng.below(4) == 0);
        h["urgency"] = json!(if rng.below(5) == 0 { rng.below(4) } else { 0 });
        let sk: Vec<&str> = (0..rng.below(3))
            .map(|_| skills[rng.below(5) as usize])
            .collect();
        h["skills"] = json!(sk);
        h["preferred_districts"] = json!([districts[rng.below(6) as usize]]);
        h["school_district"] = json!(districts[rng.below(6) as usize]);
        if i < n_tenants {
            let u = &units[order[i]];
            h["current_unit"] = u["id"].clone();
            h["care_need"] = json!(u["kind"] == "care");
            h["transfer_requested"] = json!(rng.below(4) == 0);
        } else {
            h["care_need"] = json!(rng.below(100) < 20);
            h["applied_on"] = json!(format!(
                "20{:02}-{:02}-{:02}",
                10 + rng.below(11),
                1 + rng.below(12),
                1 + rng.below(28)
            ));
        }
        hh.push(h);
    }
    (units, hh)
}
