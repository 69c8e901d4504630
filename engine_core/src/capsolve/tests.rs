use super::*;
use crate::lsa::tests::Lcg;

/// A small capped problem shaped like the engine's: units in scopes, flagged rows, sitting
/// rows with an own column and no dummy, applicant rows with a private dummy column.
#[derive(Clone)]
struct Case {
    m: usize,
    rules: usize,
    scopes: usize,
    /// Scope of each unit column under each rule.
    unit_scope: Vec<Vec<usize>>,
    flags: Vec<u32>,
    own: Vec<Option<usize>>,
    /// Edges per row the solver holds (0: all); the rest are priced in.
    keep: usize,
    /// Unit edges of each row: (column, score, tie).
    edges: Vec<Vec<(usize, i64, u64)>>,
    cap: Vec<i64>,
    /// Bit `r`: rule `r`'s rows are cover rows (`cap` is then the least count).
    cover: u32,
}

impl Case {
    fn random(rng: &mut Lcg) -> Case {
        Self::sized(rng, 7, 7)
    }

    fn sized(rng: &mut Lcg, max_n: u64, max_m: u64) -> Case {
        let n = 1 + rng.below(max_n) as usize;
        let m = 1 + rng.below(max_m) as usize;
        let rules = 1 + rng.below(2) as usize;
        let scopes = 1 + rng.below(3) as usize;
        let unit_scope = (0..rules)
            .map(|_| (0..m).map(|_| rng.below(scopes as u64) as usize).collect())
            .collect();
        let flags = (0..n)
            .map(|_| {
                (0..rules)
                    .map(|r| u32::from(rng.below(100) < 60) << r)
                    .sum()
            })
            .collect();
        let mut owner = vec![usize::MAX; m];
        let mut own = vec![None; n];
        for i in 0..n {
            let j = rng.below(m as u64) as usize;
            if rng.below(100) < 30 && owner[j] == usize::MAX {
                owner[j] = i;
                own[i] = Some(j);
            }
        }
        let mut c = Case {
            m,
            rules,
            scopes,
            unit_scope,
            flags,
            own,
            keep: 0,
            edges: Vec::new(),
            cap: Vec::new(),
            cover: 0,
        };
        c.edges = (0..n).map(|i| c.random_row(rng, i, &owner)).collect();
        c.cap = (0..rules * scopes).map(|_| rng.below(3) as i64).collect();
        c.floor_caps();
        c
    }

    fn random_row(&self, rng: &mut Lcg, i: usize, owner: &[usize]) -> Vec<(usize, i64, u64)> {
        let mut out = Vec::new();
        for j in 0..self.m {
            let own = self.own[i] == Some(j);
            let other_owner = owner[j] != usize::MAX && owner[j] != i;
            if own || (!other_owner && rng.below(100) < 70) {
                // Few distinct scores, so that ties are decided by the tie-break.
                let w = rng.below(5) as i64 * 25 - i64::from(self.own[i].is_none()) * 25;
                if own || self.own[i].is_some() || w > 0 {
                    out.push((j, w, rng.below(1 << 40)));
                }
            }
        }
        out
    }

    fn owner(&self) -> Vec<usize> {
        let mut owner = vec![usize::MAX; self.m];
        for (i, o) in self.own.iter().enumerate() {
            if let Some(j) = o {
                owner[*j] = i;
            }
        }
        owner
    }

    /// Makes some rules cover rules, each row asking for one or two flagged rows.
    fn with_covers(mut self, rng: &mut Lcg) -> Case {
        self.cover = (0..self.rules)
            .map(|r| u32::from(rng.below(100) < 60) << r)
            .sum();
        for k in 0..self.cap.len() {
            if self.cover >> (k / self.scopes) & 1 == 1 {
                self.cap[k] = 1 + i64::from(rng.below(4) == 0);
            }
        }
        self
    }

    fn is_cover(&self, k: usize) -> bool {
        self.cover >> (k / self.scopes) & 1 == 1
    }

