//! The engine: portfolio state with incremental updates, and the solve that turns a snapshot
//! into a result file. Everything is ordered by id so the output depends only on the sets.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::caps::CappedProblem;
use crate::date::parse_date;
use crate::lsa::Graph;
use crate::model::{caps_from_value, parse_json, Cap, Household, Names, Obj, Policy, Unit};
use crate::pricing::{
    self, compact_score, group_bounds, price_row, Candidate, Compact, GroupBound, GroupIndex,
    Groups, PricedGroup, UnitView,
};
use crate::scoring::{Breakdown, Snapshot};
use crate::warm::{self, Edge, Warm};

pub const ENGINE_VERSION: &str = concat!("engine_core ", env!("CARGO_PKG_VERSION"));

const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct Engine {
    policy: Policy,
    units: BTreeMap<String, Unit>,
    households: BTreeMap<String, Household>,
    caps: Vec<Cap>,
    as_of: Option<i64>,
    names: Names,
    inc: Inc,
    /// The decision of the last re-match, while no operation has come since.
    decision: Option<Decision>,
}

/// What a re-match decided, kept so that the result file is rendered only when asked for.
#[derive(Clone, Debug)]
struct Decision {
    /// Unit index per household index (capped runs); uncapped runs read the warm matching.
    unit_of: Option<Vec<Option<usize>>>,
    summary: Summary,
    node_limit: u64,
}

/// The figures of a re-match (a stream's output line), without the assignments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    pub objective: i64,
    pub bound: i64,
    pub uncapped_objective: i64,
    pub optimal: bool,
    pub nodes: u64,
    pub matched: usize,
}

/// Incremental matching state: the eligible-pair graph of the last solve in stable slots, its
/// optimal matching and duals, and what changed since.
#[derive(Clone, Debug, Default)]
struct Inc {
    /// `warm` reflects the state as of the last solve, up to the dirty sets below.
    valid: bool,
    warm: Warm,
    unit_col: BTreeMap<String, u32>,
    hh_row: BTreeMap<String, u32>,
    /// Private "stay unmatched" column of each row slot.
    dummy: Vec<u32>,
    /// Hashed id of each row / column slot (tie-break keys).
    row_key: Vec<u64>,
    col_key: Vec<u64>,
    free_rows: Vec<u32>,
    free_cols: Vec<u32>,
    next_row: u32,
    next_col: u32,
    dirty_hh: BTreeSet<String>,
    dirty_units: BTreeSet<String>,
    dirty_buildings: BTreeSet<String>,
    /// Households whose waiting points alone changed (a new date), by how much: every pair
    /// of theirs moves alike, so the solver shifts their dual instead of rebuilding them.
    shifted: BTreeMap<String, i64>,
    /// Counters of the last solve (for benches): rows and columns rescored, full rebuild.
    pub last_rows: usize,
    pub last_cols: usize,
    pub last_full: bool,
    /// Solve-and-price rounds of the last solve.
    pub last_rounds: usize,
    /// Rows and columns priced in the last solve, and whether a round priced every row.
    pub last_priced: (usize, usize, bool),
    /// Per row slot, an upper bound on the value `w·2⁶⁴ + t + v` of its eligible pairs
    /// outside the graph ([`UNKNOWN`] until priced). A row whose dual rose needs pricing only
    /// if this exceeds its new value `-u`: most rows on an augmenting path keep far more slack
    /// than the tie-break-sized rise they got. Kept valid as duals move: column duals that
    /// rise are priced column-wise, which raises the bound of every row it meets.
    best_out: Vec<i128>,
    /// Group ids of vacant units, stable across solves.
    groups: GroupIndex,
    /// Per row slot, its household's [`group_bounds`], computed on first use and kept until
    /// the household changes or a new group appears.
    bounds: Vec<std::sync::OnceLock<Vec<GroupBound>>>,
}

/// `best_out` of a row never priced (or rebuilt).
const UNKNOWN: i128 = i128::MAX;

/// Key of the private "stay unmatched" option in the tie-break.
const UNMATCHED_KEY: u64 = 0x5eed_0f0f_f1ce;

impl Inc {
    fn invalidate(&mut self) {
        self.valid = false;
        self.dirty_hh.clear();
        self.dirty_units.clear();
        self.dirty_buildings.clear();
        self.shifted.clear();
    }

    fn alloc_row(&mut self) -> u32 {
        self.free_rows.pop().unwrap_or_else(|| {
            self.next_row += 1;
            self.next_row - 1
        })
    }

    fn alloc_col(&mut self) -> u32 {
        self.free_cols.pop().unwrap_or_else(|| {
            self.next_col += 1;
            self.next_col - 1
        })
    }

    fn new_row(&mut self, id: &str) {
        let r = self.alloc_row();
        let d = self.alloc_col();
        let ru = r as usize;
        if ru >= self.dummy.len() {
            self.dummy.resize(ru + 1, NONE);
            self.row_key.resize(ru + 1, 0);
        }
        if ru >= self.best_out.len() {
            self.best_out.resize(ru + 1, UNKNOWN);
        }
        self.best_out[ru] = UNKNOWN;
        if ru >= self.bounds.len() {
            self.bounds.resize_with(ru + 1, Default::default);
        }
        self.bounds[ru].take();
        self.dummy[ru] = d;
        self.row_key[ru] = warm::hash_str(id);
        self.set_col_key(d, UNMATCHED_KEY);
        self.warm.add_row(r);
        self.warm.add_col(d, true);
        self.hh_row.insert(id.to_string(), r);
    }

