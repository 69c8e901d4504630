//! The capped search: a [`CapSolver`] given every eligible pair, kept in step with the
//! portfolio event by event (only the households and units an operation touched are scored
//! again), with its cap-row prices kept by (rule, scope) between re-matches. Rows are household
//! slots; unit slot `u` is column `2u` and household slot `h`'s "stay unmatched" column `2h + 1`.

use super::price::PARALLEL_PAIRS;
use super::*;
use crate::capsolve::CapSolver;

#[derive(Clone, Debug, Default)]
pub(super) struct CapState {
    pub(super) solver: CapSolver,
    /// The rules the solver was built for.
    rules: Vec<Rule>,
    valid: bool,
    /// Row (household slot) and column of each household and unit in the solver.
    rows: BTreeMap<String, u32>,
    cols: BTreeMap<String, u32>,
    /// Hashed id of each unit and household slot (tie-break keys), set when its column or
    /// row is (re)built.
    pub(super) col_key: Vec<u64>,
    pub(super) row_key: Vec<RowKey>,
    dirty_hh: BTreeSet<String>,
    dirty_units: BTreeSet<String>,
    dirty_buildings: BTreeSet<u32>,
    /// Price of each cap row with one, by (rule, scope key).
    prices: BTreeMap<(usize, String, i64), i128>,
}

pub(super) fn unit_col(u: usize) -> u32 {
    2 * u as u32
}

pub(super) fn dummy_col(h: usize) -> u32 {
    2 * h as u32 + 1
}

fn flags(rules: &[Rule], h: &Household) -> u32 {
    rules
        .iter()
        .enumerate()
        .map(|(r, rule)| u32::from(rule.counts(h)) << r)
        .sum()
}

impl CapState {
    /// Takes note of what the operations since the last re-match touched (before the
    /// uncapped sync consumes it).
    pub(super) fn note(&mut self, inc: &Inc) {
        if !inc.valid {
            self.valid = false;
            return;
        }
        self.dirty_hh.extend(inc.dirty_hh.iter().cloned());
        self.dirty_hh.extend(inc.shifted.keys().cloned());
        self.dirty_units.extend(inc.dirty_units.iter().cloned());
        self.dirty_buildings
            .extend(inc.dirty_buildings.iter().copied());
    }

    fn key_of(&mut self, s: &ScoreView<'_>, u: usize) -> u64 {
        if u >= self.col_key.len() {
            self.col_key.resize(u + 1, 0);
        }
        self.col_key[u] = warm::hash_str(&s.unit(u).id);
        self.col_key[u]
    }

    /// The solver's edges of household `h`: every eligible unit (an applicant's only where it
    /// scores above staying unmatched), and an applicant's "stay unmatched" column.
    fn row_edges(&self, s: &ScoreView<'_>, us: &[usize], h: usize) -> Vec<Edge> {
        let rk = self.row_key[h];
        let sitting = s.own[h].is_some();
        let mut out = Vec::new();
        let mut scratch = Vec::new();
        s.for_each_eligible(h, us, &mut scratch, |u, w| {
            if sitting || w > 0 {
                out.push(Edge {
                    w,
                    t: warm::tie(rk, self.col_key[u]),
                    col: unit_col(u),
                });
            }
        });
        if !sitting {
            out.push(Edge {
                w: 0,
                t: warm::tie(rk, UNMATCHED_KEY),
                col: dummy_col(h),
            });
        }
        out.sort_unstable_by_key(|e| e.col);
        out
    }