    /// A cap never undercuts the flagged sitting tenants already in its scope.
    fn floor_caps(&mut self) {
        for r in 0..self.rules {
            if self.cover >> r & 1 == 1 {
                continue;
            }
            for k in 0..self.scopes {
                let sitting = (0..self.flags.len())
                    .filter(|&i| {
                        self.flags[i] >> r & 1 == 1
                            && self.own[i].is_some_and(|j| self.unit_scope[r][j] == k)
                    })
                    .count() as i64;
                let at = r * self.scopes + k;
                self.cap[at] = self.cap[at].max(sitting);
            }
        }
    }

    fn dummy(&self, i: usize) -> u32 {
        (self.m + i) as u32
    }

    fn row_edges(&self, i: usize) -> Vec<Edge> {
        let mut out: Vec<Edge> = self.edges[i]
            .iter()
            .map(|&(j, w, t)| Edge {
                w,
                t,
                col: j as u32,
            })
            .collect();
        if self.own[i].is_none() {
            out.push(Edge {
                w: 0,
                t: 0,
                col: self.dummy(i),
            });
        }
        out
    }

    fn table(&self) -> (Vec<u32>, Vec<usize>, Vec<i64>) {
        let n_cols = self.m + self.flags.len();
        let mut col_cons = vec![NONE; n_cols * self.rules];
        for j in 0..self.m {
            for r in 0..self.rules {
                col_cons[j * self.rules + r] = (r * self.scopes + self.unit_scope[r][j]) as u32;
            }
        }
        let rule_of = (0..self.rules * self.scopes)
            .map(|k| k / self.scopes)
            .collect();
        (col_cons, rule_of, self.cap.clone())
    }

    fn build(&self) -> CapSolver {
        // Half the cases start the search in points from the relaxation, half from no prices.
        let lp_rows = if self.flags.len().is_multiple_of(2) {
            0
        } else {
            usize::MAX
        };
        let mut s = CapSolver::new(self.rules)
            .with_keep(self.keep)
            .with_cover(self.cover)
            .with_lp_rows(lp_rows);
        for j in 0..self.m {
            s.add_col(j as u32, false);
        }
        for i in 0..self.flags.len() {
            s.add_col(self.dummy(i), true);
        }
        let (col_cons, rule_of, cap) = self.table();
        let zero = vec![0; cap.len()];
        s.set_table(col_cons, rule_of, cap, zero);
        for i in 0..self.flags.len() {
            s.set_row(
                i as u32,
                self.flags[i],
                i as u32,
                self.row_edges(i),
                self.own[i].map(|j| j as u32),
            );
        }
        s
    }

    /// The best weight `w·2⁶⁴ + t` of a matching that keeps the caps, by enumeration, less
    /// [`COVER_COST`] per unmet cover row.
    fn brute(&self) -> i128 {
        self.brute_with_unmet().0
    }

    /// The best objective by enumeration and the cover rows its matching leaves unmet.
    fn brute_with_unmet(&self) -> (i128, usize) {
        fn go(c: &Case, i: usize, used: &mut [bool], cnt: &mut [i64]) -> Option<i128> {
            if i == c.flags.len() {
                let unmet: i64 = (0..c.cap.len())
                    .filter(|&k| c.is_cover(k))
                    .map(|k| (c.cap[k] - cnt[k]).max(0))
                    .sum();
                return Some(-(unmet as i128) * COVER_COST);
            }
            let mut best = c.own[i]
                .is_none()
                .then(|| go(c, i + 1, used, cnt))
                .flatten();
            for &(j, w, t) in &c.edges[i] {
                if used[j] {
                    continue;
                }
                let ks: Vec<usize> = (0..c.rules)
                    .filter(|&r| c.flags[i] >> r & 1 == 1)
                    .map(|r| r * c.scopes + c.unit_scope[r][j])
                    .collect();
                if ks.iter().any(|&k| !c.is_cover(k) && cnt[k] + 1 > c.cap[k]) {
                    continue;
                }
                used[j] = true;
                ks.iter().for_each(|&k| cnt[k] += 1);
                if let Some(rest) = go(c, i + 1, used, cnt) {
                    let v = rest + (i128::from(w) << 64) + i128::from(t);
                    best = Some(best.map_or(v, |b: i128| b.max(v)));
                }
                used[j] = false;
                ks.iter().for_each(|&k| cnt[k] -= 1);
            }
            best
        }
        let mut used = vec![false; self.m];
        let mut cnt = vec![0; self.cap.len()];
        let v = go(self, 0, &mut used, &mut cnt).expect("staying put is feasible");
        // Unmet rows cost far more than any weight: the count is the cost's quotient.
        let unmet = (-v.div_euclid(COVER_COST)).max(0) as usize;
        (v, unmet)
    }
}