    fn set_col_key(&mut self, c: u32, key: u64) {
        if c as usize >= self.col_key.len() {
            self.col_key.resize(c as usize + 1, 0);
        }
        self.col_key[c as usize] = key;
    }

    fn new_col(&mut self, id: &str) {
        let c = self.alloc_col();
        self.set_col_key(c, warm::hash_str(id));
        self.warm.add_col(c, false);
        self.unit_col.insert(id.to_string(), c);
    }
}

#[derive(Serialize)]
struct AssignmentOut<'a> {
    household: &'a str,
    unit: &'a str,
    score: i64,
    breakdown: Breakdown,
}

#[derive(Serialize)]
struct CapOut<'a> {
    rule: usize,
    flag: &'static str,
    scope: &'a str,
    count: i64,
    cap: i64,
    units: usize,
}

#[derive(Serialize)]
struct ResultOut<'a> {
    assignments: Vec<AssignmentOut<'a>>,
    unmatched: Vec<&'a str>,
    objective: i64,
    bound: i64,
    uncapped_objective: i64,
    optimal: bool,
    nodes: u64,
    caps: Vec<CapOut<'a>>,
    policy_version: i64,
    engine_version: &'static str,
}

/// Cap constraints of one snapshot: one per (rule, scope with units), in (rule, scope) order.
struct CapTable<'a> {
    /// (rule, scope key, effective cap, units in scope)
    rows: Vec<(usize, &'a str, i64, usize)>,
    /// Constraint id of each unit, per rule.
    unit_cons: Vec<Vec<u32>>,
}

impl Engine {
    pub fn new(policy_json: &str) -> Result<Self, String> {
        Ok(Engine {
            policy: Policy::from_json(policy_json)?,
            units: BTreeMap::new(),
            households: BTreeMap::new(),
            caps: Vec::new(),
            as_of: None,
            names: Names::default(),
            inc: Inc::default(),
            decision: None,
        })
    }

    /// (rows rescored, columns rescored, full rebuild) in the last solve; for benches.
    pub fn last_solve_stats(&self) -> (usize, usize, bool) {
        (self.inc.last_rows, self.inc.last_cols, self.inc.last_full)
    }

    /// (rounds, rows priced, columns priced, some round priced every row) in the last solve.
    pub fn last_pricing_stats(&self) -> (usize, usize, usize, bool) {
        let (r, c, all) = self.inc.last_priced;
        (self.inc.last_rounds, r, c, all)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Replaces the whole state with an instance file; on error nothing changes.
    pub fn load_instance(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "instance")?;
        let mut o = Obj::new(&v, "")?;
        let as_of_v = o.string("as_of")?;
        let as_of = parse_date(&as_of_v).map_err(|e| format!("as_of: {e}"))?;
        let Value::Array(units_v) = o.req("units")? else {
            return Err("units: expected a list".into());
        };
        let Value::Array(hh_v) = o.req("households")? else {
            return Err("households: expected a list".into());
        };
        let caps = match o.opt("caps") {
            Some(c) => caps_from_value(c, "caps")?,
            None => Vec::new(),
        };
        o.finish()?;
        let mut names = Names::default();
        let mut units = BTreeMap::new();
        for (i, uv) in units_v.iter().enumerate() {
            let mut u = Unit::from_value(uv, &format!("units[{i}]"))?;
            if units.contains_key(&u.id) {
                return Err(format!("units[{i}].id: duplicate id {}", u.id));
            }
            names.code_unit(&mut u, None);
            units.insert(u.id.clone(), u);
        }
        let mut households: BTreeMap<String, Household> = BTreeMap::new();
        let mut tenant_of: BTreeMap<String, String> = BTreeMap::new();
        for (i, hv) in hh_v.iter().enumerate() {
            let path = format!("households[{i}]");
            let mut h = Household::from_value(hv, &path)?;
            if households.contains_key(&h.id) {
                return Err(format!("{path}.id: duplicate id {}", h.id));
            }
            check_household(&h, &path, &units, as_of)?;
            if let Some(c) = &h.current_unit {
                if let Some(other) = tenant_of.insert(c.clone(), h.id.clone()) {
                    return Err(format!(
                        "{path}.current_unit: unit {c} is already the current unit of household {other}"
                    ));
                }
            }
            let own_slot = h.current_unit.as_ref().map(|c| units[c].codes.slot);
            names.code_household(&mut h, own_slot);
            households.insert(h.id.clone(), h);
        }
        *self = Engine {
            policy: self.policy.clone(),
            units,
            households,
            caps,
            as_of: Some(as_of),
            names,
            inc: Inc::default(),
            decision: None,
        };
        Ok(())
    }

