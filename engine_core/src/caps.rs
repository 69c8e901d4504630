//! Exact matching under mix caps: branch and bound over the assignment relaxation, with
//! Lagrangian prices on the caps for the upper bound and a repair heuristic for a first
//! feasible solution.
//!
//! A cap constraint `k` says: at most `cap[k]` of the edges that count towards `k` may be
//! chosen. An edge counts towards the constraints listed for it in `edge_cons`.
//!
//! Prices are fractional (steps of 1/`SCALE`) but every bound is computed in exact integer
//! arithmetic on scores scaled by `SCALE`, then floored: objectives are integers, so a bound
//! below incumbent + 1 proves the incumbent optimal. Branching is on "household `i` counts
//! towards constraint `k`" (in / out) rather than on single pairs: units in one building are
//! largely interchangeable, and pair branching would enumerate their permutations.

use crate::lsa::{self, Graph};

const NONE: u32 = u32::MAX;
/// Price granularity: prices move in steps of 1/SCALE points.
const SCALE: i64 = 64;
const ROOT_ITERS: usize = 120;
const NODE_ITERS: usize = 30;

pub struct CappedProblem<'a> {
    pub g: &'a Graph,
    /// Constraint ids of each edge, `per_edge` slots per edge, unused slots `NONE`.
    pub edge_cons: Vec<u32>,
    pub per_edge: usize,
    pub cap: Vec<i64>,
    /// Column a row may always keep (a sitting tenant's own unit); `NONE` if none.
    pub own_col: Vec<u32>,
}

#[derive(Clone, Debug)]
pub struct Outcome {
    /// Base-graph edge chosen for each row.
    pub row_edge: Vec<usize>,
    pub objective: i64,
    pub bound: i64,
    pub uncapped_objective: i64,
    pub optimal: bool,
    pub nodes: u64,
}

/// A branching decision: row `.0` does (`In`) or does not (`Out`) count towards constraint `.1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fix {
    In(usize, usize),
    Out(usize, usize),
}

struct Node {
    fixes: Vec<Fix>,
    lambda: Vec<f64>,
    /// Upper bound inherited from the parent.
    bound: i64,
}

/// A node relaxation solved on a rebuilt graph, mapped back to base edges.
#[derive(Clone)]
struct Relaxed {
    row_edge: Vec<usize>,
    /// Weight under the adjusted (scaled and priced) scores.
    adjusted: i64,
    /// Weight under the true scores.
    value: i64,
}