/// Edges held per row in the cases: every edge, and so few that pricing must bring in most.
const KEEPS: [usize; 3] = [0, 1, 2];

#[test]
fn optimum_equals_enumeration() {
    let mut rng = Lcg(11);
    let (mut binding, mut by_prices) = (0, 0);
    for t in 0..2000 {
        let mut c = Case::random(&mut rng);
        c.keep = KEEPS[t % KEEPS.len()];
        let mut s = c.build();
        let out = s.solve(0).expect("feasible");
        let want = c.brute();
        assert_eq!(out.value, want, "case {t}");
        assert!(out.optimal && out.bound == out.value, "case {t}");
        s.check(&out).unwrap_or_else(|e| panic!("case {t}: {e}"));
        if s.lambda().iter().any(|&l| l > 0) {
            binding += 1;
        }
        by_prices += usize::from(out.nodes == 1);
    }
    assert!(binding > 300, "only {binding} cases with priced caps");
    assert!(
        by_prices > 1500,
        "only {by_prices} cases proven by prices alone"
    );
}

/// After every change the kept solver, starting from its last prices and matching, gives the
/// same matching as a solver built from scratch, and that is the enumerated optimum.
#[test]
fn warm_re_solves_equal_cold_solves() {
    let mut rng = Lcg(29);
    let mut carried = 0;
    for t in 0..300 {
        let mut c = Case::random(&mut rng);
        c.keep = KEEPS[t % KEEPS.len()];
        let mut s = c.build();
        s.solve(0).expect("feasible");
        for step in 0..8 {
            let op = rng.below(3);
            match op {
                0 => {
                    // New caps for every row; the prices are kept.
                    c.cap = (0..c.cap.len()).map(|_| rng.below(4) as i64).collect();
                    c.floor_caps();
                    let (col_cons, rule_of, cap) = c.table();
                    let lambda = s.lambda().to_vec();
                    s.set_table(col_cons, rule_of, cap, lambda);
                }
                1 => {
                    // One household's pairs are scored again.
                    let i = rng.below(c.flags.len() as u64) as usize;
                    let owner = c.owner();
                    c.edges[i] = c.random_row(&mut rng, i, &owner);
                    s.set_row(
                        i as u32,
                        c.flags[i],
                        i as u32,
                        c.row_edges(i),
                        c.own[i].map(|j| j as u32),
                    );
                }
                _ => {
                    // One unit's pairs change (one removed, the others rescored).
                    let j = rng.below(c.m as u64) as usize;
                    for i in 0..c.flags.len() {
                        if let Some(k) = c.edges[i].iter().position(|e| e.0 == j) {
                            if c.own[i] != Some(j) && rng.below(3) == 0 {
                                c.edges[i].remove(k);
                                s.set_edge(i as u32, j as u32, None);
                            } else {
                                let e = &mut c.edges[i][k];
                                e.2 = rng.below(1 << 40);
                                s.set_edge(i as u32, j as u32, Some((e.1, e.2)));
                            }
                        }
                    }
                    s.repair_col(j as u32);
                }
            }
            s.check_prices()
                .unwrap_or_else(|e| panic!("case {t} step {step} before: {e}"));
            // The last allocation carried over keeps the caps and weighs no more than the optimum.
            if let Some((v, cols)) = s.carried() {
                carried += 1;
                let counts = s.counts_of(&cols);
                assert!(
                    counts.iter().zip(&s.cap).all(|(a, b)| a <= b),
                    "case {t} step {step}"
                );
                assert!(
                    v >> SCALE <= c.brute(),
                    "case {t} step {step}: above the optimum"
                );
            }
            let warm = s
                .solve(0)
                .unwrap_or_else(|e| panic!("case {t}: {e} warm {:?}", s.lambda()));
            s.check_prices()
                .unwrap_or_else(|e| panic!("case {t} step {step} after: {e}"));
            let cold = c
                .build()
                .solve(0)
                .unwrap_or_else(|e| panic!("case {t}: {e} cold"));
            assert_eq!(warm.value, c.brute(), "case {t} step {step}");
            assert_eq!(warm.col_of_row, cold.col_of_row, "case {t} step {step}");
            assert!(warm.optimal && cold.optimal);
        }
    }
    assert!(
        carried > 1500,
        "only {carried} re-matches carried the last allocation"
    );
}