    pub fn upsert_unit(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "unit")?;
        let mut u = Unit::from_value(&v, "unit")?;
        let slot = self.units.get(&u.id).map(|o| o.codes.slot);
        self.names.code_unit(&mut u, slot);
        if let Some(old) = self.units.get(&u.id) {
            if *old == u {
                return Ok(());
            }
            if old.building != u.building {
                if let Some(h) = self.tenant_of(&u.id) {
                    // The tenant's skills move from one building's mix to the other's.
                    let h = h.to_string();
                    self.inc.dirty_buildings.insert(old.building.clone());
                    self.inc.dirty_buildings.insert(u.building.clone());
                    self.inc.dirty_hh.insert(h);
                }
            }
            if let Some(h) = self.tenant_of(&u.id) {
                // Their own unit's score is the rule-7 threshold of their whole row.
                let h = h.to_string();
                self.inc.dirty_hh.insert(h);
            }
        }
        self.decision = None;
        self.inc.dirty_units.insert(u.id.clone());
        self.units.insert(u.id.clone(), u);
        Ok(())
    }

    pub fn remove_unit(&mut self, id: &str) -> Result<(), String> {
        if !self.units.contains_key(id) {
            return Err(format!("id: unknown unit {id}"));
        }
        if let Some(h) = self
            .households
            .values()
            .find(|h| h.current_unit.as_deref() == Some(id))
        {
            return Err(format!(
                "id: unit {id} is the current unit of household {}",
                h.id
            ));
        }
        if let Some(u) = self.units.remove(id) {
            self.names.free_slot(u.codes.slot);
        }
        self.decision = None;
        self.inc.dirty_units.insert(id.to_string());
        Ok(())
    }

    pub fn upsert_household(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "household")?;
        let mut h = Household::from_value(&v, "household")?;
        if let Some(as_of) = self.as_of {
            check_household(&h, "household", &self.units, as_of)?;
        } else {
            check_household(&h, "household", &self.units, i64::MAX)?;
        }
        if let Some(c) = &h.current_unit {
            if let Some(other) = self
                .households
                .values()
                .find(|o| o.id != h.id && o.current_unit.as_ref() == Some(c))
            {
                return Err(format!(
                    "household.current_unit: unit {c} is already the current unit of household {}",
                    other.id
                ));
            }
        }
        let own_slot = h.current_unit.as_ref().map(|c| self.units[c].codes.slot);
        self.names.code_household(&mut h, own_slot);
        let old = self.households.get(&h.id);
        if old == Some(&h) {
            return Ok(());
        }
        let moved = old.map(|o| (&o.current_unit, &o.skills)) != Some((&h.current_unit, &h.skills));
        let touched: Vec<String> = old
            .and_then(|o| o.current_unit.clone())
            .into_iter()
            .chain(h.current_unit.clone())
            .collect();
        for c in touched {
            if moved {
                let b = self.units[&c].building.clone();
                self.inc.dirty_buildings.insert(b);
            }
            self.inc.dirty_units.insert(c);
        }
        self.decision = None;
        self.inc.dirty_hh.insert(h.id.clone());
        self.households.insert(h.id.clone(), h);
        Ok(())
    }

    pub fn remove_household(&mut self, id: &str) -> Result<(), String> {
        let h = self
            .households
            .remove(id)
            .ok_or_else(|| format!("id: unknown household {id}"))?;
        if let Some(c) = h.current_unit {
            let b = self.units[&c].building.clone();
            self.inc.dirty_buildings.insert(b);
            self.inc.dirty_units.insert(c);
        }
        self.decision = None;
        self.inc.dirty_hh.insert(h.id);
        Ok(())
    }

    fn tenant_of(&self, unit: &str) -> Option<&str> {
        self.households
            .values()
            .find(|h| h.current_unit.as_deref() == Some(unit))
            .map(|h| h.id.as_str())
    }

    /// Waiting periods counted for `h` on date `as_of` (the only as_of-dependent input).
    fn periods(&self, h: &Household, as_of: i64) -> i64 {
        let days = h.applied_on.map_or(0, |d| (as_of - d).max(0));
        self.policy
            .waiting_max_periods
            .min(days / self.policy.waiting_period_days)
    }

    pub fn set_as_of(&mut self, date: &str) -> Result<(), String> {
        let d = parse_date(date).map_err(|e| format!("as_of: {e}"))?;
        if let Some(h) = self
            .households
            .values()
            .find(|h| h.applied_on.is_some_and(|a| a > d))
        {
            return Err(format!(
                "as_of: before the application date of household {}",
                h.id
            ));
        }
        match self.as_of {
            Some(old) if old != d => {
                let pts = self.policy.waiting_points_per_period;
                for h in self.households.values() {
                    let delta = pts * (self.periods(h, d) - self.periods(h, old));
                    if delta != 0 {
                        *self.inc.shifted.entry(h.id.clone()).or_default() += delta;
                    }
                }
            }
            Some(_) => {}
            None => self.inc.invalidate(),
        }
        if self.as_of != Some(d) {
            self.decision = None;
        }
        self.as_of = Some(d);
        Ok(())
    }

    pub fn set_caps(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "caps")?;
        self.caps = caps_from_value(&v, "caps")?;
        self.decision = None;
        Ok(())
    }

    pub fn household_ids(&self) -> Vec<String> {
        self.households.keys().cloned().collect()
    }

    pub fn unit_ids(&self) -> Vec<String> {
        self.units.keys().cloned().collect()
    }

    fn snapshot(&self) -> Result<Snapshot<'_>, String> {
        let as_of = self.as_of.ok_or("as_of: not set")?;
        Ok(Snapshot::new(
            &self.policy,
            self.units.values().collect(),
            self.households.values().collect(),
            as_of,
            &self.names,
        ))
    }

    /// Every eligible pair as (household index, unit index, score), indices into the sorted
    /// id lists; includes non-positive pairs that the matcher never proposes.
    #[allow(clippy::type_complexity)]
    pub fn pairs(&self) -> Result<(Vec<i64>, Vec<i64>, Vec<i64>), String> {
        let s = self.snapshot()?;
        let (mut hs, mut us, mut ws) = (Vec::new(), Vec::new(), Vec::new());
        let mut scratch = Vec::new();
        for h in 0..s.households.len() {
            s.for_each_eligible(h, &mut scratch, |u, w| {
                hs.push(h as i64);
                us.push(u as i64);
                ws.push(w);
            });
        }
        Ok((hs, us, ws))
    }

    fn indices(&self, h_id: &str, u_id: &str) -> Result<(usize, usize), String> {
        let h = self
            .households
            .keys()
            .position(|k| k == h_id)
            .ok_or_else(|| format!("household: unknown household {h_id}"))?;
        let u = self
            .units
            .keys()
            .position(|k| k == u_id)
            .ok_or_else(|| format!("unit: unknown unit {u_id}"))?;
        Ok((h, u))
    }

    pub fn score_breakdown(&self, h_id: &str, u_id: &str) -> Result<Option<Breakdown>, String> {
        let (h, u) = self.indices(h_id, u_id)?;
        Ok(self.snapshot()?.check(h, u).ok())
    }

    pub fn ineligibility_reason(&self, h_id: &str, u_id: &str) -> Result<Option<String>, String> {
        let (h, u) = self.indices(h_id, u_id)?;
        Ok(self.snapshot()?.check(h, u).err().map(|e| e.to_string()))
    }

    fn cap_table<'a>(&self, s: &Snapshot<'a>) -> CapTable<'a> {
        let mut rows = Vec::new();
        let mut unit_cons = Vec::new();
        for (r, cap) in self.caps.iter().enumerate() {
            let mut scopes: BTreeMap<&'a str, (usize, i64)> = BTreeMap::new();
            for &u in &s.units {
                scopes.entry(cap.scope.key(u)).or_default().0 += 1;
            }
            for (h, own) in s.households.iter().zip(&s.own) {
                if let (Some(u), true) = (own, h.flag(cap.flag)) {
                    scopes.entry(cap.scope.key(s.units[*u])).or_default().1 += 1;
                }
            }
            let base = rows.len() as u32;
            let index: BTreeMap<&str, u32> = scopes
                .keys()
                .enumerate()
                .map(|(i, k)| (*k, base + i as u32))
                .collect();
            for (key, (n_units, sitting)) in scopes {
                // Staying put is always feasible: the cap never undercuts who lives there now.
                rows.push((r, key, cap.value(n_units).max(sitting), n_units));
            }
            unit_cons.push(s.units.iter().map(|u| index[cap.scope.key(u)]).collect());
        }
        CapTable { rows, unit_cons }
    }

    /// Solves the current snapshot; returns the result file as UTF-8 JSON bytes. The
    /// uncapped optimum is maintained incrementally between calls.
    pub fn solve(&mut self, node_limit: u64) -> Result<String, String> {
        self.rematch(node_limit)?;
        self.result()
    }

    /// Re-matches the current snapshot (incrementally from the last call) and keeps the
    /// decision for [`Engine::result`]; returns only its figures, so that a stream of
    /// operations does not pay for rendering every assignment after each one.
    pub fn rematch(&mut self, node_limit: u64) -> Result<Summary, String> {
        if let Some(d) = &self.decision {
            // Nothing changed: the same decision, unless a stopped search may now go further.
            if d.summary.optimal || d.node_limit == node_limit {
                return Ok(d.summary);
            }
        }
        // Fields borrowed one by one: the warm state is updated while the snapshot is read.
        let as_of = self.as_of.ok_or("as_of: not set")?;
        let s = Snapshot::new(
            &self.policy,
            self.units.values().collect(),
            self.households.values().collect(),
            as_of,
            &self.names,
        );
        let (n, m) = (s.households.len(), s.units.len());
        sync(&mut self.inc, &s)?;
        let cert = self
            .inc
            .warm
            .certify()
            .filter(|c| c.bound == c.objective)
            .ok_or("internal: optimality certificate failed")?;
        let decision = if self.caps.is_empty() {
            let matched = cert.matched;
            Decision {
                unit_of: None,
                summary: Summary {
                    objective: cert.objective,
                    bound: cert.bound,
                    uncapped_objective: cert.objective,
                    optimal: true,
                    nodes: 1,
                    matched,
                },
                node_limit,
            }
        } else {
            let table = self.cap_table(&s);
            // Capped: branch and bound on a graph rebuilt in id order (not incremental).
            let mut dummy = vec![NONE; n];
            let mut next = m as u32;
            for h in 0..n {
                if s.own[h].is_none() {
                    dummy[h] = next;
                    next += 1;
                }
            }
            let mut g = Graph::new(next as usize);
            let mut scratch = Vec::new();
            for h in 0..n {
                let sitting = s.own[h].is_some();
                s.for_each_eligible(h, &mut scratch, |u, w| {
                    if sitting || w > 0 {
                        g.push_edge(u as u32, w);
                    }
                });
                if dummy[h] != NONE {
                    g.push_edge(dummy[h], 0);
                }
                g.end_row();
            }
            let flags: Vec<Vec<bool>> = self
                .caps
                .iter()
                .map(|c| s.households.iter().map(|h| h.flag(c.flag)).collect())
                .collect();
            let per_edge = self.caps.len();
            let mut edge_cons = vec![NONE; g.col.len() * per_edge];
            for h in 0..n {
                for e in g.edges(h) {
                    let j = g.col[e] as usize;
                    if j >= m {
                        continue;
                    }
                    for r in 0..per_edge {
                        if flags[r][h] {
                            edge_cons[e * per_edge + r] = table.unit_cons[r][j];
                        }
                    }
                }
            }
            let problem = CappedProblem {
                g: &g,
                edge_cons,
                per_edge,
                cap: table.rows.iter().map(|r| r.2).collect(),
                own_col: s.own.iter().map(|o| o.map_or(NONE, |u| u as u32)).collect(),
            };
            let out = problem
                .solve(node_limit)
                .ok_or("internal: no matching keeps every sitting tenant")?;
            if out.uncapped_objective != cert.objective {
                return Err("internal: uncapped optimum disagrees".into());
            }
            let unit_of: Vec<Option<usize>> = out
                .row_edge
                .iter()
                .map(|&e| {
                    let j = g.col[e] as usize;
                    (j < m).then_some(j)
                })
                .collect();
            let matched = unit_of.iter().flatten().count();
            Decision {
                unit_of: Some(unit_of),
                summary: Summary {
                    objective: out.objective,
                    bound: out.bound,
                    uncapped_objective: cert.objective,
                    optimal: out.optimal,
                    nodes: out.nodes,
                    matched,
                },
                node_limit,
            }
        };
        let summary = decision.summary;
        self.decision = Some(decision);
        Ok(summary)
    }

    /// The result file of the last re-match as UTF-8 JSON; an error if an operation came
    /// after it (call [`Engine::rematch`] first).
    pub fn result(&self) -> Result<String, String> {
        let d = self
            .decision
            .as_ref()
            .ok_or("state: changed since the last re-match; re-match first")?;
        let s = self.snapshot()?;
        let n = s.households.len();
        let table = self.cap_table(&s);
        let unit_of: Vec<Option<usize>> = match &d.unit_of {
            Some(u) => u.clone(),
            None => {
                let inc = &self.inc;
                let mut u_of_col = vec![NONE; inc.next_col as usize];
                for (u, &c) in inc.unit_col.values().enumerate() {
                    u_of_col[c as usize] = u as u32;
                }
                inc.hh_row
                    .values()
                    .map(|&r| {
                        let c = inc.warm.col_of(r);
                        (u_of_col[c as usize] != NONE).then(|| u_of_col[c as usize] as usize)
                    })
                    .collect()
            }
        };
        let Summary {
            objective,
            bound,
            uncapped_objective: uncapped,
            optimal,
            nodes,
            ..
        } = d.summary;
        let mut assignments = Vec::new();
        let mut unmatched = Vec::new();
        for (h, uo) in unit_of.iter().enumerate() {
            if let Some(j) = *uo {
                let breakdown = s.breakdown_of(h, j);
                assignments.push(AssignmentOut {
                    household: &s.households[h].id,
                    unit: &s.units[j].id,
                    score: breakdown.total(),
                    breakdown,
                });
            } else {
                unmatched.push(s.households[h].id.as_str());
            }
        }
        let mut counts = vec![0i64; table.rows.len()];
        for (r, cap) in self.caps.iter().enumerate() {
            for h in 0..n {
                if let (Some(u), true) = (unit_of[h], s.households[h].flag(cap.flag)) {
                    counts[table.unit_cons[r][u] as usize] += 1;
                }
            }
        }
        let caps = table
            .rows
            .iter()
            .zip(&counts)
            .map(|(&(rule, scope, cap, units), &count)| CapOut {
                rule,
                flag: self.caps[rule].flag.name(),
                scope,
                count,
                cap,
                units,
            })
            .collect();
        let out = ResultOut {
            assignments,
            unmatched,
            objective,
            bound,
            uncapped_objective: uncapped,
            optimal,
            nodes,
            caps,
            policy_version: self.policy.version,
            engine_version: ENGINE_VERSION,
        };
        serde_json::to_string(&out).map_err(|e| format!("internal: {e}"))
    }
}

