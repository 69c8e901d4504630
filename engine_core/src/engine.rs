//! The engine: portfolio state with incremental updates, and the solve that turns a snapshot
//! into a result file. Everything is ordered by id so the output depends only on the sets.

use std::collections::{BTreeMap, BTreeSet};

use rayon::prelude::*;
use serde::Serialize;

use crate::caps::CappedProblem;
use crate::lsa::Graph;
use crate::model::{in_buildings, Cap, CoverScope, Household, Instance, Names, Policy, Unit};
use crate::pricing::{
    self, compact_raw, group_bounds, price_row, Bounds, Candidate, Compact, CompactRows,
    GroupBound, GroupIndex, Groups, PricedGroup, UnitView,
};
use crate::report::{self, CapRow, Delta, Reported, Touched};
use crate::scoring::{waiting_points, Breakdown, ScoreView};
use crate::slots::Slots;
use crate::warm::{self, Edge, Warm};

pub const ENGINE_VERSION: &str = concat!("engine_core ", env!("CARGO_PKG_VERSION"));

/// The engine that decided capped re-matches by a branch and bound over the eligible graph
/// rebuilt per re-match. Runs it recorded are replayed by the same search
/// ([`Engine::use_kept_caps`]`(false)`), since where it stopped at a node budget, or
/// counted its nodes, the kept search differs.
pub const LEGACY_ENGINE_VERSION: &str = "engine_core 0.1.0";

const NONE: u32 = u32::MAX;

mod capped;
mod lack;
mod legacy;
mod price;
mod rules;
mod solve;

pub use lack::Lack;
use rules::{cap_table, rules_of, CapTable, Rule};
use solve::sync;