#[test]
fn node_limit_records_gap() {
    let mut rng = Lcg(5);
    for t in 0..600 {
        let mut c = Case::random(&mut rng);
        c.keep = KEEPS[t % KEEPS.len()];
        let mut s = c.build();
        let out = s.solve(1).expect("feasible");
        let want = c.brute();
        assert!(out.value <= want && want <= out.bound, "case {t}");
        assert_eq!(out.optimal, out.bound == out.value);
        s.check(&out).unwrap();
    }
}

/// Where the price search starts does not change the answer: from zero, and from random
/// prices (as a kept solver starts), the same proven matching.
#[test]
fn start_prices_do_not_matter() {
    let mut rng = Lcg(41);
    for t in 0..400 {
        let mut c = if t % 4 == 3 {
            Case::sized(&mut rng, 14, 12)
        } else {
            Case::sized(&mut rng, 9, 8)
        };
        c.keep = KEEPS[t % KEEPS.len()];
        let cold = c
            .build()
            .solve(0)
            .unwrap_or_else(|e| panic!("case {t}: {e} cold"));
        let mut s = c.build();
        let (col_cons, rule_of, cap) = c.table();
        let start = (0..cap.len())
            .map(|_| {
                i128::from(rng.below(4)) * (i128::from(rng.below(60)) << 64)
                    + i128::from(rng.below(1 << 40))
            })
            .collect();
        s.set_table(col_cons, rule_of, cap, start);
        let warm = s
            .solve(0)
            .unwrap_or_else(|e| panic!("case {t}: {e} warm {:?}", s.lambda()));
        let want = if c.flags.len() <= 8 {
            Some(c.brute())
        } else {
            None
        };
        assert!(cold.optimal && warm.optimal, "case {t}");
        if let Some(w) = want {
            assert_eq!(cold.value, w, "case {t} cold");
            assert_eq!(warm.value, w, "case {t} warm");
        }
        assert_eq!(
            warm.col_of_row, cold.col_of_row,
            "case {t}: {} vs {}",
            warm.value, cold.value
        );
    }
}

/// Cover rows ("at least one flagged row in the scope", met where any matching can): the
/// solver's objective is the enumerated one, and what it reports is the weight of the
/// matching with the unmet rows' cost taken out.
#[test]
fn cover_rows_equal_enumeration() {
    let mut rng = Lcg(73);
    let (mut unmet_cases, mut met_cases) = (0, 0);
    for t in 0..1500 {
        let mut c = Case::random(&mut rng).with_covers(&mut rng);
        c.keep = KEEPS[t % KEEPS.len()];
        let mut s = c.build();
        let out = s.solve(0).unwrap_or_else(|e| panic!("case {t}: {e}"));
        let (want, unmet) = c.brute_with_unmet();
        assert!(
            out.optimal && out.bound == out.value,
            "case {t}: {out:?} want {want} unmet {unmet} lambda {:?} cap {:?} cover {} scopes {:?} flags {:?} own {:?} edges {:?}",
            s.lambda(),
            c.cap,
            c.cover,
            c.unit_scope,
            c.flags,
            c.own,
            c.edges
        );
        assert_eq!(s.unmet(&out.col_of_row), unmet, "case {t}");
        assert_eq!(out.value - unmet as i128 * COVER_COST, want, "case {t}");
        s.check(&out).unwrap_or_else(|e| panic!("case {t}: {e}"));
        if c.cover != 0 {
            if unmet > 0 {
                unmet_cases += 1;
            } else {
                met_cases += 1;
            }
        }
    }
    assert!(
        unmet_cases > 50 && met_cases > 300,
        "{unmet_cases} / {met_cases}"
    );
}