/// Position of `id` in a list sorted by id.
fn find<T>(list: &[&T], id: &str, key: impl Fn(&T) -> &str) -> Option<usize> {
    list.binary_search_by(|x| key(x).cmp(id)).ok()
}

/// Edges kept for a household whose row is (re)built: its own unit or its private "stay
/// unmatched" column, plus the best vacant units under the current column duals.
const INITIAL_EDGES: usize = 12;
/// Edges added per household and pricing round.
const PRICED_EDGES: usize = 6;
/// Edges added per column and pricing round.
const PRICED_COL_EDGES: usize = 4;

/// What the pricing passes of one solve share.
struct Pricer<'s, 'a> {
    s: &'s Snapshot<'a>,
    /// Estimated cost of one row's pricing walk, in household scorings.
    walk: usize,
    groups: Groups,
    col_of_u: &'s [u32],
    row_of_h: &'s [u32],
    /// Score of the own unit of each household that takes part in pricing and has one: the
    /// rule-7 threshold of transfer requesters. Indexed by household.
    own_total: Vec<Option<i64>>,
    priceable: Vec<usize>,
}

impl Pricer<'_, '_> {
    /// Each group's units as row pricing walks them ([`PricedGroup`]).
    fn by_price(&self, warm: &Warm) -> Vec<PricedGroup> {
        self.groups
            .units
            .iter()
            .map(|l| PricedGroup::new(self.s, l, |u| warm.v(self.col_of_u[u as usize])))
            .collect()
    }