#[derive(Clone, Debug)]
pub struct Engine {
    policy: Policy,
    p: Slots,
    caps: Vec<Cap>,
    as_of: Option<i64>,
    names: Names,
    inc: Inc,
    /// The decision of the last re-match, while no operation has come since.
    decision: Option<Decision>,
    /// The decision as last reported ([`Engine::delta`]).
    reported: Reported,
    /// What operations touched since the last report.
    touched: Touched,
    /// The capped search's kept state (while caps are set).
    capped: Option<capped::CapState>,
    /// Decide capped re-matches with the kept capped search ([`Engine::use_kept_caps`]).
    kept_caps: bool,
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
    row_key: Vec<RowKey>,
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
use crate::warm::{RowKey, UNMATCHED_KEY};

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
    fn row_for(&mut self, id: &str, h: usize, seed: Option<&str>) {
        let r = match self.hh_row.get(id) {
            Some(&r) => r,
            None => self.new_row(id, seed),
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

    fn new_row(&mut self, id: &str, seed: Option<&str>) -> u32 {
        let r = self.alloc_row();
        let d = self.alloc_col();
        let ru = r as usize;
        if ru >= self.dummy.len() {
            self.dummy.resize(ru + 1, NONE);
            self.row_key.resize(ru + 1, RowKey::default());
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
        self.row_key[ru] = RowKey::of(seed, id);
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
    flag: &'a str,
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

/// The portfolio in id order, for the outputs and the capped solve: household and unit
/// slots by id, and each unit slot's rank.
struct Order {
    hs: Vec<usize>,
    us: Vec<usize>,
    rank_of_u: Vec<u32>,
}

impl Order {
    fn new(p: &Slots) -> Self {
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
    pub fn new(policy: Policy) -> Self {
        Engine {
            policy,
            p: Slots::default(),
            caps: Vec::new(),
            as_of: None,
            names: Names::default(),
            inc: Inc::default(),
            decision: None,
            reported: Reported::default(),
            touched: Touched::default(),
            capped: None,
            kept_caps: true,
        }
    }

    /// Decides capped re-matches with the kept capped search ([`crate::capsolve`]: prices
    /// on the cap rows, warm between re-matches, proving the unique optimum of the
    /// lexicographic weights; the default) or, with `false`, as [`LEGACY_ENGINE_VERSION`]
    /// did: a branch and bound that rebuilds the eligible graph per re-match.
    pub fn use_kept_caps(&mut self, kept: bool) {
        if kept != self.kept_caps {
            self.kept_caps = kept;
            self.capped = None;
            self.decision = None;
        }
    }

    /// The engine version the decisions are made as: [`ENGINE_VERSION`], or
    /// [`LEGACY_ENGINE_VERSION`] after `use_kept_caps(false)`.
    pub fn engine_version(&self) -> &'static str {
        if self.kept_caps {
            ENGINE_VERSION
        } else {
            LEGACY_ENGINE_VERSION
        }
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

    /// Replaces the whole state with an instance; on error nothing changes.
    pub fn load(&mut self, inst: Instance) -> Result<(), String> {
        let Instance {
            as_of,
            units,
            households,
            caps,
        } = inst;
        let mut names = Names::default();
        let mut p = Slots::default();
        for (i, mut u) in units.into_iter().enumerate() {
            if p.unit_ids.contains_key(&u.id) {
                return Err(format!("units[{i}].id: duplicate id {}", u.id));
            }
            names.code_unit(&mut u, None);
            p.put_unit(u, &names);
        }
        for (i, mut h) in households.into_iter().enumerate() {
            let path = format!("households[{i}]");
            if p.hh_ids.contains_key(&h.id) {
                return Err(format!("{path}.id: duplicate id {}", h.id));
            }
            check_household(&h, &path, &p, as_of)?;
            if let Some(c) = h.home() {
                if let Some(other) = p.tenant_of(c) {
                    return Err(format!(
                        "{path}.{}: unit {c} is already the current unit of household {}",
                        home_field(&h),
                        other.id
                    ));
                }
            }
            let own_slot = h.home().map(|c| p.unit_ids[c]);
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
            touched: Touched::default(),
            capped: None,
            kept_caps: self.kept_caps,
        };
        Ok(())
    }

    pub fn upsert_unit(&mut self, mut u: Unit) -> Result<(), String> {
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
                    self.touched.buildings.insert(old.codes.building);
                    self.touched.buildings.insert(u.codes.building);
                }
                // Their own unit's score is the rule-7 threshold of their whole row.
                self.inc.dirty_hh.insert(h.id.clone());
                self.touched.households.insert(h.id.clone());
            }
        }
        self.decision = None;
        self.inc.dirty_units.insert(u.id.clone());
        self.touched.units.insert(u.id.clone());
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
        self.touched.units.insert(id.to_string());
        Ok(())
    }

    pub fn upsert_household(&mut self, mut h: Household) -> Result<(), String> {
        check_household(&h, "household", &self.p, self.as_of.unwrap_or(i64::MAX))?;
        if let Some(c) = h.home() {
            if let Some(other) = self.p.tenant_of(c).filter(|o| o.id != h.id) {
                return Err(format!(
                    "household.{}: unit {c} is already the current unit of household {}",
                    home_field(&h),
                    other.id
                ));
            }
        }
        let own_slot = h.home().map(|c| self.p.unit_ids[c]);
        self.names.code_household(&mut h, own_slot);
        let old = self.p.get_hh(&h.id);
        if old == Some(&h) {
            return Ok(());
        }
        let moved = old.map(|o| (o.home(), &o.skills)) != Some((h.home(), &h.skills));
        let touched: Vec<String> = old
            .and_then(|o| o.home().cloned())
            .into_iter()
            .chain(h.home().cloned())
            .collect();
        for c in touched {
            if moved {
                let b = self.p.get_unit(&c).expect("checked").codes.building;
                self.inc.dirty_buildings.insert(b);
                self.touched.buildings.insert(b);
            }
            self.touched.units.insert(c.clone());
            self.inc.dirty_units.insert(c);
        }
        self.decision = None;
        self.inc.dirty_hh.insert(h.id.clone());
        self.touched.households.insert(h.id.clone());
        let wait = self.waiting(&h);
        self.p.put_household(h, &self.policy, wait, &self.names);
        Ok(())
    }

    pub fn remove_household(&mut self, id: &str) -> Result<(), String> {
        let h = self
            .p
            .take_household(id)
            .ok_or_else(|| format!("id: unknown household {id}"))?;
        if let Some(c) = h.home().cloned() {
            let b = self.p.get_unit(&c).expect("own unit").codes.building;
            self.inc.dirty_buildings.insert(b);
            self.touched.buildings.insert(b);
            self.touched.units.insert(c.clone());
            self.inc.dirty_units.insert(c);
        }
        self.decision = None;
        self.touched.households.insert(h.id.clone());
        self.inc.dirty_hh.insert(h.id);
        Ok(())
    }

    /// Sets the run date (a day number, see [`crate::date::parse_date`]).
    pub fn set_as_of(&mut self, d: i64) -> Result<(), String> {
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
                self.touched.households.insert(h.id.clone());
            }
            self.p.waiting[slot] = points;
        }
        if !known {
            self.inc.invalidate();
            self.touched.all = true;
        }
        self.decision = None;
        self.as_of = Some(d);
        Ok(())
    }

    pub fn set_caps(&mut self, caps: Vec<Cap>) {
        self.caps = caps;
        self.decision = None;
    }

    pub fn household_ids(&self) -> Vec<String> {
        self.p.hh_ids.keys().cloned().collect()
    }

    pub fn unit_ids(&self) -> Vec<String> {
        self.p.unit_ids.keys().cloned().collect()
    }

    fn snapshot(&self) -> Result<ScoreView<'_>, String> {
        self.as_of.ok_or("as_of: not set")?;
        Ok(ScoreView::new(&self.policy, &self.p, &self.names))
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

    /// The caps' rows (not the hard coverage rules').
    fn cap_table<'a>(&self, s: &ScoreView<'a>, o: &Order) -> CapTable<'a> {
        let caps: Vec<Rule> = self.caps.iter().cloned().map(Rule::Cap).collect();
        cap_table(&caps, &self.p, s, o)
    }

    fn has_hard_cover(&self) -> bool {
        self.policy.coverage.iter().any(|c| c.hard)
    }

    /// Whether re-matches take the capped search: caps, or a hard coverage rule.
    fn has_rules(&self) -> bool {
        !self.caps.is_empty() || self.has_hard_cover()
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
        if !self.has_rules() || !self.kept_caps {
            self.capped = None;
        } else if let Some(c) = &mut self.capped {
            c.note(&self.inc);
        }
        // Fields borrowed one by one: the warm state is updated while the snapshot is read.
        let s = ScoreView::new(&self.policy, &self.p, &self.names);
        sync(&mut self.inc, &s)?;
        let cert = self
            .inc
            .warm
            .certify()
            .filter(|c| c.bound == c.objective)
            .ok_or("internal: optimality certificate failed")?;
        let decision = if !self.has_rules() {
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
        } else if self.kept_caps {
            self.capped_decision(node_limit, cert.objective)?
        } else if self.has_hard_cover() {
            return Err(format!(
                "policy.coverage: a hard rule needs {ENGINE_VERSION}, not {LEGACY_ENGINE_VERSION}"
            ));
        } else {
            self.legacy_capped_decision(&s, node_limit, cert.objective)?
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
    fn cap_rows(&self, s: &ScoreView<'_>, o: &Order, unit_of: &[Option<usize>]) -> Vec<CapRow> {
        let table = self.cap_table(s, o);
        let mut counts = vec![0i64; table.rows.len()];
        for (r, cap) in self.caps.iter().enumerate() {
            for (k, &h) in o.hs.iter().enumerate() {
                if let (Some(u), true) = (unit_of[k], s.hh(h).flag(&cap.flag)) {
                    let c = table.unit_cons[r][u];
                    if c != NONE {
                        counts[c as usize] += 1;
                    }
                }
            }
        }
        table
            .rows
            .iter()
            .zip(&counts)
            .map(|(&(rule, scope, cap, units), &count)| CapRow {
                rule,
                flag: self.caps[rule].flag.name().to_string(),
                scope: scope.0.to_string(),
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
                flag: &r.flag,
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
            engine_version: self.engine_version(),
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
        if out.is_ok() {
            self.touched.clear();
        }
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

    /// What changed since the last report. Only the households whose proposal can have
    /// changed are scored again: those the re-match moved (found by comparing unit slots),
    /// those an operation touched, and the tenants-to-be of touched units and of buildings
    /// whose skills changed. The first report, a capped decision and a new date for
    /// everyone compare the whole decision.
    fn report_into(&self, reported: &mut Reported) -> Result<Delta, String> {
        let d = self.last_decision()?;
        let s = self.snapshot()?;
        let (p, t) = (&self.p, &self.touched);
        if !reported.valid || t.all || !self.caps.is_empty() || d.unit_of.is_some() {
            let o = Order::new(p);
            let unit_of = self.unit_of(d, &o);
            let caps = self.cap_rows(&s, &o, &unit_of);
            reported.slots = vec![report::NONE; p.households.len()];
            for (k, &h) in o.hs.iter().enumerate() {
                reported.slots[h] = unit_of[k].map_or(report::NONE, |u| u as u32);
            }
            let now = o.hs.iter().zip(&unit_of).filter_map(|(&h, u)| {
                u.map(|u| {
                    (
                        s.hh(h).id.as_str(),
                        s.unit(u).id.as_str(),
                        s.breakdown_of(h, u),
                    )
                })
            });
            return Ok(reported.update(now, caps));
        }
        let (inc, maps) = (&self.inc, &self.inc.maps);
        reported.slots.resize(p.households.len(), report::NONE);
        let mut holder = vec![NONE; p.units.len()];
        let mut ids: BTreeMap<String, Option<usize>> = BTreeMap::new();
        for (h, slot) in p.households.iter().enumerate() {
            let now = match slot {
                None => report::NONE,
                Some(_) => {
                    let c = inc.warm.col_of(maps.row_of_h[h]);
                    maps.u_of_col.get(c as usize).copied().unwrap_or(NONE)
                }
            };
            if now != NONE {
                holder[now as usize] = h as u32;
            }
            if now != reported.slots[h] {
                if let Some(hh) = slot {
                    ids.insert(hh.id.clone(), Some(h));
                }
                reported.slots[h] = now;
            }
        }
        for id in &t.households {
            ids.entry(id.clone()).or_insert_with(|| p.hh_slot(id));
        }
        let held = |u: usize, ids: &mut BTreeMap<String, Option<usize>>| {
            if let Some(&h) = holder.get(u).filter(|&&h| h != NONE) {
                ids.insert(p.hh(h as usize).id.clone(), Some(h as usize));
            }
        };
        for id in &t.units {
            if let Some(u) = p.unit_slot(id) {
                held(u, &mut ids);
            }
        }
        for &b in &t.buildings {
            for &u in p.building_units.get(b as usize).map_or(&[][..], |v| v) {
                held(u as usize, &mut ids);
            }
        }
        let candidates = ids
            .into_iter()
            .map(|(id, slot)| {
                let now = slot.and_then(|h| {
                    let u = reported.slots[h];
                    (u != report::NONE).then(|| {
                        (
                            s.unit(u as usize).id.as_str(),
                            s.breakdown_of(h, u as usize),
                        )
                    })
                });
                (id, now)
            })
            .collect();
        Ok(reported.update_some(candidates, Vec::new()))
    }
}

/// Cross-checks of one household against the units and the run date.
fn check_household(h: &Household, path: &str, p: &Slots, as_of: i64) -> Result<(), String> {
    if let Some(c) = h.home() {
        if !p.unit_ids.contains_key(c) {
            return Err(format!("{path}.{}: unknown unit {c}", home_field(h)));
        }
    }
    if h.applied_on.is_some_and(|a| a > as_of) {
        return Err(format!("{path}.applied_on: after as_of"));
    }
    Ok(())
}

/// The field that names a household's home: its current unit, or the unit an offer holds.
fn home_field(h: &Household) -> &'static str {
    if h.holds_offer() {
        "held_unit"
    } else {
        "current_unit"
    }
}