/// With cover rows too, a kept solver re-solves to what a cold one finds.
#[test]
fn cover_rows_warm_equal_cold() {
    let mut rng = Lcg(91);
    for t in 0..300 {
        let mut c = Case::random(&mut rng).with_covers(&mut rng);
        c.keep = KEEPS[t % KEEPS.len()];
        let mut s = c.build();
        s.solve(0).expect("feasible");
        for step in 0..6 {
            let i = rng.below(c.flags.len() as u64) as usize;
            if rng.below(2) == 0 {
                c.flags[i] ^= 1 << rng.below(c.rules as u64);
                if c.own[i].is_some() {
                    // A flagged sitting tenant may not raise its own scope's cap floor.
                    c.floor_caps();
                    let (col_cons, rule_of, cap) = c.table();
                    let lambda = s.lambda().to_vec();
                    s.set_table(col_cons, rule_of, cap, lambda);
                }
            } else {
                let owner = c.owner();
                c.edges[i] = c.random_row(&mut rng, i, &owner);
            }
            s.set_row(
                i as u32,
                c.flags[i],
                i as u32,
                c.row_edges(i),
                c.own[i].map(|j| j as u32),
            );
            let warm = s
                .solve(0)
                .unwrap_or_else(|e| panic!("case {t} step {step}: {e}"));
            let cold = c.build().solve(0).expect("cold");
            let (want, unmet) = c.brute_with_unmet();
            assert_eq!(
                warm.value - unmet as i128 * COVER_COST,
                want,
                "case {t} step {step}"
            );
            assert_eq!(warm.col_of_row, cold.col_of_row, "case {t} step {step}");
            assert!(warm.optimal && cold.optimal, "case {t} step {step}");
        }
    }
}

/// Lottery ties (one number per row above pair bits): the search with its finest level, in
/// the pair bits' unit, finds the enumerated optimum, and the same matching as without it.
#[test]
fn pair_level_equals_enumeration() {
    let mut rng = Lcg(41);
    let mut proven_by_prices = 0;
    for t in 0..1000 {
        let mut c = Case::random(&mut rng);
        c.keep = KEEPS[t % KEEPS.len()];
        let pair_bits = crate::warm::TIE_BITS - crate::warm::LOTTERY_BITS;
        for row in c.edges.iter_mut() {
            let number = rng.below(1 << crate::warm::LOTTERY_BITS);
            for e in row.iter_mut() {
                e.2 = number << pair_bits | e.2 & ((1 << pair_bits) - 1);
            }
        }
        let want = c.brute();
        let out = c.build().with_pair_level(true).solve(0).expect("feasible");
        assert_eq!(out.value, want, "case {t}");
        assert!(out.optimal && out.bound == out.value, "case {t}");
        let plain = c.build().solve(0).expect("feasible");
        assert_eq!(out.col_of_row, plain.col_of_row, "case {t}");
        proven_by_prices += usize::from(out.nodes == 1);
    }
    assert!(
        proven_by_prices > 500,
        "only {proven_by_prices} proven by prices alone"
    );
}