    /// Best vacant units of household `h` above `threshold`, as edges in slot space.
    #[allow(clippy::too_many_arguments)]
    fn row_candidates(
        &self,
        inc: &Inc,
        by_price: &[PricedGroup],
        h: usize,
        threshold: i128,
        limit: usize,
        buf: &mut Vec<Candidate>,
        out: &mut Vec<Edge>,
    ) -> i128 {
        let row = self.row_of_h[h];
        let rk = inc.row_key[row as usize];
        let tie = |u: usize| warm::tie(rk, inc.col_key[self.col_of_u[u] as usize]);
        let in_graph = |u: usize| inc.warm.has_edge(row, self.col_of_u[u]);
        let v = |u: usize| inc.warm.v(self.col_of_u[u]);
        let bounds =
            inc.bounds[row as usize].get_or_init(|| group_bounds(self.s, &inc.groups.keys, h));
        let own = self.own_total[h];
        let own_building: &[u32] = match self.s.own[h] {
            Some(o) => &self.groups.in_building[self.s.building_of(o) as usize],
            None => &[],
        };
        let cut = price_row(
            self.s,
            bounds,
            by_price,
            own_building,
            h,
            own,
            threshold,
            limit,
            &tie,
            &v,
            &in_graph,
            buf,
        );
        out.clear();
        out.extend(buf.iter().map(|c| Edge {
            w: c.w,
            t: tie(c.unit as usize),
            col: self.col_of_u[c.unit as usize],
        }));
        cut
    }