    fn set_rows(&mut self, s: &ScoreView<'_>, o: &Order, hs: &[usize], rules: &[Rule]) {
        for &h in hs {
            if h >= self.row_key.len() {
                self.row_key.resize(h + 1, RowKey::default());
            }
            self.row_key[h] = RowKey::of(s.policy.lottery_seed.as_deref(), &s.hh(h).id);
        }
        // Threads pay off only on large batches (a small office re-scores in microseconds).
        let edges: Vec<Vec<Edge>> = if hs.len() * o.us.len() >= PARALLEL_PAIRS {
            hs.par_iter()
                .map(|&h| self.row_edges(s, &o.us, h))
                .collect()
        } else {
            hs.iter().map(|&h| self.row_edges(s, &o.us, h)).collect()
        };
        for (&h, e) in hs.iter().zip(edges) {
            let hh = s.hh(h);
            let rank = self.row_key[h].key as u32;
            let home = s.own[h].map(unit_col);
            self.solver
                .set_row(h as u32, flags(rules, hh), rank, e, home);
        }
    }

    fn build(&mut self, s: &ScoreView<'_>, o: &Order, rules: &[Rule]) {
        let prices = std::mem::take(&mut self.prices);
        let cover = rules
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_cover())
            .map(|(k, _)| 1u32 << k)
            .sum();
        *self = CapState {
            solver: CapSolver::new(rules.len())
                .with_cover(cover)
                .with_pair_level(s.policy.lottery_seed.is_some()),
            rules: rules.to_vec(),
            valid: true,
            prices,
            ..CapState::default()
        };
        for &u in &o.us {
            self.key_of(s, u);
            self.solver.add_col(unit_col(u), false);
            self.cols.insert(s.unit(u).id.clone(), unit_col(u));
        }
        for &h in &o.hs {
            self.solver.add_col(dummy_col(h), true);
            self.rows.insert(s.hh(h).id.clone(), h as u32);
        }
        self.set_rows(s, o, &o.hs, rules);
    }

    /// Brings the solver up to date with the snapshot: what changed is scored again, the
    /// rest is kept.
    fn sync(&mut self, s: &ScoreView<'_>, o: &Order, rules: &[Rule]) {
        let p = s.p;
        if !self.valid || self.rules != rules {
            self.build(s, o, rules);
            return;
        }
        let dirty_hh = std::mem::take(&mut self.dirty_hh);
        let dirty_units = std::mem::take(&mut self.dirty_units);
        let dirty_buildings = std::mem::take(&mut self.dirty_buildings);
        for id in &dirty_hh {
            if let Some(&r) = self.rows.get(id) {
                if p.hh_slot(id) != Some(r as usize) {
                    self.solver.remove_row(r);
                    self.solver.remove_col(dummy_col(r as usize));
                    self.rows.remove(id);
                }
            }
        }
        for id in &dirty_units {
            if let Some(&c) = self.cols.get(id) {
                if p.unit_slot(id).map(unit_col) != Some(c) {
                    self.solver.remove_col(c);
                    self.cols.remove(id);
                }
            }
        }
        let mut cols_todo: Vec<usize> = Vec::new();
        for id in &dirty_units {
            if let Some(u) = p.unit_slot(id) {
                if !self.cols.contains_key(id) {
                    self.key_of(s, u);
                    self.solver.add_col(unit_col(u), false);
                    self.cols.insert(id.clone(), unit_col(u));
                }
                cols_todo.push(u);
            }
        }
        let mut rows_todo: Vec<usize> = Vec::new();
        for id in &dirty_hh {
            if let Some(h) = p.hh_slot(id) {
                if !self.rows.contains_key(id) {
                    self.solver.add_col(dummy_col(h), true);
                    self.rows.insert(id.clone(), h as u32);
                }
                rows_todo.push(h);
            }
        }
        for &b in &dirty_buildings {
            for &u in p.building_units.get(b as usize).map_or(&[][..], |v| v) {
                cols_todo.push(u as usize);
                if let Some(h) = p.occupant[u as usize] {
                    rows_todo.push(h);
                }
            }
        }
        rows_todo.sort_unstable();
        rows_todo.dedup();
        cols_todo.sort_unstable();
        cols_todo.dedup();
        let (n, m) = (p.n_households(), p.n_units());
        if 2 * (rows_todo.len() + cols_todo.len()) > n.max(1) + m {
            self.build(s, o, rules);
            return;
        }
        let mut in_rows = vec![false; p.households.len()];
        for &h in &rows_todo {
            in_rows[h] = true;
        }
        // A changed unit is scored again against every household whose row is kept.
        let kept: Vec<usize> = o.hs.iter().copied().filter(|&h| !in_rows[h]).collect();
        for &u in &cols_todo {
            let c = unit_col(u);
            let ck = self.col_key[u];
            let score = |&h: &usize| {
                let w = s.check(h, u).ok()?.total();
                (s.own[h].is_some() || w > 0).then_some(w)
            };
            let scores: Vec<Option<i64>> = if kept.len() >= PARALLEL_PAIRS / 8 {
                kept.par_iter().map(score).collect()
            } else {
                kept.iter().map(score).collect()
            };
            for (&h, w) in kept.iter().zip(scores) {
                let t = |w| (w, warm::tie(self.row_key[h], ck));
                self.solver.set_edge(h as u32, c, w.map(t));
            }
            self.solver.repair_col(c);
        }
        self.set_rows(s, o, &rows_todo, rules);
    }
}

