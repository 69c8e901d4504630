//! The engine: portfolio state with incremental updates, and the solve that turns a snapshot
//! into a result file. Everything is ordered by id so the output depends only on the sets.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;
use serde_json::Value;

use crate::caps::CappedProblem;
use crate::date::parse_date;
use crate::lsa::Graph;
use crate::model::{caps_from_value, parse_json, Cap, Household, Names, Obj, Policy, Unit};
use crate::portfolio::Portfolio;
use crate::pricing::{
    self, compact_raw, group_bounds, price_row, Bounds, Candidate, Compact, CompactRows,
    GroupBound, GroupIndex, Groups, PricedGroup, UnitView,
};
use crate::report::{CapRow, Delta, Reported};
use crate::scoring::{waiting_points, Breakdown, Snapshot};
use crate::warm::{self, Edge, Warm};

pub const ENGINE_VERSION: &str = concat!("engine_core ", env!("CARGO_PKG_VERSION"));

const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct Engine {
    policy: Policy,
    p: Portfolio,
    caps: Vec<Cap>,
    as_of: Option<i64>,
    names: Names,
    inc: Inc,
    /// The decision of the last re-match, while no operation has come since.
    decision: Option<Decision>,
    /// The decision as last reported ([`Engine::delta`]).
    reported: Reported,
}

/// What a re-match decided, kept so that the result file is rendered only when asked for.
#[derive(Clone, Debug)]
struct Decision {
    /// Unit slot per household in id order (capped runs); uncapped runs read the warm
    /// matching.
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
    /// Row and column slots of household and unit slots, and back.
    maps: Maps,
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
    /// Buildings (codes) whose sitting tenants' skills changed.
    dirty_buildings: BTreeSet<u32>,
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
    /// Per row slot, with `best_out`, a bound on the value of an applicant's pairs that only
    /// their score keeps out (not above 0): what a new date can make eligible.
    low_out: Vec<i128>,
    /// Group ids of vacant units, stable across solves.
    groups: GroupIndex,
    /// The vacant units in their groups, as of the last solve.
    listed: Groups,
    /// Each group's units as row pricing walks them, kept between solves.
    priced: Vec<PricedGroup>,
    /// Per row slot, its household's [`group_bounds`], computed on first use and kept until
    /// the household changes or a new group appears.
    bounds: Vec<std::sync::OnceLock<Vec<GroupBound>>>,
    /// The priceable households as column pricing reads them, by row slot.
    compact: CompactRows,
}

/// Warm row and column slots of the portfolio's household and unit slots, and back
/// (`NONE` where nothing is).
#[derive(Clone, Debug, Default)]
struct Maps {
    row_of_h: Vec<u32>,
    h_of_row: Vec<u32>,
    col_of_u: Vec<u32>,
    u_of_col: Vec<u32>,
}