    /// Edges of household `h` for a rebuilt row, sorted by column, and the bound on the
    /// values of its pairs left out.
    fn row_edges(
        &self,
        inc: &Inc,
        by_price: &[PricedGroup],
        h: usize,
        buf: &mut Vec<Candidate>,
    ) -> (Vec<Edge>, i128) {
        let s = self.s;
        let row = self.row_of_h[h];
        let rk = inc.row_key[row as usize];
        let mut out = Vec::new();
        let cut = self.row_candidates(inc, by_price, h, i128::MIN, INITIAL_EDGES, buf, &mut out);
        match s.own[h] {
            Some(o) => {
                let c = self.col_of_u[o];
                out.push(Edge {
                    w: s.breakdown_of(h, o).total(),
                    t: warm::tie(rk, inc.col_key[c as usize]),
                    col: c,
                });
            }
            None => out.push(Edge {
                w: 0,
                t: warm::tie(rk, UNMATCHED_KEY),
                col: inc.dummy[row as usize],
            }),
        }
        out.sort_unstable_by_key(|e| e.col);
        (out, cut)
    }

    /// Row pricing for household `h`: adds its violated pairs; `true` if any.
    fn add_violated_row(
        &self,
        inc: &mut Inc,
        by_price: &[PricedGroup],
        h: usize,
        buf: &mut Vec<Candidate>,
    ) -> bool {
        let r = self.row_of_h[h];
        let threshold = -inc.warm.u(r);
        let mut edges = Vec::new();
        let cut = self.row_candidates(inc, by_price, h, threshold, PRICED_EDGES, buf, &mut edges);
        inc.best_out[r as usize] = cut;
        if edges.is_empty() {
            return false;
        }
        inc.warm.add_row_edges(r, &edges);
        true
    }

    /// Column pricing for vacant unit `u`: adds the most violated pairs and lowers the
    /// column's dual so that every pair into it is feasible; `true` if any.
    fn add_violated_col(&self, inc: &mut Inc, u: usize, compact: &[Compact]) -> bool {
        let s = self.s;
        let c = self.col_of_u[u];
        let ck = inc.col_key[c as usize];
        let vc = inc.warm.v(c);
        let view = UnitView::new(s, u);
        // (cost - u_r, row slot, score): a violation is below v(c).
        let mut best: Vec<(i128, u32, i64)> = Vec::new();
        for rec in compact {
            let Some(w) = compact_score(s, rec, &view, u) else {
                continue;
            };
            let h = rec.h as usize;
            let r = self.row_of_h[h];
            let t = warm::tie(inc.row_key[r as usize], ck);
            let value = (i128::from(w) << 64) + i128::from(t);
            // The column's dual may have risen: the row's bound must cover this pair if it is
            // left out of the graph (with the dual before any lowering below, so a valid if
            // loose bound). A pair in the graph, such as the row's match at exactly -u, is not.
            if value + vc > inc.best_out[r as usize] && !inc.warm.has_edge(r, c) {
                inc.best_out[r as usize] = value + vc;
            }
            let m = -value - inc.warm.u(r);
            if m >= vc || (best.len() == PRICED_COL_EDGES && m >= best[PRICED_COL_EDGES - 1].0) {
                continue;
            }
            let at = best.partition_point(|x| (x.0, x.1) < (m, r));
            best.insert(at, (m, r, w));
            best.truncate(PRICED_COL_EDGES);
        }
        let Some(&(lowest, _, _)) = best.first() else {
            return false;
        };
        for &(_, r, w) in &best {
            let t = warm::tie(inc.row_key[r as usize], ck);
            inc.warm.set_edge(r, c, Some((w, t)));
        }
        inc.warm.lower_col(c, lowest);
        true
    }
}

