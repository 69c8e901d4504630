//! Hand-computed cases for policy v1: rooms needed, rules 1–7, every score component, caps.

mod common;

use common::*;
use engine_core::io;
use engine_core::model::Policy;
use engine_core::scoring::{rooms_needed, Breakdown};
use engine_core::Engine;
use serde_json::{json, Value};

fn engine(units: &[Value], households: &[Value]) -> Engine {
    let mut e = v1_engine();
    e.load_json(&instance(units, households, json!([])))
        .unwrap();
    e
}

fn bd(e: &Engine, h: &str, u: &str) -> Breakdown {
    e.score_breakdown(h, u)
        .unwrap()
        .unwrap_or_else(|| panic!("{h}/{u}: {:?}", e.ineligibility_reason(h, u)))
}

fn reason(e: &Engine, h: &str, u: &str) -> String {
    let r = e.ineligibility_reason(h, u).unwrap().expect("ineligible");
    assert_eq!(e.score_breakdown(h, u).unwrap(), None);
    r
}

fn with(mut v: Value, key: &str, val: Value) -> Value {
    v[key] = val;
    v
}

#[test]
fn rooms_needed_formula() {
    let p = Policy::default();
    let need = |a, c| {
        let h = engine_core::model::Household::from_value(&household("H", a, c), "h").unwrap();
        rooms_needed(&p, &h)
    };
    assert_eq!(need(1, 0), 1); // single adult
    assert_eq!(need(2, 0), 2); // one bedroom + living room
    assert_eq!(need(1, 1), 3); // 1 + ceil(1/2) bedrooms
    assert_eq!(need(1, 2), 3);
    assert_eq!(need(1, 3), 4);
    assert_eq!(need(3, 0), 3); // extra adult, extra bedroom
    assert_eq!(need(4, 4), 6); // 1 + 2 + 2 bedrooms
}

#[test]
fn size_fit_and_rule_2() {
    let units = [
        unit("U1", "B1", 1),
        unit("U2", "B1", 2),
        unit("U3", "B1", 4),
        unit("U4", "B1", 2),
    ];
    let hh = [
        household("H1", 2, 0),
        with(household("T1", 1, 1), "current_unit", json!("U4")),
    ];
    let e = engine(&units, &hh);
    assert_eq!(
        reason(&e, "H1", "U1"),
        "rule 2: unit has 1 rooms, household needs 2"
    );
    assert_eq!(bd(&e, "H1", "U2").size_fit, 100);
    assert_eq!(bd(&e, "H1", "U3").size_fit, 100 - 2 * 40);
    // Rule 6: own unit stays eligible although too small (2 rooms, needs 3).
    assert!(reason(&e, "T1", "U3").starts_with("rule 5:"));
    let b = bd(&e, "T1", "U4");
    assert_eq!(b.size_fit, -100);
    assert_eq!(b.tenure_stability, 1000);
}

#[test]
fn rules_1_3_4_5_6_7() {
    let mut care = unit("C1", "B2", 2);
    care["kind"] = json!("care");
    let mut acc = unit("A1", "B1", 2);
    acc["accessible"] = json!(true);
    let units = [
        unit("U1", "B1", 2),
        unit("U2", "B1", 2),
        care,
        acc,
        unit("U3", "B3", 1),
    ];
    let hh = [
        household("H1", 1, 0),
        with(household("H2", 1, 0), "needs_accessible", json!(true)),
        with(household("H3", 1, 0), "care_need", json!(true)),
        with(household("T1", 1, 0), "current_unit", json!("U1")),
        with(
            with(household("T2", 1, 0), "current_unit", json!("U3")),
            "transfer_requested",
            json!(true),
        ),
    ];
    let e = engine(&units, &hh);
    assert_eq!(
        reason(&e, "H1", "U1"),
        "rule 1: unit is let to household T1"
    );
    assert_eq!(
        reason(&e, "H2", "U2"),
        "rule 3: household needs step-free access, unit is not accessible"
    );
    assert!(bd(&e, "H2", "A1").total() > 0);
    assert_eq!(
        reason(&e, "H3", "U2"),
        "rule 4: household has a care need, unit is not a care unit"
    );
    assert_eq!(
        reason(&e, "H1", "C1"),
        "rule 4: unit is a care unit, household has no care need"
    );
    assert!(bd(&e, "H3", "C1").total() > 0);
    assert_eq!(
        reason(&e, "T1", "U2"),
        "rule 5: sitting tenant without a transfer request is eligible for their current unit only"
    );
    assert_eq!(bd(&e, "T1", "U1").tenure_stability, 1000);
    // T2 asks for a transfer: own unit U3 scores 100 (size) + 0 (transfer_own_unit_bonus).
    assert_eq!(bd(&e, "T2", "U3").total(), 100);
    // U2 (2 rooms) scores 60 for a single adult: worse than staying, so rule 7 blocks it.
    assert_eq!(
        reason(&e, "T2", "U2"),
        "rule 7: unit scores 60 for the household, below 100 for its current unit"
    );
    // Rule 1 is reported before rule 2 when both fail.
    assert!(reason(&e, "H3", "U1").starts_with("rule 1:"));
}