impl<'a> CappedProblem<'a> {
    fn cons(&self, e: usize) -> impl Iterator<Item = usize> + '_ {
        self.edge_cons[e * self.per_edge..(e + 1) * self.per_edge]
            .iter()
            .filter(|&&k| k != NONE)
            .map(|&k| k as usize)
    }

    fn counts(&self, row_edge: &[usize]) -> Vec<i64> {
        let mut c = vec![0i64; self.cap.len()];
        for &e in row_edge {
            for k in self.cons(e) {
                c[k] += 1;
            }
        }
        c
    }

    fn first_violated(&self, counts: &[i64]) -> Option<usize> {
        (0..self.cap.len()).find(|&k| counts[k] > self.cap[k])
    }

    /// Solves the assignment under `fixes`, `banned(row, edge)` removals and scaled prices:
    /// edge weight `w * scale - sum of price[k]` over the constraints the edge counts towards.
    fn relax(
        &self,
        fixes: &[Fix],
        price: &[i64],
        scale: i64,
        banned: &dyn Fn(usize, usize) -> bool,
    ) -> Option<Relaxed> {
        let g = self.g;
        let mut h = Graph::new(g.n_cols);
        let mut base = Vec::with_capacity(g.col.len());
        let mut row_fixes: Vec<Fix> = Vec::new();
        for i in 0..g.n_rows {
            row_fixes.clear();
            row_fixes.extend(fixes.iter().copied().filter(|f| match *f {
                Fix::In(r, _) | Fix::Out(r, _) => r == i,
            }));
            for e in g.edges(i) {
                if banned(i, e) {
                    continue;
                }
                let ok = row_fixes.iter().all(|f| match *f {
                    Fix::In(_, k) => self.cons(e).any(|c| c == k),
                    Fix::Out(_, k) => self.cons(e).all(|c| c != k),
                });
                if ok {
                    let p: i64 = self.cons(e).map(|k| price[k]).sum();
                    h.push_edge(g.col[e], g.w[e] * scale - p);
                    base.push(e);
                }
            }
            h.end_row();
        }
        let s = lsa::solve(&h)?;
        let row_edge: Vec<usize> = s.row_edge.iter().map(|&k| base[k]).collect();
        let value = row_edge.iter().map(|&e| g.w[e]).sum();
        Some(Relaxed {
            row_edge,
            adjusted: s.objective,
            value,
        })
    }

    /// Feasible start: push the lowest-scoring excess households out of each violated scope
    /// (never out of their own unit) and re-solve until no cap is exceeded.
    fn repair(&self, start: &Relaxed) -> Option<Relaxed> {
        let g = self.g;
        let mut bans: Vec<(usize, usize)> = Vec::new(); // (row, constraint)
        let zero = vec![0i64; self.cap.len()];
        let mut cur = Relaxed {
            row_edge: start.row_edge.clone(),
            adjusted: start.adjusted,
            value: start.value,
        };
        loop {
            let counts = self.counts(&cur.row_edge);
            if self.first_violated(&counts).is_none() {
                return Some(cur);
            }
            let before = bans.len();
            for k in 0..self.cap.len() {
                let excess = counts[k] - self.cap[k];
                if excess <= 0 {
                    continue;
                }
                let mut members: Vec<(i64, usize)> = (0..g.n_rows)
                    .filter(|&i| {
                        let e = cur.row_edge[i];
                        g.col[e] != self.own_col[i] && self.cons(e).any(|c| c == k)
                    })
                    .map(|i| (g.w[cur.row_edge[i]], i))
                    .collect();
                members.sort_unstable();
                for &(_, i) in members.iter().take(excess as usize) {
                    bans.push((i, k));
                }
            }
            if bans.len() == before {
                return None; // cannot happen while caps are at least the sitting count
            }
            bans.sort_unstable();
            bans.dedup();
            let banned = |i: usize, e: usize| {
                g.col[e] != self.own_col[i]
                    && self.cons(e).any(|k| bans.binary_search(&(i, k)).is_ok())
            };
            cur = self.relax(&[], &zero, 1, &banned)?;
        }
    }

    pub fn solve(&self, node_limit: u64) -> Option<Outcome> {
        let none = |_: usize, _: usize| false;
        let n_cons = self.cap.len();
        let zero = vec![0i64; n_cons];
        let root = self.relax(&[], &zero, 1, &none)?;
        let uncapped_objective = root.value;
        let mut best = self.repair(&root)?;
        let mut nodes = 0u64;
        let mut stack = vec![Node {
            fixes: Vec::new(),
            lambda: vec![0.0; n_cons],
            bound: root.value,
        }];
        while let Some(node) = stack.pop() {
            if node.bound <= best.value {
                continue;
            }
            if node_limit > 0 && nodes >= node_limit {
                stack.push(node);
                break;
            }
            nodes += 1;
            let iters = if nodes == 1 { ROOT_ITERS } else { NODE_ITERS };
            if let Some((bound, lambda, row, k)) = self.process(&node, &mut best, iters) {
                let mut fixes = node.fixes.clone();
                fixes.push(Fix::In(row, k));
                stack.push(Node {
                    fixes,
                    lambda: lambda.clone(),
                    bound,
                });
                let mut fixes = node.fixes;
                fixes.push(Fix::Out(row, k));
                // Pushed last, explored first: keeping a household out heads towards feasibility.
                stack.push(Node {
                    fixes,
                    lambda,
                    bound,
                });
            }
        }
        let open = stack.iter().map(|n| n.bound).max();
        let bound = open.map_or(best.value, |b| b.max(best.value));
        Some(Outcome {
            row_edge: best.row_edge,
            objective: best.value,
            bound,
            uncapped_objective,
            optimal: bound == best.value,
            nodes,
        })
    }

    /// Bounds one node; returns (bound, prices, row and constraint to branch on) unless the
    /// node is pruned (infeasible, bounded by the incumbent, or solved outright).
    fn process(
        &self,
        node: &Node,
        best: &mut Relaxed,
        iters: usize,
    ) -> Option<(i64, Vec<f64>, usize, usize)> {
        let none = |_: usize, _: usize| false;
        let n_cons = self.cap.len();
        // Rows forced into a constraint may already exceed its cap on their own.
        let mut forced = vec![0i64; n_cons];
        for f in &node.fixes {
            if let Fix::In(_, k) = *f {
                forced[k] += 1;
            }
        }
        if (0..n_cons).any(|k| forced[k] > self.cap[k]) {
            return None;
        }
        let plain = self.relax(&node.fixes, &vec![0; n_cons], 1, &none)?;
        let mut ub = plain.value.min(node.bound);
        if ub <= best.value {
            return None;
        }
        let counts0 = self.counts(&plain.row_edge);
        if self.first_violated(&counts0).is_none() {
            *best = plain; // the node's own optimum satisfies every cap
            return None;
        }
        // Lagrangian dual by projected subgradient with Polyak steps towards incumbent + 1/2:
        // any prices >= 0 give a valid bound, and we only need it below incumbent + 1.
        let mut lambda = node.lambda.clone();
        let mut best_lambda = lambda.clone();
        let mut last = plain.clone();
        let mut theta = 1.0f64;
        let mut stall = 0;
        for _ in 0..iters {
            let price: Vec<i64> = lambda
                .iter()
                .map(|&l| (l * SCALE as f64).round() as i64)
                .collect();
            let r = self.relax(&node.fixes, &price, SCALE, &none)?;
            let scaled = r.adjusted + (0..n_cons).map(|k| price[k] * self.cap[k]).sum::<i64>();
            let bound = scaled.div_euclid(SCALE);
            let counts = self.counts(&r.row_edge);
            if self.first_violated(&counts).is_none() && r.value > best.value {
                *best = r.clone();
            }
            if bound < ub {
                ub = bound;
                best_lambda = lambda.clone();
                stall = 0;
            } else {
                stall += 1;
                if stall >= 4 {
                    theta /= 2.0;
                    stall = 0;
                }
            }
            if ub <= best.value {
                return None;
            }
            // Subgradient of the dual at these prices, projected on lambda >= 0.
            let g: Vec<f64> = (0..n_cons)
                .map(|k| {
                    let gk = (counts[k] - self.cap[k]) as f64;
                    if lambda[k] <= 0.0 && gk < 0.0 {
                        0.0
                    } else {
                        gk
                    }
                })
                .collect();
            let norm: f64 = g.iter().map(|x| x * x).sum();
            let violated = self.first_violated(&counts).is_some();
            if violated {
                last = r;
            }
            if norm == 0.0 {
                break; // complementary slackness: no price change can lower this bound
            }
            let gap = scaled as f64 / SCALE as f64 - (best.value as f64 + 0.5);
            let t = theta * gap.max(0.5) / norm;
            for (l, gk) in lambda.iter_mut().zip(&g) {
                *l = (*l + t * gk).max(0.0);
            }
        }
        // Branch on the lowest-scoring household counted in a violated constraint, in the
        // last priced solution that violated one (else the plain one).
        let counts = self.counts(&last.row_edge);
        let k0 = self.first_violated(&counts)?;
        let fixed_in = |i: usize| node.fixes.contains(&Fix::In(i, k0));
        let (_, row) = (0..self.g.n_rows)
            .filter(|&i| {
                let e = last.row_edge[i];
                self.cons(e).any(|k| k == k0) && !fixed_in(i)
            })
            .map(|i| (self.g.w[last.row_edge[i]], i))
            .min()?;
        Some((ub, best_lambda, row, k0))
    }
}