impl Engine {
    /// The capped decision of the current snapshot, re-matched from the kept solver.
    pub(super) fn capped_decision(
        &mut self,
        node_limit: u64,
        uncapped: i64,
    ) -> Result<Decision, String> {
        let s = ScoreView::new(&self.policy, &self.p, &self.names);
        let o = Order::new(&self.p);
        let rules = rules_of(&self.caps, &self.policy);
        if rules.len() > 32 {
            let field = if rules.len() == self.caps.len() {
                "caps"
            } else {
                "policy.coverage"
            };
            return Err(format!(
                "{field}: {} caps and {} tasks of hard coverage rules; at most 32 rules in all",
                self.caps.len(),
                rules.len() - self.caps.len()
            ));
        }
        let table = cap_table(&rules, &self.p, &s, &o);
        let st = self.capped.get_or_insert_with(CapState::default);
        st.sync(&s, &o, &rules);
        let n = rules.len();
        let n_cols = 2 * self.p.units.len().max(self.p.households.len()) + 2;
        let mut col_cons = vec![NONE; n_cols * n];
        for &u in &o.us {
            for r in 0..n {
                col_cons[unit_col(u) as usize * n + r] = table.unit_cons[r][u];
            }
        }
        let rule_of = table.rows.iter().map(|r| r.0).collect();
        let cap = table.rows.iter().map(|r| r.2).collect();
        let lambda = table
            .rows
            .iter()
            .map(|r| {
                let key = (r.0, r.1 .0.to_string(), r.1 .1);
                st.prices.get(&key).copied().unwrap_or(0)
            })
            .collect();
        st.solver.set_table(col_cons, rule_of, cap, lambda);
        let out = st.solver.solve(node_limit)?;
        st.prices = table
            .rows
            .iter()
            .zip(st.solver.lambda())
            .filter(|(_, &l)| l > 0)
            .map(|(r, &l)| ((r.0, r.1 .0.to_string(), r.1 .1), l))
            .collect();
        let unit_of: Vec<Option<usize>> =
            o.hs.iter()
                .map(|&h| {
                    let c = out.col_of_row.get(h).copied().unwrap_or(NONE);
                    (c != NONE && c % 2 == 0).then_some(c as usize / 2)
                })
                .collect();
        let matched = unit_of.iter().flatten().count();
        let points = |v: i128| v.div_euclid(1i128 << 64) as i64;
        Ok(Decision {
            unit_of: Some(unit_of),
            summary: Summary {
                objective: points(out.value),
                bound: points(out.bound),
                uncapped_objective: uncapped,
                optimal: out.optimal,
                nodes: out.nodes,
                matched,
            },
            node_limit,
        })
    }
}