#[test]
fn rule_7_allows_equal_or_better() {
    let units = [
        unit("U1", "B1", 2),
        unit("U2", "B1", 2),
        unit("U3", "B2", 2),
    ];
    let t = with(
        with(household("T1", 2, 0), "current_unit", json!("U1")),
        "transfer_requested",
        json!(true),
    );
    let mut e = engine(&units, &[t]);
    // Own: 100 + 0. Same building: 100 + 60. Other building: 100 (equal, allowed).
    assert_eq!(bd(&e, "T1", "U1").total(), 100);
    assert_eq!(bd(&e, "T1", "U2").tenure_stability, 60);
    assert_eq!(bd(&e, "T1", "U3").total(), 100);
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert_eq!(r["assignments"][0]["unit"], "U2");
    assert_eq!(r["objective"], 160);
}

#[test]
fn waiting_floor_and_cap() {
    let units = [unit("U1", "B1", 1)];
    let hh = [
        with(household("H1", 1, 0), "applied_on", json!("2021-03-03")), // 59 days
        with(household("H2", 1, 0), "applied_on", json!("2021-03-02")), // 60 days
        with(household("H3", 1, 0), "applied_on", json!("2010-01-01")), // capped
        with(household("H4", 1, 0), "applied_on", json!("2021-05-01")), // today
    ];
    let e = engine(&units, &hh);
    assert_eq!(bd(&e, "H1", "U1").waiting, 2);
    assert_eq!(bd(&e, "H2", "U1").waiting, 4);
    assert_eq!(bd(&e, "H3", "U1").waiting, 120);
    assert_eq!(bd(&e, "H4", "U1").waiting, 0);
    let late = with(household("H5", 1, 0), "applied_on", json!("2021-05-02"));
    let mut e2 = v1_engine();
    let err = e2
        .load_json(&instance(&units, &[hh[0].clone(), late.clone()], json!([])))
        .unwrap_err();
    assert_eq!(err, "households[1].applied_on: after as_of");
    assert_eq!(
        e.clone()
            .upsert_household_json(&late.to_string())
            .unwrap_err(),
        "household.applied_on: after as_of"
    );
    assert!(e.clone().set_as_of_str("2021-01-01").is_err());
}

#[test]
fn urgency_tenure_preference() {
    let mut u1 = unit("U1", "B1", 3);
    u1["school_district"] = json!("Lademoen");
    let mut u2 = unit("U2", "B2", 3);
    u2["district"] = json!("Saupstad");
    u2["school_district"] = json!("Saupstad");
    let mut h1 = household("H1", 1, 1);
    h1["urgency"] = json!(2);
    h1["school_district"] = json!("Lademoen");
    h1["preferred_districts"] = json!(["Saupstad"]);
    let mut h2 = household("H2", 2, 0); // no children: no school bonus
    h2["school_district"] = json!("Lademoen");
    let mut h3 = household("H3", 1, 1); // children but no school district
    h3["school_district"] = Value::Null;
    let e = engine(&[u1, u2], &[h1, h2, h3]);
    let b = bd(&e, "H1", "U1");
    assert_eq!(
        b,
        Breakdown {
            size_fit: 100,
            waiting: 0,
            urgency: 300,
            tenure_stability: 80,
            preference: 0,
            resource_mix: 0
        }
    );
    let b = bd(&e, "H1", "U2");
    assert_eq!((b.tenure_stability, b.preference), (0, 40));
    assert_eq!(bd(&e, "H2", "U1").tenure_stability, 0);
    assert_eq!(bd(&e, "H2", "U1").size_fit, 60);
    assert_eq!(bd(&e, "H3", "U1").tenure_stability, 0);
}