#[cfg(test)]
fn row_of(g: &Graph, e: usize) -> usize {
    // start is non-decreasing; the row is the last start <= e among non-empty rows.
    g.start.partition_point(|&s| s <= e) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lsa::tests::Lcg;

    struct Case {
        g: Graph,
        edge_cons: Vec<u32>,
        per_edge: usize,
        cap: Vec<i64>,
        own_col: Vec<u32>,
    }

    /// Random instance shaped like the engine's: units in scopes, flagged rows, sitting
    /// rows with an own column and no dummy, other rows with a private dummy column.
    fn random_case(rng: &mut Lcg) -> Case {
        let n = 1 + rng.below(7) as usize;
        let m = 1 + rng.below(7) as usize;
        let rules = 1 + rng.below(2) as usize;
        let scopes = 1 + rng.below(3) as usize;
        let unit_scope: Vec<Vec<usize>> = (0..rules)
            .map(|_| (0..m).map(|_| rng.below(scopes as u64) as usize).collect())
            .collect();
        let flagged: Vec<Vec<bool>> = (0..rules)
            .map(|_| (0..n).map(|_| rng.below(100) < 60).collect())
            .collect();
        let mut owner = vec![usize::MAX; m];
        let mut own_col = vec![NONE; n];
        for i in 0..n {
            let j = rng.below(m as u64) as usize;
            if rng.below(100) < 30 && owner[j] == usize::MAX {
                owner[j] = i;
                own_col[i] = j as u32;
            }
        }
        let mut g = Graph::new(m + n);
        let mut edge_cons = Vec::new();
        for i in 0..n {
            for j in 0..m {
                let own = own_col[i] == j as u32;
                let other_owner = owner[j] != usize::MAX && owner[j] != i;
                if own || (!other_owner && rng.below(100) < 70) {
                    let w = rng.below(9) as i64 * 25 - (own_col[i] == NONE) as i64 * 50;
                    if own || own_col[i] != NONE || w > 0 {
                        g.push_edge(j as u32, w);
                        for r in 0..rules {
                            edge_cons.push(if flagged[r][i] {
                                (r * scopes + unit_scope[r][j]) as u32
                            } else {
                                NONE
                            });
                        }
                    }
                }
            }
            if own_col[i] == NONE {
                g.push_edge((m + i) as u32, 0);
                edge_cons.extend(std::iter::repeat_n(NONE, rules));
            }
            g.end_row();
        }
        // Effective caps: random, but never below the flagged sitting tenants already there.
        let mut cap: Vec<i64> = (0..rules * scopes).map(|_| rng.below(3) as i64).collect();
        for r in 0..rules {
            for i in 0..n {
                if own_col[i] != NONE && flagged[r][i] {
                    let k = r * scopes + unit_scope[r][own_col[i] as usize];
                    let sitting = (0..n)
                        .filter(|&h| {
                            own_col[h] != NONE
                                && flagged[r][h]
                                && r * scopes + unit_scope[r][own_col[h] as usize] == k
                        })
                        .count() as i64;
                    cap[k] = cap[k].max(sitting);
                }
            }
        }
        Case {
            g,
            edge_cons,
            per_edge: rules,
            cap,
            own_col,
        }
    }

    fn brute(c: &Case, capped: bool) -> i64 {
        fn go(c: &Case, i: usize, used: &mut [bool], cnt: &mut [i64], capped: bool) -> Option<i64> {
            if i == c.g.n_rows {
                return Some(0);
            }
            let mut best = None;
            for e in c.g.edges(i) {
                let j = c.g.col[e] as usize;
                if used[j] {
                    continue;
                }
                let ks: Vec<usize> = c.edge_cons[e * c.per_edge..(e + 1) * c.per_edge]
                    .iter()
                    .filter(|&&k| k != NONE)
                    .map(|&k| k as usize)
                    .collect();
                if capped && ks.iter().any(|&k| cnt[k] + 1 > c.cap[k]) {
                    continue;
                }
                used[j] = true;
                ks.iter().for_each(|&k| cnt[k] += 1);
                if let Some(rest) = go(c, i + 1, used, cnt, capped) {
                    let t = rest + c.g.w[e];
                    best = Some(best.map_or(t, |b: i64| b.max(t)));
                }
                used[j] = false;
                ks.iter().for_each(|&k| cnt[k] -= 1);
            }
            best
        }
        let mut used = vec![false; c.g.n_cols];
        let mut cnt = vec![0; c.cap.len()];
        go(c, 0, &mut used, &mut cnt, capped).expect("staying put is feasible")
    }

    #[test]
    fn branch_and_bound_matches_brute_force() {
        let mut rng = Lcg(11);
        let mut binding = 0;
        for t in 0..1500 {
            let c = random_case(&mut rng);
            let p = CappedProblem {
                g: &c.g,
                edge_cons: c.edge_cons.clone(),
                per_edge: c.per_edge,
                cap: c.cap.clone(),
                own_col: c.own_col.clone(),
            };
            let out = p.solve(0).expect("feasible");
            let want = brute(&c, true);
            let free = brute(&c, false);
            assert_eq!(out.objective, want, "case {t}");
            assert_eq!(out.uncapped_objective, free, "case {t}");
            assert!(out.optimal && out.bound == out.objective);
            if want < free {
                binding += 1;
            }
            // The returned matching is real: distinct columns, caps respected, value adds up.
            let counts = p.counts(&out.row_edge);
            assert!(counts.iter().zip(&c.cap).all(|(a, b)| a <= b));
            let cols: std::collections::BTreeSet<u32> =
                out.row_edge.iter().map(|&e| c.g.col[e]).collect();
            assert_eq!(cols.len(), c.g.n_rows);
            assert_eq!(out.row_edge.iter().map(|&e| c.g.w[e]).sum::<i64>(), want);
            for (i, &e) in out.row_edge.iter().enumerate() {
                assert_eq!(row_of(&c.g, e), i);
            }
        }
        assert!(binding > 200, "only {binding} cases with binding caps");
    }

    #[test]
    fn node_limit_records_gap() {
        let mut rng = Lcg(5);
        let mut gaps = 0;
        for _ in 0..400 {
            let c = random_case(&mut rng);
            let p = CappedProblem {
                g: &c.g,
                edge_cons: c.edge_cons.clone(),
                per_edge: c.per_edge,
                cap: c.cap.clone(),
                own_col: c.own_col.clone(),
            };
            let out = p.solve(1).unwrap();
            let want = brute(&c, true);
            assert!(out.objective <= want && want <= out.bound);
            assert_eq!(out.optimal, out.bound == out.objective);
            gaps += (!out.optimal) as usize;
        }
        assert!(gaps > 0);
    }
}