fn link(fwd: &mut Vec<u32>, back: &mut Vec<u32>, a: usize, b: u32) {
    if a >= fwd.len() {
        fwd.resize(a + 1, NONE);
    }
    if b as usize >= back.len() {
        back.resize(b as usize + 1, NONE);
    }
    fwd[a] = b;
    back[b as usize] = a as u32;
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

    /// The row of household `id` at slot `h`, created if new, and linked to the slot (a
    /// household that left and came back may be in another one).
    fn row_for(&mut self, id: &str, h: usize) {
        let r = match self.hh_row.get(id) {
            Some(&r) => r,
            None => self.new_row(id),
        };
        link(&mut self.maps.row_of_h, &mut self.maps.h_of_row, h, r);
    }

    /// The column of unit `id` at slot `u`, created if new, and linked to the slot.
    fn col_for(&mut self, id: &str, u: usize) {
        let c = match self.unit_col.get(id) {
            Some(&c) => c,
            None => self.new_col(id),
        };
        link(&mut self.maps.col_of_u, &mut self.maps.u_of_col, u, c);
    }

    fn new_row(&mut self, id: &str) -> u32 {
        let r = self.alloc_row();
        let d = self.alloc_col();
        let ru = r as usize;
        if ru >= self.dummy.len() {
            self.dummy.resize(ru + 1, NONE);
            self.row_key.resize(ru + 1, 0);
        }
        if ru >= self.best_out.len() {
            self.best_out.resize(ru + 1, UNKNOWN);
            self.low_out.resize(ru + 1, UNKNOWN);
        }
        self.best_out[ru] = UNKNOWN;
        self.low_out[ru] = UNKNOWN;
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
        r
    }

    fn set_col_key(&mut self, c: u32, key: u64) {
        if c as usize >= self.col_key.len() {
            self.col_key.resize(c as usize + 1, 0);
        }
        self.col_key[c as usize] = key;
    }

    fn new_col(&mut self, id: &str) -> u32 {
        let c = self.alloc_col();
        self.set_col_key(c, warm::hash_str(id));
        self.warm.add_col(c, false);
        self.unit_col.insert(id.to_string(), c);
        c
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
    /// Constraint id of each unit slot, per rule (`NONE` for free slots).
    unit_cons: Vec<Vec<u32>>,
}

/// The portfolio in id order, for the outputs and the capped solve: household and unit
/// slots by id, and each unit slot's rank.
struct Order {
    hs: Vec<usize>,
    us: Vec<usize>,
    rank_of_u: Vec<u32>,
}

impl Order {
    fn new(p: &Portfolio) -> Self {
        let hs = p.hh_order();
        let us = p.unit_order();
        let mut rank_of_u = vec![NONE; p.units.len()];
        for (k, &u) in us.iter().enumerate() {
            rank_of_u[u] = k as u32;
        }
        Order { hs, us, rank_of_u }
    }
}

impl Engine {
    pub fn new(policy_json: &str) -> Result<Self, String> {
        Ok(Engine {
            policy: Policy::from_json(policy_json)?,
            p: Portfolio::default(),
            caps: Vec::new(),
            as_of: None,
            names: Names::default(),
            inc: Inc::default(),
            decision: None,
            reported: Reported::default(),
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

    /// Waiting points of `h` on the run date (0 before one is set).
    fn waiting(&self, h: &Household) -> i64 {
        self.as_of.map_or(0, |d| waiting_points(&self.policy, h, d))
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
        let mut p = Portfolio::default();
        for (i, uv) in units_v.iter().enumerate() {
            let mut u = Unit::from_value(uv, &format!("units[{i}]"))?;
            if p.unit_ids.contains_key(&u.id) {
                return Err(format!("units[{i}].id: duplicate id {}", u.id));
            }
            names.code_unit(&mut u, None);
            p.put_unit(u, &names);
        }
        for (i, hv) in hh_v.iter().enumerate() {
            let path = format!("households[{i}]");
            let mut h = Household::from_value(hv, &path)?;
            if p.hh_ids.contains_key(&h.id) {
                return Err(format!("{path}.id: duplicate id {}", h.id));
            }
            check_household(&h, &path, &p, as_of)?;
            if let Some(c) = &h.current_unit {
                if let Some(other) = p.tenant_of(c) {
                    return Err(format!(
                        "{path}.current_unit: unit {c} is already the current unit of household {}",
                        other.id
                    ));
                }
            }
            let own_slot = h.current_unit.as_ref().map(|c| p.unit_ids[c]);
            names.code_household(&mut h, own_slot);
            let wait = waiting_points(&self.policy, &h, as_of);
            p.put_household(h, &self.policy, wait, &names);
        }
        *self = Engine {
            policy: self.policy.clone(),
            p,
            caps,
            as_of: Some(as_of),
            names,
            inc: Inc::default(),
            decision: None,
            reported: Reported::default(),
        };
        Ok(())
    }

    pub fn upsert_unit(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "unit")?;
        let mut u = Unit::from_value(&v, "unit")?;
        let slot = self.p.unit_ids.get(&u.id).copied();
        self.names.code_unit(&mut u, slot);
        if let Some(old) = self.p.get_unit(&u.id) {
            if *old == u {
                return Ok(());
            }
            if let Some(h) = self.p.tenant_of(&u.id) {
                if old.codes.building != u.codes.building {
                    // The tenant's skills move from one building's mix to the other's.
                    self.inc.dirty_buildings.insert(old.codes.building);
                    self.inc.dirty_buildings.insert(u.codes.building);
                }
                // Their own unit's score is the rule-7 threshold of their whole row.
                self.inc.dirty_hh.insert(h.id.clone());
            }
        }
        self.decision = None;
        self.inc.dirty_units.insert(u.id.clone());
        self.p.put_unit(u, &self.names);
        Ok(())
    }

    pub fn remove_unit(&mut self, id: &str) -> Result<(), String> {
        if !self.p.unit_ids.contains_key(id) {
            return Err(format!("id: unknown unit {id}"));
        }
        if let Some(h) = self.p.tenant_of(id) {
            return Err(format!(
                "id: unit {id} is the current unit of household {}",
                h.id
            ));
        }
        if let Some(u) = self.p.take_unit(id) {
            self.names.free_slot(u.codes.slot);
        }
        self.decision = None;
        self.inc.dirty_units.insert(id.to_string());
        Ok(())
    }

    pub fn upsert_household(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "household")?;
        let mut h = Household::from_value(&v, "household")?;
        check_household(&h, "household", &self.p, self.as_of.unwrap_or(i64::MAX))?;
        if let Some(c) = &h.current_unit {
            if let Some(other) = self.p.tenant_of(c).filter(|o| o.id != h.id) {
                return Err(format!(
                    "household.current_unit: unit {c} is already the current unit of household {}",
                    other.id
                ));
            }
        }
        let own_slot = h.current_unit.as_ref().map(|c| self.p.unit_ids[c]);
        self.names.code_household(&mut h, own_slot);
        let old = self.p.get_hh(&h.id);
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
                let b = self.p.get_unit(&c).expect("checked").codes.building;
                self.inc.dirty_buildings.insert(b);
            }
            self.inc.dirty_units.insert(c);
        }
        self.decision = None;
        self.inc.dirty_hh.insert(h.id.clone());
        let wait = self.waiting(&h);
        self.p.put_household(h, &self.policy, wait, &self.names);
        Ok(())
    }

    pub fn remove_household(&mut self, id: &str) -> Result<(), String> {
        let h = self
            .p
            .take_household(id)
            .ok_or_else(|| format!("id: unknown household {id}"))?;
        if let Some(c) = h.current_unit {
            let b = self.p.get_unit(&c).expect("own unit").codes.building;
            self.inc.dirty_buildings.insert(b);
            self.inc.dirty_units.insert(c);
        }
        self.decision = None;
        self.inc.dirty_hh.insert(h.id);
        Ok(())
    }

    pub fn set_as_of(&mut self, date: &str) -> Result<(), String> {
        let d = parse_date(date).map_err(|e| format!("as_of: {e}"))?;
        if let Some(h) = self
            .p
            .hh_ids
            .keys()
            .map(|id| self.p.get_hh(id).expect("listed"))
            .find(|h| h.applied_on.is_some_and(|a| a > d))
        {
            return Err(format!(
                "as_of: before the application date of household {}",
                h.id
            ));
        }
        if self.as_of == Some(d) {
            return Ok(());
        }
        let known = self.as_of.is_some();
        for slot in 0..self.p.households.len() {
            let Some(h) = &self.p.households[slot] else {
                continue;
            };
            let points = waiting_points(&self.policy, h, d);
            let delta = points - self.p.waiting[slot];
            if known && delta != 0 {
                *self.inc.shifted.entry(h.id.clone()).or_default() += delta;
            }
            self.p.waiting[slot] = points;
        }
        if !known {
            self.inc.invalidate();
        }
        self.decision = None;
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
        self.p.hh_ids.keys().cloned().collect()
    }

    pub fn unit_ids(&self) -> Vec<String> {
        self.p.unit_ids.keys().cloned().collect()
    }

    fn snapshot(&self) -> Result<Snapshot<'_>, String> {
        self.as_of.ok_or("as_of: not set")?;
        Ok(Snapshot::new(&self.policy, &self.p, &self.names))
    }

    /// Every eligible pair as (household index, unit index, score), indices into the sorted
    /// id lists; includes non-positive pairs that the matcher never proposes.
    #[allow(clippy::type_complexity)]
    pub fn pairs(&self) -> Result<(Vec<i64>, Vec<i64>, Vec<i64>), String> {
        let s = self.snapshot()?;
        let o = Order::new(&self.p);
        let (mut hs, mut us, mut ws) = (Vec::new(), Vec::new(), Vec::new());
        let mut scratch = Vec::new();
        for (k, &h) in o.hs.iter().enumerate() {
            s.for_each_eligible(h, &o.us, &mut scratch, |u, w| {
                hs.push(k as i64);
                us.push(i64::from(o.rank_of_u[u]));
                ws.push(w);
            });
        }
        Ok((hs, us, ws))
    }

    /// The units a household is eligible for, with its score there, in unit id order: what
    /// `pairs` gives for one household, at the cost of one row.
    pub fn eligible_units(&self, h_id: &str) -> Result<Vec<(String, i64)>, String> {
        let s = self.snapshot()?;
        let h = *self
            .p
            .hh_ids
            .get(h_id)
            .ok_or_else(|| format!("household: unknown household {h_id}"))?
            as usize;
        let o = Order::new(&self.p);
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        s.for_each_eligible(h, &o.us, &mut scratch, |u, w| {
            out.push((s.unit(u).id.clone(), w))
        });
        Ok(out)
    }

    /// The households eligible for a unit, with their score there, in household id order:
    /// what `pairs` gives for one unit, at the cost of one column.
    pub fn eligible_households(&self, u_id: &str) -> Result<Vec<(String, i64)>, String> {
        let s = self.snapshot()?;
        let u = *self
            .p
            .unit_ids
            .get(u_id)
            .ok_or_else(|| format!("unit: unknown unit {u_id}"))? as usize;
        Ok(self
            .p
            .hh_order()
            .into_iter()
            .filter_map(|h| s.check(h, u).ok().map(|b| (s.hh(h).id.clone(), b.total())))
            .collect())
    }

    /// Slots of a household and a unit by id.
    fn slots(&self, h_id: &str, u_id: &str) -> Result<(usize, usize), String> {
        let h = self
            .p
            .hh_slot(h_id)
            .ok_or_else(|| format!("household: unknown household {h_id}"))?;
        let u = self
            .p
            .unit_slot(u_id)
            .ok_or_else(|| format!("unit: unknown unit {u_id}"))?;
        Ok((h, u))
    }

    pub fn score_breakdown(&self, h_id: &str, u_id: &str) -> Result<Option<Breakdown>, String> {
        let (h, u) = self.slots(h_id, u_id)?;
        Ok(self.snapshot()?.check(h, u).ok())
    }

    pub fn ineligibility_reason(&self, h_id: &str, u_id: &str) -> Result<Option<String>, String> {
        let (h, u) = self.slots(h_id, u_id)?;
        Ok(self.snapshot()?.check(h, u).err().map(|e| e.to_string()))
    }

    fn cap_table<'a>(&self, s: &Snapshot<'a>, o: &Order) -> CapTable<'a> {
        let mut rows = Vec::new();
        let mut unit_cons = Vec::new();
        for (r, cap) in self.caps.iter().enumerate() {
            let mut scopes: BTreeMap<&'a str, (usize, i64)> = BTreeMap::new();
            for &u in &o.us {
                scopes.entry(cap.scope.key(s.unit(u))).or_default().0 += 1;
            }
            for &h in &o.hs {
                if let (Some(u), true) = (s.own[h], s.hh(h).flag(cap.flag)) {
                    scopes.entry(cap.scope.key(s.unit(u))).or_default().1 += 1;
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
            let mut cons = vec![NONE; self.p.units.len()];
            for &u in &o.us {
                cons[u] = index[cap.scope.key(s.unit(u))];
            }
            unit_cons.push(cons);
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
        self.as_of.ok_or("as_of: not set")?;
        // Fields borrowed one by one: the warm state is updated while the snapshot is read.
        let s = Snapshot::new(&self.policy, &self.p, &self.names);
        sync(&mut self.inc, &s)?;
        let cert = self
            .inc
            .warm
            .certify()
            .filter(|c| c.bound == c.objective)
            .ok_or("internal: optimality certificate failed")?;
        let decision = if self.caps.is_empty() {
            Decision {
                unit_of: None,
                summary: Summary {
                    objective: cert.objective,
                    bound: cert.bound,
                    uncapped_objective: cert.objective,
                    optimal: true,
                    nodes: 1,
                    matched: cert.matched,
                },
                node_limit,
            }
        } else {
            let o = Order::new(&self.p);
            let table = self.cap_table(&s, &o);
            let (n, m) = (o.hs.len(), o.us.len());
            // Capped: branch and bound on a graph rebuilt in id order (not incremental).
            let mut dummy = vec![NONE; n];
            let mut next = m as u32;
            for (k, &h) in o.hs.iter().enumerate() {
                if s.own[h].is_none() {
                    dummy[k] = next;
                    next += 1;
                }
            }
            let mut g = Graph::new(next as usize);
            let mut scratch = Vec::new();
            for (k, &h) in o.hs.iter().enumerate() {
                let sitting = s.own[h].is_some();
                s.for_each_eligible(h, &o.us, &mut scratch, |u, w| {
                    if sitting || w > 0 {
                        g.push_edge(o.rank_of_u[u], w);
                    }
                });
                if dummy[k] != NONE {
                    g.push_edge(dummy[k], 0);
                }
                g.end_row();
            }
            let flags: Vec<Vec<bool>> = self
                .caps
                .iter()
                .map(|c| o.hs.iter().map(|&h| s.hh(h).flag(c.flag)).collect())
                .collect();
            let per_edge = self.caps.len();
            let mut edge_cons = vec![NONE; g.col.len() * per_edge];
            for k in 0..n {
                for e in g.edges(k) {
                    let j = g.col[e] as usize;
                    if j >= m {
                        continue;
                    }
                    for r in 0..per_edge {
                        if flags[r][k] {
                            edge_cons[e * per_edge + r] = table.unit_cons[r][o.us[j]];
                        }
                    }
                }
            }
            let problem = CappedProblem {
                g: &g,
                edge_cons,
                per_edge,
                cap: table.rows.iter().map(|r| r.2).collect(),
                own_col: o
                    .hs
                    .iter()
                    .map(|&h| s.own[h].map_or(NONE, |u| o.rank_of_u[u]))
                    .collect(),
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
                    (j < m).then(|| o.us[j])
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

    /// Checks the duals of the last re-match against every eligible pair, in the restricted
    /// graph or not, by brute force (quadratic: for tests). The pricing must leave no pair
    /// violated, else the certificate on the restricted graph would not prove the optimum;
    /// the error names the first violated pair.
    pub fn check_all_pairs(&self) -> Result<(), String> {
        if self.decision.is_none() || !self.inc.valid {
            return Err("state: changed since the last re-match; re-match first".into());
        }
        let s = self.snapshot()?;
        let o = Order::new(&self.p);
        let (inc, maps) = (&self.inc, &self.inc.maps);
        let mut scratch = Vec::new();
        // Column pricing's kept records must be what the snapshot gives now.
        let mut n_priceable = 0;
        for &h in &o.hs {
            let r = maps.row_of_h[h];
            let fresh = Compact::of(&s, h);
            n_priceable += usize::from(fresh.is_some());
            if inc.compact.get(r) != fresh.as_ref() {
                return Err(format!(
                    "household {}: column pricing's record is stale",
                    s.hh(h).id
                ));
            }
        }
        if inc.compact.recs().len() != n_priceable {
            return Err("column pricing keeps records of households that left".into());
        }
        // So must row pricing's lists of each group's units (duals, order, skill lists).
        for (g, units) in inc.listed.units.iter().enumerate() {
            let fresh = PricedGroup::new(&s, units, |u| {
                let c = maps.col_of_u[u as usize];
                (inc.warm.v(c), inc.col_key[c as usize])
            });
            if !inc
                .priced
                .get(g)
                .is_some_and(|kept| kept.agrees_with(&fresh))
            {
                return Err(format!("row pricing's list of unit group {g} is stale"));
            }
        }
        for &h in &o.hs {
            let r = maps.row_of_h[h];
            let limit = -inc.warm.u(r);
            let rk = inc.row_key[r as usize];
            let applicant = s.own[h].is_none();
            let mut bad = None;
            s.for_each_eligible(h, &o.us, &mut scratch, |u, w| {
                if applicant && w <= 0 {
                    return; // never proposed: staying unmatched is worth 0
                }
                let c = maps.col_of_u[u];
                let value = (i128::from(w) << 64)
                    + i128::from(warm::tie(rk, inc.col_key[c as usize]))
                    + inc.warm.v(c);
                if value > limit && bad.is_none() {
                    bad = Some(u);
                }
            });
            if let Some(u) = bad {
                return Err(format!(
                    "pair ({}, {}) violates the duals",
                    s.hh(h).id,
                    s.unit(u).id
                ));
            }
        }
        Ok(())
    }

    /// The last decision: the unit slot of each household in id order (`o.hs`).
    fn unit_of(&self, d: &Decision, o: &Order) -> Vec<Option<usize>> {
        match &d.unit_of {
            Some(u) => u.clone(),
            None => {
                let (inc, maps) = (&self.inc, &self.inc.maps);
                o.hs.iter()
                    .map(|&h| {
                        let c = inc.warm.col_of(maps.row_of_h[h]);
                        let u = maps.u_of_col.get(c as usize).copied().unwrap_or(NONE);
                        (u != NONE).then_some(u as usize)
                    })
                    .collect()
            }
        }
    }

    /// The cap rows of a decision, in (rule, scope) order.
    fn cap_rows(&self, s: &Snapshot<'_>, o: &Order, unit_of: &[Option<usize>]) -> Vec<CapRow> {
        let table = self.cap_table(s, o);
        let mut counts = vec![0i64; table.rows.len()];
        for (r, cap) in self.caps.iter().enumerate() {
            for (k, &h) in o.hs.iter().enumerate() {
                if let (Some(u), true) = (unit_of[k], s.hh(h).flag(cap.flag)) {
                    counts[table.unit_cons[r][u] as usize] += 1;
                }
            }
        }
        table
            .rows
            .iter()
            .zip(&counts)
            .map(|(&(rule, scope, cap, units), &count)| CapRow {
                rule,
                flag: self.caps[rule].flag.name(),
                scope: scope.to_string(),
                count,
                cap,
                units,
            })
            .collect()
    }

    fn last_decision(&self) -> Result<&Decision, String> {
        self.decision
            .as_ref()
            .ok_or_else(|| "state: changed since the last re-match; re-match first".to_string())
    }

    /// The result file of the last re-match as UTF-8 JSON; an error if an operation came
    /// after it (call [`Engine::rematch`] first).
    pub fn result(&self) -> Result<String, String> {
        let d = self.last_decision()?;
        let s = self.snapshot()?;
        let o = Order::new(&self.p);
        let unit_of = self.unit_of(d, &o);
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
        for (k, &h) in o.hs.iter().enumerate() {
            if let Some(u) = unit_of[k] {
                let breakdown = s.breakdown_of(h, u);
                assignments.push(AssignmentOut {
                    household: &s.hh(h).id,
                    unit: &s.unit(u).id,
                    score: breakdown.total(),
                    breakdown,
                });
            } else {
                unmatched.push(s.hh(h).id.as_str());
            }
        }
        let rows = self.cap_rows(&s, &o, &unit_of);
        let caps = rows
            .iter()
            .map(|r| CapOut {
                rule: r.rule,
                flag: r.flag,
                scope: &r.scope,
                count: r.count,
                cap: r.cap,
                units: r.units,
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

    /// What the last re-match changed in the decision since it was last reported (by this
    /// call or [`Engine::mark_reported`]), which it then takes as reported: the cost is that of
    /// comparing, not of rendering every assignment.
    pub fn delta(&mut self) -> Result<Delta, String> {
        let mut reported = std::mem::take(&mut self.reported);
        let out = self.report_into(&mut reported);
        self.reported = reported;
        out
    }

    /// Takes the last re-match's decision as reported (the caller has it whole, from
    /// [`Engine::result`]); `clear` instead forgets what was reported.
    pub fn mark_reported(&mut self, clear: bool) -> Result<(), String> {
        if clear {
            self.reported.clear();
            return Ok(());
        }
        self.delta().map(|_| ())
    }

    fn report_into(&self, reported: &mut Reported) -> Result<Delta, String> {
        let d = self.last_decision()?;
        let s = self.snapshot()?;
        let o = Order::new(&self.p);
        let unit_of = self.unit_of(d, &o);
        let caps = self.cap_rows(&s, &o, &unit_of);
        let now = o.hs.iter().zip(&unit_of).filter_map(|(&h, u)| {
            u.map(|u| {
                (
                    s.hh(h).id.as_str(),
                    s.unit(u).id.as_str(),
                    s.breakdown_of(h, u),
                )
            })
        });
        Ok(reported.update(now, caps))
    }
}

/// Edges kept for a household whose row is (re)built: its own unit or its private "stay
/// unmatched" column, plus the best vacant units under the current column duals.
const INITIAL_EDGES: usize = 12;
/// Edges added per household and pricing round.
const PRICED_EDGES: usize = 6;
/// Rows priced in one round from which the work is shared among the cores.
const PARALLEL_ROWS: usize = 64;
/// Edges added per column and pricing round.
const PRICED_COL_EDGES: usize = 4;
/// Households per block of column pricing (their records and rows stay in cache while the
/// block is priced against every column).
const BLOCK: usize = 2048;
/// Column pricing's household × column pairs from which the work is shared among the cores.
const PARALLEL_PAIRS: usize = 50_000;

/// What the pricing passes of one solve share. The groups and slot maps are taken out of the
/// incremental state for the solve (and put back after it) so that the state can change
/// while they are read.
struct Pricer<'s, 'a> {
    s: &'s Snapshot<'a>,
    /// Estimated cost of one row's pricing walk, in household scorings.
    walk: usize,
    groups: Groups,
    maps: Maps,
}

impl Pricer<'_, '_> {
    /// Score of `h`'s own unit, if any: the rule-7 threshold of a transfer requester.
    fn own_total(&self, h: usize) -> Option<i64> {
        self.s.own[h].map(|o| self.s.breakdown_of(h, o).total())
    }

    /// Brings `priced`, each group's units as row pricing walks them ([`PricedGroup`]), up
    /// to date: groups in `regroup` (their units changed), new groups and those with a unit
    /// whose dual moved are sorted again, the others are kept.
    fn refresh_priced(
        &self,
        warm: &mut Warm,
        col_key: &[u64],
        priced: &mut Vec<PricedGroup>,
        regroup: &mut Vec<u32>,
    ) {
        let units = &self.groups.units;
        let old = priced.len();
        priced.resize_with(units.len(), PricedGroup::default);
        regroup.extend(old as u32..units.len() as u32);
        for c in warm.take_moved() {
            let u = self.maps.u_of_col.get(c as usize).copied().unwrap_or(NONE);
            if let Some(g) = (u != NONE)
                .then(|| self.groups.group_of(u as usize))
                .flatten()
            {
                regroup.push(g);
            }
        }
        regroup.sort_unstable();
        regroup.dedup();
        for &g in regroup.iter() {
            let col_of_u = &self.maps.col_of_u;
            priced[g as usize] = PricedGroup::new(self.s, &units[g as usize], |u| {
                let c = col_of_u[u as usize];
                (warm.v(c), col_key[c as usize])
            });
        }
        regroup.clear();
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
    ) -> Bounds {
        let row = self.maps.row_of_h[h];
        let rk = inc.row_key[row as usize];
        let tie = |u: usize| warm::tie(rk, inc.col_key[self.maps.col_of_u[u] as usize]);
        // A rebuilt row's edges are all replaced: none of its current ones counts as kept.
        let rebuild = threshold == i128::MIN;
        let in_graph = |u: usize| !rebuild && inc.warm.has_edge(row, self.maps.col_of_u[u]);
        let v = |u: usize| inc.warm.v(self.maps.col_of_u[u]);
        let bounds =
            inc.bounds[row as usize].get_or_init(|| group_bounds(self.s, &inc.groups.keys, h));
        let own = self.own_total(h);
        let own_building: &[u32] = match self.s.own[h] {
            Some(o) => self.groups.in_building(self.s.building_of(o)),
            None => &[],
        };
        let left = price_row(
            self.s,
            bounds,
            by_price,
            own_building,
            h,
            own,
            threshold,
            limit,
            rk,
            &tie,
            &v,
            &in_graph,
            buf,
        );
        out.clear();
        out.extend(buf.iter().map(|c| Edge {
            w: c.w,
            t: tie(c.unit as usize),
            col: self.maps.col_of_u[c.unit as usize],
        }));
        left
    }

    /// Edges of household `h` for a rebuilt row, sorted by column, and the bound on the
    /// values of its pairs left out.
    fn row_edges(
        &self,
        inc: &Inc,
        by_price: &[PricedGroup],
        h: usize,
        buf: &mut Vec<Candidate>,
    ) -> (Vec<Edge>, Bounds) {
        let s = self.s;
        let row = self.maps.row_of_h[h];
        let rk = inc.row_key[row as usize];
        let mut out = Vec::new();
        let left = self.row_candidates(inc, by_price, h, i128::MIN, INITIAL_EDGES, buf, &mut out);
        match s.own[h] {
            Some(o) => {
                let c = self.maps.col_of_u[o];
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
        (out, left)
    }

    /// Row pricing for households `hs`: adds their violated pairs; `true` if any. Many rows
    /// are priced on all cores: pricing a row reads nothing that adding another row's edges
    /// changes (its own dual and edges, column duals, the groups), so each is priced on the
    /// state before any of them and their edges are then added in order, as one at a time
    /// would; the outcome does not depend on the threads.
    fn add_violated_rows(&self, inc: &mut Inc, by_price: &[PricedGroup], hs: &[usize]) -> bool {
        let state: &Inc = inc;
        let price = |h: usize, buf: &mut Vec<Candidate>| {
            let r = self.maps.row_of_h[h];
            let threshold = -state.warm.u(r);
            let mut edges = Vec::new();
            let left =
                self.row_candidates(state, by_price, h, threshold, PRICED_EDGES, buf, &mut edges);
            (r, left, edges)
        };
        let priced: Vec<(u32, Bounds, Vec<Edge>)> = if hs.len() >= PARALLEL_ROWS {
            hs.par_iter()
                .map_init(Vec::new, |buf, &h| price(h, buf))
                .collect()
        } else {
            let mut buf = Vec::new();
            hs.iter().map(|&h| price(h, &mut buf)).collect()
        };
        let mut found = false;
        for (r, left, edges) in priced {
            inc.best_out[r as usize] = left.rest;
            inc.low_out[r as usize] = left.low;
            if !edges.is_empty() {
                inc.warm.add_row_edges(r, &edges);
                found = true;
            }
        }
        found
    }

    /// Column pricing for vacant units `us`: adds each one's most violated pairs and lowers
    /// its dual so that every pair into it is feasible; `true` if any. Pricing a column reads
    /// nothing that another column's pricing changes (that touches only its own edges and
    /// dual, and raises row bounds to a maximum), so the households are cut into blocks, each
    /// priced against every column on the state before any of them, on all cores when there
    /// is enough work; each column keeps its best pairs over all blocks (by reduced cost, ties
    /// by row), so the outcome does not depend on the threads or the blocks.
    fn add_violated_cols(&self, inc: &mut Inc, us: &[usize], compact: &[Compact]) -> bool {
        let s = self.s;
        let cols: Vec<ColView> = us
            .iter()
            .map(|&u| {
                let c = self.maps.col_of_u[u];
                ColView {
                    u,
                    c,
                    key: inc.col_key[c as usize],
                    v: inc.warm.v(c),
                    view: UnitView::new(s, u),
                }
            })
            .collect();
        let state: &Inc = inc;
        let price = |block: &[Compact]| self.price_block(state, &cols, block);
        let blocks: Vec<Block> = if cols.len() * compact.len() >= PARALLEL_PAIRS {
            compact.par_chunks(BLOCK).map(price).collect()
        } else {
            compact.chunks(BLOCK).map(price).collect()
        };
        let mut found: Vec<(u32, i128, u32, i64)> = Vec::new();
        for (block, recs) in blocks.into_iter().zip(compact.chunks(BLOCK)) {
            for (rec, (best, low)) in recs.iter().zip(block.bounds) {
                let r = self.maps.row_of_h[rec.h as usize] as usize;
                inc.best_out[r] = best;
                inc.low_out[r] = low;
            }
            found.extend(block.found);
        }
        found.sort_unstable_by_key(|&(j, m, r, _)| (j, m, r));
        for pairs in found.chunk_by(|a, b| a.0 == b.0) {
            let col = &cols[pairs[0].0 as usize];
            let pairs = &pairs[..pairs.len().min(PRICED_COL_EDGES)];
            for &(_, _, r, w) in pairs {
                let t = warm::tie(inc.row_key[r as usize], col.key);
                inc.warm.set_edge(r, col.c, Some((w, t)));
            }
            inc.warm.lower_col(col.c, pairs[0].1);
        }
        !found.is_empty()
    }

    /// One block of [`Pricer::add_violated_cols`]: its rows' bounds raised by the pairs into
    /// the columns, and each column's best violated pairs in the block, as (column index,
    /// reduced cost, row, score).
    fn price_block(&self, inc: &Inc, cols: &[ColView], block: &[Compact]) -> Block {
        let s = self.s;
        // What the inner loop reads of the rows, side by side.
        let rows: Vec<u32> = block
            .iter()
            .map(|rec| self.maps.row_of_h[rec.h as usize])
            .collect();
        let row_u: Vec<i128> = rows.iter().map(|&r| inc.warm.u(r)).collect();
        let row_key: Vec<u64> = rows.iter().map(|&r| inc.row_key[r as usize]).collect();
        let mut bounds: Vec<(i128, i128)> = rows
            .iter()
            .map(|&r| (inc.best_out[r as usize], inc.low_out[r as usize]))
            .collect();
        let mut found = Vec::new();
        // (reduced cost, row, score): a violation is below the column's dual.
        let mut best: Vec<(i128, u32, i64)> = Vec::with_capacity(PRICED_COL_EDGES + 1);
        for (j, col) in cols.iter().enumerate() {
            best.clear();
            for (i, rec) in block.iter().enumerate() {
                let Some(w) = compact_raw(s, rec, &col.view, col.u) else {
                    continue;
                };
                let value = (i128::from(w) << 64) + i128::from(warm::tie(row_key[i], col.key));
                let b = &mut bounds[i];
                if !rec.eligible(w) {
                    // Only an applicant's pairs not above 0 can become eligible (on a new
                    // date).
                    if rec.is_applicant() && value + col.v > b.1 {
                        b.1 = value + col.v;
                    }
                    continue;
                }
                // The column's dual may have risen: the row's bound must cover this pair if
                // it is left out of the graph (with the dual before any lowering, so a valid
                // if loose bound). A pair in the graph, such as the row's match at exactly
                // -u, is not.
                let r = rows[i];
                if value + col.v > b.0 && !inc.warm.has_edge(r, col.c) {
                    b.0 = value + col.v;
                }
                let m = -value - row_u[i];
                if m >= col.v
                    || (best.len() == PRICED_COL_EDGES
                        && (m, r) >= (best[best.len() - 1].0, best[best.len() - 1].1))
                {
                    continue;
                }
                let at = best.partition_point(|x| (x.0, x.1) < (m, r));
                best.insert(at, (m, r, w));
                best.truncate(PRICED_COL_EDGES);
            }
            found.extend(best.iter().map(|&(m, r, w)| (j as u32, m, r, w)));
        }
        Block { bounds, found }
    }
}

/// A vacant unit as column pricing reads it, with its dual before the pricing.
struct ColView {
    u: usize,
    c: u32,
    key: u64,
    v: i128,
    view: UnitView,
}

/// What column pricing found in one block of households: their rows' bounds (best, low)
/// and the violated pairs.
struct Block {
    bounds: Vec<(i128, i128)>,
    found: Vec<(u32, i128, u32, i64)>,
}

/// Brings the warm matching up to date with the snapshot `s` and re-solves it. Costs what
/// changed (plus the pricing it sets off), not the size of the portfolio, except on a full
/// rebuild.
fn sync(inc: &mut Inc, s: &Snapshot) -> Result<(), String> {
    let p = s.p;
    let (n, m) = (p.n_households(), p.n_units());
    let n_keys = inc.groups.keys.len();
    let mut full = !inc.valid;
    if !full {
        let dirty_hh = std::mem::take(&mut inc.dirty_hh);
        let dirty_units = std::mem::take(&mut inc.dirty_units);
        for id in &dirty_hh {
            if p.hh_slot(id).is_none() {
                if let Some(r) = inc.hh_row.remove(id) {
                    let d = inc.dummy[r as usize];
                    inc.warm.remove_row(r);
                    inc.warm.remove_col(d);
                    inc.compact.set(s, r, None);
                    inc.free_rows.push(r);
                    inc.free_cols.push(d);
                    inc.maps.h_of_row[r as usize] = NONE;
                }
            }
        }
        // Every changed unit leaves its group first (its slot may have gone to another unit
        // in the meantime), then the vacant ones are listed again.
        for id in &dirty_units {
            if let Some(&c) = inc.unit_col.get(id) {
                inc.listed.remove(inc.maps.u_of_col[c as usize] as usize);
            }
            if p.unit_slot(id).is_none() {
                if let Some(c) = inc.unit_col.remove(id) {
                    inc.warm.remove_col(c);
                    inc.free_cols.push(c);
                    inc.maps.u_of_col[c as usize] = NONE;
                }
            }
        }
        for id in &dirty_units {
            if let Some(u) = p.unit_slot(id) {
                inc.col_for(id, u);
                inc.listed.insert(s, &mut inc.groups, u);
            }
        }
        for id in &dirty_hh {
            if let Some(h) = p.hh_slot(id) {
                inc.row_for(id, h);
            }
        }
        inc.dirty_hh = dirty_hh;
        inc.dirty_units = dirty_units;
        if inc.hh_row.len() != n || inc.unit_col.len() != m {
            full = true; // cannot happen; be safe
        }
    }
    let unit_order = full.then(|| p.unit_order());
    let hh_order = full.then(|| p.hh_order());
    if let (Some(us), Some(hs)) = (&unit_order, &hh_order) {
        *inc = Inc {
            valid: false,
            ..Inc::default()
        };
        for &u in us {
            inc.col_for(&p.unit(u).id, u);
        }
        for &h in hs {
            inc.row_for(&p.hh(h).id, h);
        }
        inc.listed = Groups::new(s, &mut inc.groups, us);
    }
    // Rows and columns to rebuild or rescore, in id order.
    let mut dirty_row = vec![false; p.households.len()];
    let mut rows_todo: Vec<usize> = Vec::new();
    let mut cols_todo: Vec<usize> = Vec::new();
    if let Some(hs) = hh_order {
        rows_todo = hs;
    } else {
        rows_todo.extend(inc.dirty_hh.iter().filter_map(|id| p.hh_slot(id)));
        cols_todo.extend(inc.dirty_units.iter().filter_map(|id| p.unit_slot(id)));
        if !inc.dirty_buildings.is_empty() {
            for &b in &inc.dirty_buildings {
                for &u in p.building_units.get(b as usize).map_or(&[][..], |v| v) {
                    cols_todo.push(u as usize);
                    if let Some(h) = p.occupant[u as usize] {
                        rows_todo.push(h);
                    }
                }
            }
            rows_todo.sort_unstable_by(|&a, &b| p.hh(a).id.cmp(&p.hh(b).id));
            rows_todo.dedup();
            cols_todo.sort_unstable_by(|&a, &b| p.unit(a).id.cmp(&p.unit(b).id));
            cols_todo.dedup();
        }
        // Beyond half the problem a cold start is as cheap and simpler.
        if 2 * (rows_todo.len() + cols_todo.len()) > n.max(1) + m {
            full = true;
            rows_todo = p.hh_order();
            cols_todo.clear();
        }
    }
    for &h in &rows_todo {
        dirty_row[h] = true;
    }
    inc.dirty_hh.clear();
    inc.dirty_units.clear();
    inc.dirty_buildings.clear();
    if inc.groups.keys.len() != n_keys {
        // A new kind of vacant unit: every household's bounds lack it.
        inc.bounds.iter_mut().for_each(|b| drop(b.take()));
    }
    for &h in &rows_todo {
        inc.bounds[inc.maps.row_of_h[h] as usize].take();
    }
    let walk = (inc.listed.vacant / 4).max(1);
    let mut regroup = inc.listed.take_changed();
    // Row pricing's per-skill lists follow the buildings' skills: the units of a building
    // whose skills changed are among `cols_todo` (everything when full), and the rows rebuilt
    // below are priced before their rescoring marks them moved.
    if full {
        regroup.extend(0..inc.priced.len() as u32);
    } else {
        regroup.extend(cols_todo.iter().filter_map(|&u| inc.listed.group_of(u)));
    }
    let mut priced = std::mem::take(&mut inc.priced);
    let pricer = Pricer {
        s,
        walk,
        groups: std::mem::take(&mut inc.listed),
        maps: std::mem::take(&mut inc.maps),
    };
    pricer.refresh_priced(&mut inc.warm, &inc.col_key, &mut priced, &mut regroup);
    let out = solve_and_price(
        inc,
        &pricer,
        &mut priced,
        full,
        &rows_todo,
        &cols_todo,
        &dirty_row,
    );
    let Pricer { groups, maps, .. } = pricer;
    inc.listed = groups;
    inc.maps = maps;
    inc.priced = priced;
    out
}

/// The solve proper of [`sync`]: rebuilds and rescores what changed, then solves and prices
/// until no pair outside the graph is violated.
fn solve_and_price(
    inc: &mut Inc,
    pricer: &Pricer,
    by_price: &mut Vec<PricedGroup>,
    full: bool,
    rows_todo: &[usize],
    cols_todo: &[usize],
    dirty_row: &[bool],
) -> Result<(), String> {
    let s = pricer.s;
    let maps = &pricer.maps;
    let mut buf = Vec::new();
    if full {
        inc.warm.take_changed();
    }
    let mut regroup = Vec::new();
    for &h in rows_todo {
        let (edges, left) = pricer.row_edges(inc, by_price, h, &mut buf);
        inc.best_out[maps.row_of_h[h] as usize] = left.rest;
        inc.low_out[maps.row_of_h[h] as usize] = left.low;
        inc.warm.set_row(maps.row_of_h[h], edges);
    }
    // Waiting points moved: shift those rows (before the column rescoring below, which
    // writes absolute scores).
    let shifted = std::mem::take(&mut inc.shifted);
    if !full {
        for (id, &delta) in &shifted {
            let Some(h) = s.p.hh_slot(id) else {
                continue;
            };
            if delta == 0 || dirty_row[h] {
                continue;
            }
            let r = maps.row_of_h[h];
            let dummy = s.own[h].is_none().then(|| inc.dummy[r as usize]);
            inc.warm.shift_row(r, delta, dummy);
            // Every pair left out moved by delta too. An applicant's pairs that rose above 0
            // became eligible (they were under `low_out`), those that fell to 0 or below
            // left (`best_out` keeps covering them: looser, still valid).
            let ru = r as usize;
            let shift = i128::from(delta) << 64;
            let best = inc.best_out[ru].saturating_add(shift);
            let low = inc.low_out[ru].saturating_add(shift);
            if dummy.is_some() {
                inc.best_out[ru] = if delta > 0 { best.max(low) } else { best };
                inc.low_out[ru] = if delta < 0 { low.max(best) } else { low };
            } else {
                inc.best_out[ru] = best;
                inc.low_out[ru] = low;
            }
        }
    }
    // Column pricing's records follow the rows rebuilt (rows of households whose own unit or
    // building changed are among them) and the waiting points that moved.
    if full || inc.compact.stale(s) {
        inc.compact.clear(s);
        for &h in s.p.hh_ids.values() {
            inc.compact
                .set(s, maps.row_of_h[h as usize], Some(h as usize));
        }
    } else {
        let moved = shifted.keys().filter_map(|id| s.p.hh_slot(id));
        for h in rows_todo.iter().copied().chain(moved) {
            inc.compact.set(s, maps.row_of_h[h], Some(h));
        }
    }
    for &u in cols_todo {
        // Rescore the pairs the graph holds; pricing finds the ones it should hold.
        let c = maps.col_of_u[u];
        let rows: Vec<u32> = inc.warm.col_rows(c).to_vec();
        for &r in &rows {
            let h = maps.h_of_row[r as usize] as usize;
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
    inc.last_rows = rows_todo.len();
    inc.last_cols = cols_todo.len();
    inc.last_full = full;
    // Solve the restricted graph, then price every pair outside it whose reduced cost may
    // have dropped; repeat until none is violated. That last, clean pass is the proof that
    // the restricted optimum is the optimum over all eligible pairs.
    let mut everything = full;
    // Moved out while the loop changes the rest of `inc` (a failed solve rebuilds it anyway).
    let compact = std::mem::take(&mut inc.compact);
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
            .map(|&r| maps.h_of_row.get(r as usize).copied().unwrap_or(NONE))
            .filter(|&h| h != NONE && pricing::priceable(s, h as usize))
            .map(|h| h as usize)
            .collect();
        let cols: Vec<usize> = cols
            .iter()
            .map(|&c| maps.u_of_col.get(c as usize).copied().unwrap_or(NONE))
            .filter(|&u| u != NONE && pricer.groups.group_of(u as usize).is_some())
            .map(|u| u as usize)
            .collect();
        // Pricing a column scores every priceable household (from compact records); pricing
        // a row walks the vacant units near its cut. Measured on a whole pass over the rows
        // at 100,000 units (session 4): a row costs about as much as scoring a seventh as
        // many households as there are vacant units (a column 0.9 ms, a row 0.1 ms), where
        // session 3 measured a half on the rows of storms; a quarter is used. Price every
        // row instead when the columns would cost more than the rows not priced anyway.
        if !cols.is_empty() {
            let n_price = compact.recs().len();
            if cols.len() * n_price > n_price.saturating_sub(rows.len()) * pricer.walk {
                everything = true;
            }
        }
        pricer.refresh_priced(&mut inc.warm, &inc.col_key, by_price, &mut regroup);
        let mut found = false;
        if everything {
            let priceable: Vec<usize> = compact.recs().iter().map(|c| c.h as usize).collect();
            inc.last_priced.0 += priceable.len();
            inc.last_priced.2 = true;
            found |= pricer.add_violated_rows(inc, by_price, &priceable);
        } else {
            inc.last_priced.0 += rows.len();
            inc.last_priced.1 += cols.len();
            found |= pricer.add_violated_rows(inc, by_price, &rows);
            if !cols.is_empty() {
                found |= pricer.add_violated_cols(inc, &cols, compact.recs());
            }
        }
        everything = false;
        if !found {
            break;
        }
    }
    inc.warm.take_changed();
    inc.compact = compact;
    inc.valid = true;
    Ok(())
}

/// Cross-checks of one household against the units and the run date.
fn check_household(h: &Household, path: &str, p: &Portfolio, as_of: i64) -> Result<(), String> {
    if let Some(c) = &h.current_unit {
        if !p.unit_ids.contains_key(c) {
            return Err(format!("{path}.current_unit: unknown unit {c}"));
        }
    }
    if h.applied_on.is_some_and(|a| a > as_of) {
        return Err(format!("{path}.applied_on: after as_of"));
    }
    Ok(())
}