/// The relaxation's prices are optimal in points: the bound they give equals the LP's value
/// (strong duality), up to the ties (under a point) and the interior point method's accuracy,
/// and no matching that keeps the caps weighs more than that value.
#[test]
fn relaxation_prices_meet_its_value() {
    use super::dual::POINT_F;
    use super::held::Scan;
    let mut rng = Lcg(29);
    let mut priced = 0;
    for t in 0..400 {
        let mut c = Case::sized(&mut rng, 9, 9);
        c.keep = KEEPS[t % KEEPS.len()];
        let s = c.build().with_lp_rows(0);
        let mut warm = s.warm.clone();
        let mut lambda = vec![0; s.cap.len()];
        assert!(s.settle(&mut warm, &lambda, &[], Scan::All), "case {t}");
        let r = s.relaxation(&warm, &lambda).expect("the relaxation solves");
        let value = r.floor.0 as f64 / POINT_F - 1.0;
        let best = (c.brute() >> 64) as f64;
        assert!(
            value >= best - 1e-4,
            "case {t}: LP {value} below the optimum {best}"
        );
        let mut batch = Vec::new();
        for (k, &to) in r.lambda.iter().enumerate() {
            s.move_price(&mut warm, &mut lambda, k, to, &mut batch);
        }
        warm.reweight(&batch);
        assert!(s.settle(&mut warm, &lambda, &[], Scan::All), "case {t}");
        let bound = (warm.certify().unwrap().value + s.slack(&lambda)) as f64 / POINT_F;
        assert!(
            bound >= value - 1e-3 && bound <= value + 1.0 + 1e-3,
            "case {t}: bound {bound} at the LP's prices, LP {value}"
        );
        priced += usize::from(lambda.iter().any(|&l| l > 0));
    }
    assert!(priced > 50, "only {priced} cases with a priced cap row");
}

/// A random case of up to 8 rows and units (its `keep` picked by `t`), its solver, and the
/// relaxation at no prices.
fn relaxed_case(rng: &mut Lcg, t: usize) -> (Case, CapSolver, lp::Relaxed) {
    use super::held::Scan;
    let mut c = Case::sized(rng, 8, 8);
    c.keep = KEEPS[t % KEEPS.len()];
    let s = c.build().with_lp_rows(0);
    let mut warm = s.warm.clone();
    let lambda = vec![0; s.cap.len()];
    assert!(s.settle(&mut warm, &lambda, &[], Scan::All), "case {t}");
    let relaxed = s.relaxation(&warm, &lambda).expect("the relaxation solves");
    (c, s, relaxed)
}

/// Calls `f` with each matching of `c` that keeps its caps (a column per row).
fn each(
    c: &Case,
    i: usize,
    used: &mut [bool],
    cnt: &mut [i64],
    at: &mut Vec<u32>,
    f: &mut dyn FnMut(&[u32]),
) {
    if i == c.flags.len() {
        f(at);
        return;
    }
    if c.own[i].is_none() {
        at.push(c.dummy(i));
        each(c, i + 1, used, cnt, at, f);
        at.pop();
    }
    for &(j, _, _) in &c.edges[i] {
        let ks: Vec<usize> = (0..c.rules)
            .filter(|&r| c.flags[i] >> r & 1 == 1)
            .map(|r| r * c.scopes + c.unit_scope[r][j])
            .collect();
        if used[j] || ks.iter().any(|&k| cnt[k] + 1 > c.cap[k]) {
            continue;
        }
        used[j] = true;
        ks.iter().for_each(|&k| cnt[k] += 1);
        at.push(j as u32);
        each(c, i + 1, used, cnt, at, f);
        at.pop();
        used[j] = false;
        ks.iter().for_each(|&k| cnt[k] -= 1);
    }
}