#[test]
fn resource_mix_cap_and_self_exclusion() {
    let units = [
        unit("U1", "B1", 1),
        unit("U2", "B1", 1),
        unit("U3", "B2", 1),
        unit("U4", "B1", 1),
    ];
    let mut t1 = with(household("T1", 1, 0), "current_unit", json!("U1"));
    t1["skills"] = json!(["gardening"]);
    t1["transfer_requested"] = json!(true);
    let mut h1 = household("H1", 1, 0);
    h1["skills"] = json!(["gardening", "childcare", "cleaning", "admin", "childcare"]);
    let mut h2 = household("H2", 1, 0);
    h2["skills"] = json!(["gardening", "gardening"]);
    let e = engine(&units, &[t1.clone(), h1, h2.clone()]);
    // B2 has no sitting tenants: 4 distinct skills × 25 = 100, capped at 75.
    assert_eq!(bd(&e, "H1", "U3").resource_mix, 75);
    // B1 has gardening (T1): three skills left.
    assert_eq!(bd(&e, "H1", "U2").resource_mix, 75);
    assert_eq!(bd(&e, "H2", "U2").resource_mix, 0);
    assert_eq!(bd(&e, "H2", "U3").resource_mix, 25); // duplicates count once
                                                     // T1 itself is excluded: B1 lacks gardening from T1's point of view.
    assert_eq!(bd(&e, "T1", "U1").resource_mix, 25);
    assert_eq!(bd(&e, "T1", "U2").resource_mix, 25);
    // A second gardener living in B1 takes the bonus away from T1.
    let t2 = with(with(h2, "id", json!("T2")), "current_unit", json!("U4"));
    let e = engine(&units, &[t1, t2]);
    assert_eq!(bd(&e, "T1", "U2").resource_mix, 0);
}

