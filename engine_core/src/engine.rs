//! The engine: portfolio state with incremental updates, and the solve that turns a snapshot
//! into a result file. Everything is ordered by id so the output depends only on the sets.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::caps::CappedProblem;
use crate::date::parse_date;
use crate::lsa::{self, Graph};
use crate::model::{caps_from_value, parse_json, Cap, Household, Obj, Policy, Unit};
use crate::scoring::{Breakdown, Snapshot};

pub const ENGINE_VERSION: &str = concat!("engine_core ", env!("CARGO_PKG_VERSION"));

const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
pub struct Engine {
    policy: Policy,
    units: BTreeMap<String, Unit>,
    households: BTreeMap<String, Household>,
    caps: Vec<Cap>,
    as_of: Option<i64>,
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
        })
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
        let mut units = BTreeMap::new();
        for (i, uv) in units_v.iter().enumerate() {
            let u = Unit::from_value(uv, &format!("units[{i}]"))?;
            if units.contains_key(&u.id) {
                return Err(format!("units[{i}].id: duplicate id {}", u.id));
            }
            units.insert(u.id.clone(), u);
        }
        let mut households: BTreeMap<String, Household> = BTreeMap::new();
        let mut tenant_of: BTreeMap<String, String> = BTreeMap::new();
        for (i, hv) in hh_v.iter().enumerate() {
            let path = format!("households[{i}]");
            let h = Household::from_value(hv, &path)?;
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
            households.insert(h.id.clone(), h);
        }
        *self = Engine {
            policy: self.policy.clone(),
            units,
            households,
            caps,
            as_of: Some(as_of),
        };
        Ok(())
    }

    pub fn upsert_unit(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "unit")?;
        let u = Unit::from_value(&v, "unit")?;
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
        self.units.remove(id);
        Ok(())
    }

    pub fn upsert_household(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "household")?;
        let h = Household::from_value(&v, "household")?;
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
        self.households.insert(h.id.clone(), h);
        Ok(())
    }

    pub fn remove_household(&mut self, id: &str) -> Result<(), String> {
        self.households
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| format!("id: unknown household {id}"))
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
        self.as_of = Some(d);
        Ok(())
    }

    pub fn set_caps(&mut self, json: &str) -> Result<(), String> {
        let v = parse_json(json, "caps")?;
        self.caps = caps_from_value(&v, "caps")?;
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

    /// Solves the current snapshot; returns the result file as UTF-8 JSON bytes.
    pub fn solve(&self, node_limit: u64) -> Result<String, String> {
        let s = self.snapshot()?;
        let (n, m) = (s.households.len(), s.units.len());
        // Columns: units, then one private "stay unmatched" column per applicant.
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
                // Unmatched scores 0, so an applicant's non-positive pair is never worth it.
                if sitting || w > 0 {
                    g.push_edge(u as u32, w);
                }
            });
            if dummy[h] != NONE {
                g.push_edge(dummy[h], 0);
            }
            g.end_row();
        }
        let table = self.cap_table(&s);
        let flags: Vec<Vec<bool>> = self
            .caps
            .iter()
            .map(|c| s.households.iter().map(|h| h.flag(c.flag)).collect())
            .collect();
        let (row_edge, objective, bound, uncapped, optimal, nodes) = if self.caps.is_empty() {
            let sol = lsa::solve(&g).ok_or("internal: no matching keeps every sitting tenant")?;
            if sol.bound != sol.objective {
                return Err("internal: optimality certificate failed".into());
            }
            (
                sol.row_edge,
                sol.objective,
                sol.bound,
                sol.objective,
                true,
                1,
            )
        } else {
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
            (
                out.row_edge,
                out.objective,
                out.bound,
                out.uncapped_objective,
                out.optimal,
                out.nodes,
            )
        };
        let mut assignments = Vec::new();
        let mut unmatched = Vec::new();
        let mut unit_of = vec![None; n];
        for (h, &e) in row_edge.iter().enumerate() {
            let j = g.col[e] as usize;
            if j < m {
                unit_of[h] = Some(j);
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