/// What the relaxation's rounded duals prove ([`lp::Near`]): no matching that keeps the caps
/// scores more than `top` points, and every one that scores `top` uses only the pairs it
/// names. Checked against every such matching, enumerated.
#[test]
fn near_pairs_hold_every_top_matching() {
    let mut rng = Lcg(41);
    let (mut tight, mut narrowed) = (0, 0);
    for t in 0..400 {
        let (c, s, relaxed) = relaxed_case(&mut rng, t);
        let near = relaxed.near;
        let mut most = i128::MIN;
        let mut used = vec![false; c.m];
        let mut cnt = vec![0; c.cap.len()];
        each(&c, 0, &mut used, &mut cnt, &mut Vec::new(), &mut |cols| {
            let points: i128 = (0..cols.len())
                .map(|r| s.base_edge(r, cols[r]).map_or(0, |e| i128::from(e.w)))
                .sum();
            assert!(
                points <= near.top,
                "case {t}: {points} points above {}",
                near.top
            );
            most = most.max(points);
            if points == near.top {
                for (r, &col) in cols.iter().enumerate() {
                    let i = s.base[r].iter().position(|e| e.col == col).unwrap() as u32;
                    assert!(
                        near.pairs[r].contains(&i),
                        "case {t}: row {r}'s pair to {col} left out"
                    );
                }
            }
        });
        tight += usize::from(most == near.top);
        let all: usize = s.base.iter().map(Vec::len).sum();
        narrowed += usize::from(near.pairs.iter().map(Vec::len).sum::<usize>() < all);
    }
    assert!(
        tight > 300,
        "only {tight} cases where the relaxation is tight in points"
    );
    assert!(
        narrowed > 200,
        "only {narrowed} cases where pairs are left out"
    );
}

/// What the relaxation in ties over the pairs of its optimal face proves ([`lp::TieCut`]):
/// every pair's reduced cost is at least 0, and every matching that keeps the caps and scores
/// the relaxation's points has ties at most the bound less its pairs' reduced costs. Checked
/// against every such matching, enumerated; the LP's rounded solution, where it is one, is
/// such a matching.
#[test]
fn tie_cut_holds_every_top_matching() {
    let mut rng = Lcg(43);
    let (mut rounded, mut optimal_rounded, mut narrowed) = (0, 0, 0);
    for t in 0..400 {
        let (c, s, relaxed) = relaxed_case(&mut rng, t);
        let near = relaxed.near;
        let Some(cut) = s.tie_cut(&near.pairs, near.top) else {
            continue;
        };
        assert!(
            cut.rc.iter().flatten().all(|p| p.1 >= 0),
            "case {t}: rc below 0"
        );
        let rc_of = |r: usize, col: u32| {
            let i = s.base[r].iter().position(|e| e.col == col).unwrap() as u32;
            cut.rc[r].iter().find(|p| p.0 == i).map(|p| p.1)
        };
        let mut most = None::<i128>;
        let mut used = vec![false; c.m];
        let mut cnt = vec![0; c.cap.len()];
        each(&c, 0, &mut used, &mut cnt, &mut Vec::new(), &mut |cols| {
            let edge = |r: usize| s.base_edge(r, cols[r]).expect("eligible");
            let points: i128 = (0..cols.len()).map(|r| i128::from(edge(r).w)).sum();
            if points != near.top {
                return;
            }
            let ties: i128 = (0..cols.len()).map(|r| i128::from(edge(r).t)).sum();
            let rc: i128 = (0..cols.len())
                .map(|r| rc_of(r, cols[r]).expect("a top matching's pair is near"))
                .sum();
            assert!(
                ties + rc <= cut.bound,
                "case {t}: ties {ties} + rc {rc} above {}",
                cut.bound
            );
            most = most.max(Some(ties));
        });
        narrowed += usize::from(cut.rc.iter().flatten().any(|p| p.1 > 0));
        if let (Some(cols), Some(most)) = (&cut.rounded, most) {
            let v = s.objective(s.value_of(cols), &s.counts_of(cols));
            let v = v.expect("the rounded solution keeps the caps") >> SCALE;
            assert_eq!(v >> 64, near.top, "case {t}: rounded off the top");
            rounded += 1;
            optimal_rounded += usize::from(v.rem_euclid(1 << 64) == most);
        }
    }
    assert!(
        rounded > 200,
        "only {rounded} cases with a rounded solution"
    );
    assert!(
        optimal_rounded > 150,
        "only {optimal_rounded} rounded to the optimum"
    );
    assert!(
        narrowed > 100,
        "only {narrowed} cases with a pair priced out"
    );
}