/// Brings the warm matching up to date with the snapshot `s` and re-solves it.
fn sync(inc: &mut Inc, s: &Snapshot) -> Result<(), String> {
    let (n, m) = (s.households.len(), s.units.len());
    fn hid(h: &Household) -> &str {
        &h.id
    }
    fn uid(u: &Unit) -> &str {
        &u.id
    }
    let mut full = !inc.valid;
    if !full {
        let dirty_hh = std::mem::take(&mut inc.dirty_hh);
        let dirty_units = std::mem::take(&mut inc.dirty_units);
        for id in &dirty_hh {
            if find(&s.households, id, hid).is_none() {
                if let Some(r) = inc.hh_row.remove(id) {
                    let d = inc.dummy[r as usize];
                    inc.warm.remove_row(r);
                    inc.warm.remove_col(d);
                    inc.free_rows.push(r);
                    inc.free_cols.push(d);
                }
            }
        }
        for id in &dirty_units {
            if find(&s.units, id, uid).is_none() {
                if let Some(c) = inc.unit_col.remove(id) {
                    inc.warm.remove_col(c);
                    inc.free_cols.push(c);
                }
            }
        }
        for id in &dirty_units {
            if find(&s.units, id, uid).is_some() && !inc.unit_col.contains_key(id) {
                inc.new_col(id);
            }
        }
        for id in &dirty_hh {
            if find(&s.households, id, hid).is_some() && !inc.hh_row.contains_key(id) {
                inc.new_row(id);
            }
        }
        inc.dirty_hh = dirty_hh;
        inc.dirty_units = dirty_units;
        if inc.hh_row.len() != n || inc.unit_col.len() != m {
            full = true; // cannot happen; be safe
        }
    }
    if full {
        *inc = Inc {
            valid: false,
            ..Inc::default()
        };
        for u in &s.units {
            inc.new_col(&u.id);
        }
        for h in &s.households {
            inc.new_row(&h.id);
        }
    }
    // Both maps iterate in id order, like the snapshot.
    let col_of_u: Vec<u32> = inc.unit_col.values().copied().collect();
    let row_of_h: Vec<u32> = inc.hh_row.values().copied().collect();
    let mut dirty_row = vec![full; n];
    let mut dirty_col = vec![false; m];
    if !full {
        for id in &inc.dirty_hh {
            if let Some(h) = find(&s.households, id, hid) {
                dirty_row[h] = true;
            }
        }
        for id in &inc.dirty_units {
            if let Some(u) = find(&s.units, id, uid) {
                dirty_col[u] = true;
            }
        }
        if !inc.dirty_buildings.is_empty() {
            let in_dirty = |u: usize| inc.dirty_buildings.contains(&s.units[u].building);
            for u in 0..m {
                if in_dirty(u) {
                    dirty_col[u] = true;
                }
            }
            for h in 0..n {
                if s.own[h].is_some_and(in_dirty) {
                    dirty_row[h] = true;
                }
            }
        }
        let rows = dirty_row.iter().filter(|&&d| d).count();
        let cols = dirty_col.iter().filter(|&&d| d).count();
        // Beyond half the problem a cold start is as cheap and simpler.
        if 2 * (rows + cols) > n.max(1) + m {
            full = true;
            dirty_row.iter_mut().for_each(|d| *d = true);
            dirty_col.iter_mut().for_each(|d| *d = false);
        }
    }
    inc.dirty_hh.clear();
    inc.dirty_units.clear();
    inc.dirty_buildings.clear();
    let priceable: Vec<usize> = (0..n).filter(|&h| pricing::priceable(s, h)).collect();
    let mut own_total = vec![None; n];
    for &h in &priceable {
        own_total[h] = s.own[h].map(|o| s.breakdown_of(h, o).total());
    }
    let n_keys = inc.groups.keys.len();
    let groups = Groups::new(s, &mut inc.groups);
    if inc.groups.keys.len() != n_keys {
        // A new kind of vacant unit: every household's bounds lack it.
        inc.bounds.iter_mut().for_each(|b| drop(b.take()));
    }
    for h in 0..n {
        if dirty_row[h] {
            inc.bounds[row_of_h[h] as usize].take();
        }
    }
    let walk = (groups.of_unit.iter().filter(|&&g| g != NONE).count() / 2).max(1);
    let pricer = Pricer {
        s,
        walk,
        groups,
        col_of_u: &col_of_u,
        row_of_h: &row_of_h,
        own_total,
        priceable,
    };
    let mut buf = Vec::new();
    if full {
        inc.warm.take_changed();
    }
    let by_price = pricer.by_price(&inc.warm);
    let mut n_rows = 0;
    for h in 0..n {
        if dirty_row[h] {
            n_rows += 1;
            let (edges, cut) = pricer.row_edges(inc, &by_price, h, &mut buf);
            inc.best_out[row_of_h[h] as usize] = cut;
            inc.warm.set_row(row_of_h[h], edges);
        }
    }
    let mut u_of_col = vec![NONE; inc.next_col as usize];
    for (u, &c) in col_of_u.iter().enumerate() {
        u_of_col[c as usize] = u as u32;
    }
    let mut h_of_row = vec![NONE; inc.next_row as usize];
    for (h, &r) in row_of_h.iter().enumerate() {
        h_of_row[r as usize] = h as u32;
    }
    // Waiting points moved: shift those rows (before the column rescoring below, which
    // writes absolute scores).
    let shifted = std::mem::take(&mut inc.shifted);
    if !full {
        for (id, &delta) in &shifted {
            let Some(h) = find(&s.households, id, hid) else {
                continue;
            };
            if delta == 0 || dirty_row[h] {
                continue;
            }
            let r = row_of_h[h];
            let dummy = s.own[h].is_none().then(|| inc.dummy[r as usize]);
            inc.warm.shift_row(r, delta, dummy);
            // Every pair left out moved by delta too; an applicant's pairs that rose above 0
            // became eligible, worth at most delta points (column duals are never positive).
            let b = &mut inc.best_out[r as usize];
            *b = (*b).saturating_add(i128::from(delta) << 64);
            if dummy.is_some() && delta > 0 {
                *b = (*b).max((i128::from(delta) << 64) + (1i128 << warm::TIE_BITS));
            }
        }
    }
    let mut n_cols = 0;
    for u in 0..m {
        if !dirty_col[u] {
            continue;
        }
        n_cols += 1;
        // Rescore the pairs the graph holds; pricing finds the ones it should hold.
        let c = col_of_u[u];
        let rows: Vec<u32> = inc.warm.col_rows(c).to_vec();
        for &r in &rows {
            let h = h_of_row[r as usize] as usize;
            if dirty_row[h] {
                continue;
            }
            let sitting = s.own[h].is_some();
            let e = match s.check(h, u) {
                Ok(b) if sitting || b.total() > 0 => Some((
                    b.total(),
                    warm::tie(inc.row_key[r as usize], inc.col_key[c as usize]),
                )),
                _ => None,
            };
            inc.warm.set_edge(r, c, e);
        }
        inc.warm.repair_col(c);
    }
    if full {
        inc.warm.reset();
    }
    inc.last_rows = n_rows;
    inc.last_cols = n_cols;
    inc.last_full = full;
    // Solve the restricted graph, then price every pair outside it whose reduced cost may
    // have dropped; repeat until none is violated. That last, clean pass is the proof that
    // the restricted optimum is the optimum over all eligible pairs.
    let mut everything = full;
    // Column pricing's view of the priceable households, built on first use in this solve.
    let mut compact: Option<Vec<Compact>> = None;
    inc.last_rounds = 0;
    inc.last_priced = (0, 0, false);
    loop {
        if !inc.warm.run() {
            inc.valid = false;
            return Err("internal: no matching keeps every sitting tenant".into());
        }
        inc.last_rounds += 1;
        let (rows, cols) = inc.warm.take_changed();
        // Only households that have pairs outside their own unit, and only vacant units,
        // have pairs to price; a row whose bound shows every pair left out still feasible
        // needs nothing.
        let rows: Vec<usize> = rows
            .iter()
            .filter(|&&r| {
                inc.best_out
                    .get(r as usize)
                    .is_some_and(|&b| b > -inc.warm.u(r))
            })
            .map(|&r| h_of_row.get(r as usize).copied().unwrap_or(NONE))
            .filter(|&h| h != NONE && pricing::priceable(s, h as usize))
            .map(|h| h as usize)
            .collect();
        let cols: Vec<usize> = cols
            .iter()
            .map(|&c| u_of_col.get(c as usize).copied().unwrap_or(NONE))
            .filter(|&u| u != NONE && pricer.groups.of_unit[u as usize] != NONE)
            .map(|u| u as usize)
            .collect();
        // Pricing a column scores every priceable household (from compact records); pricing
        // a row walks the vacant units near its cut, measured at the cost of scoring a
        // quarter (20,000 units) to four fifths (100,000) as many households as there are
        // vacant units; half is used. Price every row instead when the columns would cost
        // more than the rows not priced anyway.
        let n_price = pricer.priceable.len();
        if cols.len() * n_price > n_price.saturating_sub(rows.len()) * pricer.walk {
            everything = true;
        }
        let by_price = pricer.by_price(&inc.warm);
        let mut found = false;
        if everything {
            inc.last_priced.0 += pricer.priceable.len();
            inc.last_priced.2 = true;
            for k in 0..pricer.priceable.len() {
                let h = pricer.priceable[k];
                found |= pricer.add_violated_row(inc, &by_price, h, &mut buf);
            }
        } else {
            inc.last_priced.0 += rows.len();
            inc.last_priced.1 += cols.len();
            for &h in &rows {
                found |= pricer.add_violated_row(inc, &by_price, h, &mut buf);
            }
            if !cols.is_empty() {
                let compact = compact.get_or_insert_with(|| {
                    pricer
                        .priceable
                        .iter()
                        .map(|&h| Compact::new(s, h, pricer.own_total[h]))
                        .collect::<Vec<_>>()
                });
                for &u in &cols {
                    found |= pricer.add_violated_col(inc, u, compact);
                }
            }
        }
        everything = false;
        if !found {
            break;
        }
    }
    inc.warm.take_changed();
    inc.valid = true;
    Ok(())
}

/// Cross-checks of one household against the units and the run date.
fn check_household(
    h: &Household,
    path: &str,
    units: &BTreeMap<String, Unit>,
    as_of: i64,
) -> Result<(), String> {
    if let Some(c) = &h.current_unit {
        if !units.contains_key(c) {
            return Err(format!("{path}.current_unit: unknown unit {c}"));
        }
    }
    if h.applied_on.is_some_and(|a| a > as_of) {
        return Err(format!("{path}.applied_on: after as_of"));
    }
    Ok(())
}