#[test]
fn caps_rounding_and_sitting_floor() {
    let mut units: Vec<Value> = (0..10).map(|i| unit(&format!("A{i}"), "B1", 1)).collect();
    units.extend((0..7).map(|i| unit(&format!("C{i}"), "B2", 1)));
    let mut hh = Vec::new();
    for i in 0..6 {
        let mut h = with(
            household(&format!("H{i}"), 1, 0),
            "disadvantaged",
            json!(true),
        );
        h["current_unit"] = json!(format!("C{i}"));
        if i >= 3 {
            h["current_unit"] = Value::Null;
        }
        hh.push(h);
    }
    let caps = json!([
        {"flag": "disadvantaged", "scope": "building", "max_share": 0.3},
        {"flag": "refugee", "scope": "stairwell", "max_count": 1}
    ]);
    let mut e = v1_engine();
    e.load_json(&instance(&units, &hh, caps)).unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    let rows = r["caps"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    // 0.3 × 10 = 3 exactly (not 2.999…); 0.3 × 7 = 2.1 → 2, raised to the 3 living there.
    assert_eq!(
        rows[0],
        json!({"rule": 0, "flag": "disadvantaged", "scope": "B1", "count": 3, "cap": 3, "units": 10})
    );
    assert_eq!(
        rows[1],
        json!({"rule": 0, "flag": "disadvantaged", "scope": "B2", "count": 3, "cap": 3, "units": 7})
    );
    assert_eq!(
        rows[2],
        json!({"rule": 1, "flag": "refugee", "scope": "B1-A", "count": 0, "cap": 1, "units": 10})
    );
    assert_eq!(r["optimal"], true);
}

#[test]
fn a_cap_counts_households_by_tag() {
    // Four one-room flats in one stairwell, five equal applicants; three are tagged "student"
    // (one twice), and at most one student may live in the stairwell.
    let units: Vec<Value> = (0..4).map(|i| unit(&format!("U{i}"), "B1", 1)).collect();
    let mut hh: Vec<Value> = (0..5).map(|i| household(&format!("H{i}"), 1, 0)).collect();
    hh[0]["tags"] = json!(["student"]);
    hh[1]["tags"] = json!(["student", "young", "student"]);
    hh[2]["tags"] = json!(["student"]);
    hh[3]["tags"] = json!([]);
    // hh[4] has no "tags" field: it was written before tags existed.
    let caps = json!([{"flag": "student", "scope": "stairwell", "max_count": 1}]);
    let mut e = v1_engine();
    e.load_json(&instance(&units, &hh, caps)).unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    let housed: Vec<&str> = r["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["household"].as_str().unwrap())
        .collect();
    assert_eq!(housed.len(), 3, "{housed:?}");
    assert!(housed.contains(&"H3") && housed.contains(&"H4"));
    assert_eq!(
        r["caps"][0],
        json!({"rule": 0, "flag": "student", "scope": "B1-A", "count": 1, "cap": 1, "units": 4})
    );
    let bad = json!([{"flag": "", "scope": "stairwell", "max_count": 1}]);
    assert_eq!(
        e.set_caps_json(&bad.to_string()).unwrap_err(),
        "caps[0].flag: must not be empty"
    );
}

#[test]
fn a_unit_held_by_an_offer_stays_with_its_applicant_without_the_stay_bonus() {
    // H2 outscores H1 for U1 (urgency), but an open offer holds U1 for H1.
    let units = [unit("U1", "B1", 1), unit("U2", "B2", 1)];
    let mut h1 = household("H1", 1, 0);
    h1["applied_on"] = json!("2021-01-01");
    h1["held_unit"] = json!("U1");
    let mut h2 = household("H2", 1, 0);
    h2["applied_on"] = json!("2021-01-01");
    h2["urgency"] = json!(3);
    let caps = json!([{"flag": "disadvantaged", "scope": "building", "max_count": 0}]);
    let mut e = v1_engine();
    e.load_json(&instance(&units[..1], &[h1.clone(), h2.clone()], caps))
        .unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    let a = &r["assignments"][0];
    assert_eq!((&a["household"], &a["unit"]), (&json!("H1"), &json!("U1")));
    assert_eq!(a["breakdown"]["tenure_stability"], 0);
    assert_eq!(r["unmatched"], json!(["H2"]));
    // The offer ends: U1 goes to H2, the better score for it.
    h1["held_unit"] = Value::Null;
    e.upsert_household_json(&h1.to_string()).unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert_eq!(r["assignments"][0]["household"], "H2");
    // A held unit cannot be another household's home, nor a sitting tenant's offer hold one.
    e.upsert_unit_json(&units[1].to_string()).unwrap();
    let mut h3 = household("H3", 1, 0);
    h3["current_unit"] = json!("U2");
    h3["held_unit"] = json!("U1");
    assert_eq!(
        e.upsert_household_json(&h3.to_string()).unwrap_err(),
        "household.held_unit: a sitting tenant's offer holds no unit"
    );
    h2["held_unit"] = json!("U1");
    e.upsert_household_json(&h2.to_string()).unwrap();
    h1["held_unit"] = json!("U1");
    assert_eq!(
        e.upsert_household_json(&h1.to_string()).unwrap_err(),
        "household.held_unit: unit U1 is already the current unit of household H2"
    );
}

#[test]
fn rule_8_keeps_a_declined_unit_from_its_household_until_the_hold_lapses() {
    // H2 outscores H1 for U1 (urgency), but declined it lately; a sitting tenant's own unit
    // stays eligible whatever it lists (rule 6).
    let units = [unit("U1", "B1", 1), unit("U2", "B2", 1)];
    let mut h1 = household("H1", 1, 0);
    h1["applied_on"] = json!("2021-01-01");
    let mut h2 = household("H2", 1, 0);
    h2["applied_on"] = json!("2021-01-01");
    h2["urgency"] = json!(3);
    h2["declined_units"] = json!(["U1", "U9"]);
    let mut e = v1_engine();
    e.load_json(&instance(&units[..1], &[h1.clone(), h2.clone()], json!([])))
        .unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert_eq!(r["assignments"][0]["household"], "H1");
    assert!(reason(&e, "H2", "U1").starts_with("rule 8:"));
    // The hold lapses (the household is sent again without it): U1 goes to H2.
    h2["declined_units"] = json!([]);
    e.upsert_household_json(&h2.to_string()).unwrap();
    e.rematch(0).unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert_eq!(r["assignments"][0]["household"], "H2");
    let mut h3 = household("H3", 1, 0);
    e.upsert_unit_json(&units[1].to_string()).unwrap();
    h3["current_unit"] = json!("U2");
    h3["declined_units"] = json!(["U2"]);
    e.upsert_household_json(&h3.to_string()).unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert!(r["assignments"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["household"] == "H3" && a["unit"] == "U2"));
}

#[test]
fn task_coverage_points_by_stairwell_and_floor() {
    // Stairwell B1-A has a gardener (T1); B1-B's tenant (T2) cleans. Both units' floors are
    // floor 1 of B1 (T1, T2) or floor 2 (nobody).
    let mut units = vec![unit("A1", "B1", 1), unit("A2", "B1", 1)];
    units.push(with(unit("B1", "B1", 1), "stairwell", json!("B1-B")));
    units.push(with(
        with(unit("B2", "B1", 1), "stairwell", json!("B1-B")),
        "floor",
        json!(2),
    ));
    let mut t1 = with(household("T1", 1, 0), "current_unit", json!("A1"));
    t1["skills"] = json!(["gardening"]);
    let mut t2 = with(household("T2", 1, 0), "current_unit", json!("B1"));
    t2["skills"] = json!(["cleaning"]);
    let mut h = household("H1", 1, 0);
    h["skills"] = json!(["gardening", "cleaning", "music"]);
    let rules =
        |scope: &str| json!([{"tasks": ["gardening", "cleaning"], "scope": scope, "points": 50}]);
    let mut policy: Value = serde_json::from_str(POLICY_JSON).unwrap();
    for (scope, a2, b2) in [("stairwell", 50, 50), ("floor", 0, 100), ("building", 0, 0)] {
        policy["coverage"] = rules(scope);
        let mut e = Engine::new(io::policy(&policy.to_string()).unwrap());
        e.load_json(&instance(
            &units,
            &[t1.clone(), t2.clone(), h.clone()],
            json!([]),
        ))
        .unwrap();
        // The resource mix (25 per skill no other tenant of the building has: music) plus
        // 50 per listed task no other resident of the unit's scope has.
        assert_eq!(bd(&e, "H1", "A2").resource_mix, 25 + a2, "{scope}");
        assert_eq!(bd(&e, "H1", "B2").resource_mix, 25 + b2, "{scope}");
        // A tenant's own tasks do not count against it: the only gardener anywhere.
        assert_eq!(bd(&e, "T1", "A1").resource_mix, 25 + 50, "{scope}");
    }
    policy["coverage"] = json!([{"tasks": [], "scope": "floor", "points": 1}]);
    assert_eq!(
        io::policy(&policy.to_string()).unwrap_err(),
        "policy.coverage[0].tasks: expected 1 to 64 task names, none empty"
    );
    policy["coverage"] = json!([{"tasks": ["a"], "scope": "block", "points": 1}]);
    assert!(io::policy(&policy.to_string())
        .unwrap_err()
        .starts_with("policy.coverage[0].scope: expected"));
}

#[test]
fn rules_limited_to_some_buildings() {
    // Two one-room flats in B1 and B2; two disadvantaged applicants, H2 young.
    let units = [unit("U1", "B1", 1), unit("U2", "B2", 1)];
    let mut h1 = with(household("H1", 1, 0), "disadvantaged", json!(true));
    h1["applied_on"] = json!("2021-01-01");
    let mut h2 = with(h1.clone(), "id", json!("H2"));
    h2["tags"] = json!(["young"]);
    // A cap of 0 in B1 only: nobody disadvantaged goes to U1; B2 is not capped.
    let caps = json!([{"flag": "disadvantaged", "scope": "building", "max_count": 0,
                       "buildings": ["B1"]}]);
    let mut e = v1_engine();
    e.load_json(&instance(&units, &[h1.clone(), h2.clone()], caps))
        .unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert_eq!(r["assignments"].as_array().unwrap().len(), 1);
    assert_eq!(r["assignments"][0]["unit"], "U2");
    assert_eq!(
        r["caps"],
        json!([{"rule": 0, "flag": "disadvantaged", "scope": "B1", "count": 0, "cap": 0, "units": 1}])
    );
    // A bonus for young households in B2 only, in the resource mix.
    let mut policy: Value = serde_json::from_str(POLICY_JSON).unwrap();
    policy["mix_bonuses"] = json!([{"flag": "young", "points": 40, "buildings": ["B2"]}]);
    let mut e = Engine::new(io::policy(&policy.to_string()).unwrap());
    e.load_json(&instance(&units, &[h1, h2], json!([])))
        .unwrap();
    assert_eq!(bd(&e, "H2", "U2").resource_mix, 40);
    assert_eq!(bd(&e, "H2", "U1").resource_mix, 0);
    assert_eq!(bd(&e, "H1", "U2").resource_mix, 0);
}

#[test]
fn result_file_bytes() {
    let mut u1 = unit("U1", "B1", 1);
    u1["school_district"] = json!("Lademoen");
    let mut h1 = household("H1", 1, 0);
    h1["preferred_districts"] = json!(["Lademoen"]);
    let h7 = with(household("H7", 2, 0), "applied_on", json!("2021-01-01"));
    let mut e = engine(&[u1], &[h7, h1]);
    let want = r#"{"assignments":[{"household":"H1","unit":"U1","score":140,"breakdown":{"size_fit":100,"waiting":0,"urgency":0,"tenure_stability":0,"preference":40,"resource_mix":0}}],"unmatched":["H7"],"objective":140,"bound":140,"uncapped_objective":140,"optimal":true,"nodes":1,"caps":[],"policy_version":1,"engine_version":"engine_core 0.2.0"}"#;
    assert_eq!(e.solve(0).unwrap(), want);
}

/// Policy v1 in its JSON form, as the Python side sends it.
const POLICY_JSON: &str = r#"{"version": 1, "size_fit_base": 100, "size_fit_excess_penalty": 40,
 "size_fit_deficit_penalty": 100, "waiting_points_per_period": 2, "waiting_period_days": 30,
 "waiting_max_periods": 60, "urgency_points": 150, "stay_bonus": 1000,
 "transfer_own_unit_bonus": 0, "same_building_bonus": 60, "school_district_bonus": 80,
 "preferred_district_bonus": 40, "skill_bonus": 25, "skill_bonus_max": 75,
 "single_adult_rooms": 1}"#;

#[test]
fn the_policy_json_reads_as_the_default_v1() {
    assert_eq!(io::policy(POLICY_JSON).unwrap(), Policy::default());
}

#[test]
fn malformed_input_is_an_error() {
    let e = v1_engine();
    let bad_policy = POLICY_JSON.replace("\"version\": 1", "\"version\": 1, \"extra\": 2");
    assert_eq!(
        io::policy(&bad_policy).unwrap_err(),
        "policy.extra: unknown field"
    );
    let bad_policy = POLICY_JSON.replace("\"stay_bonus\": 1000", "\"stay_bonus\": \"x\"");
    assert_eq!(
        io::policy(&bad_policy).unwrap_err(),
        "policy.stay_bonus: expected an integer"
    );
    let mut e = e;
    let u = unit("U1", "B1", 1);
    let cases = [
        (
            instance(&[with(u.clone(), "rooms", json!(-1))], &[], json!([])),
            "units[0].rooms: must be between 0 and 1000, got -1",
        ),
        (
            instance(&[with(u.clone(), "kind", json!("villa"))], &[], json!([])),
            "units[0].kind: expected \"ordinary\" or \"care\", got \"villa\"",
        ),
        (
            instance(&[u.clone(), u.clone()], &[], json!([])),
            "units[1].id: duplicate id U1",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[with(household("H1", 1, 0), "current_unit", json!("U9"))],
                json!([]),
            ),
            "households[0].current_unit: unknown unit U9",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[
                    with(household("H1", 1, 0), "current_unit", json!("U1")),
                    with(household("H2", 1, 0), "current_unit", json!("U1")),
                ],
                json!([]),
            ),
            "households[1].current_unit: unit U1 is already the current unit of household H1",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[with(household("H1", 1, 0), "urgency", json!(4))],
                json!([]),
            ),
            "households[0].urgency: must be between 0 and 3, got 4",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[with(
                    household("H1", 1, 0),
                    "applied_on",
                    json!("2021-02-30"),
                )],
                json!([]),
            ),
            "households[0].applied_on: no such date \"2021-02-30\"",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[],
                json!([{"flag": "refugee", "scope": "building"}]),
            ),
            "caps[0]: exactly one of max_share and max_count is required",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[],
                json!([{"flag": "refugee", "scope": "building", "max_share": 0.2, "max_count": 1}]),
            ),
            "caps[0]: exactly one of max_share and max_count is required",
        ),
        (
            instance(
                std::slice::from_ref(&u),
                &[],
                json!([{"flag": "rich", "scope": "yard", "max_count": 1}]),
            ),
            "caps[0].scope: expected \"building\" or \"stairwell\", got \"yard\"",
        ),
        ("[1]".to_string(), "<root>: expected an object"),
        ("{".to_string(), ""),
    ];
    for (text, msg) in cases {
        let err = e.load_json(&text).unwrap_err();
        if msg.is_empty() {
            assert!(err.starts_with("instance: invalid JSON"), "{err}");
        } else {
            assert_eq!(err, msg);
        }
    }
    assert_eq!(e.solve(0).unwrap_err(), "as_of: not set");
}

#[test]
fn incremental_updates() {
    let mut e = v1_engine();
    e.load_json(&instance(
        &[unit("U1", "B1", 1)],
        &[with(household("T1", 1, 0), "current_unit", json!("U1"))],
        json!([]),
    ))
    .unwrap();
    assert_eq!(
        e.remove_unit("U1").unwrap_err(),
        "id: unit U1 is the current unit of household T1"
    );
    assert_eq!(e.remove_unit("U2").unwrap_err(), "id: unknown unit U2");
    let h2 = with(household("H2", 1, 0), "current_unit", json!("U1"));
    assert!(e
        .upsert_household_json(&h2.to_string())
        .unwrap_err()
        .contains("already the current unit"));
    let h2 = with(household("H2", 1, 0), "current_unit", json!("U9"));
    assert_eq!(
        e.upsert_household_json(&h2.to_string()).unwrap_err(),
        "household.current_unit: unknown unit U9"
    );
    e.upsert_unit_json(&unit("U2", "B1", 1).to_string())
        .unwrap();
    e.upsert_household_json(&household("H2", 1, 0).to_string())
        .unwrap();
    assert_eq!(e.unit_ids(), ["U1", "U2"]);
    assert_eq!(e.household_ids(), ["H2", "T1"]);
    let (h, u, w) = e.pairs().unwrap();
    assert_eq!((h, u, w), (vec![0, 1], vec![1, 0], vec![100, 1100]));
    e.remove_household("T1").unwrap();
    e.remove_unit("U1").unwrap();
    e.set_as_of_str("2021-06-01").unwrap();
    let r: Value = serde_json::from_str(&e.solve(0).unwrap()).unwrap();
    assert_eq!(r["objective"], 100);
}
