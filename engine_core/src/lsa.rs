//! Exact rectangular assignment by shortest augmenting paths (Crouse / Jonker–Volgenant),
//! on a sparse row-major (CSR) graph with integer weights, maximising total weight.
//!
//! Every row must be matched; columns may stay free. A row that may stay unmatched is given
//! its own zero-weight column by the caller. Duals are kept so that the result carries an
//! optimality certificate: `p_i + q_j >= w_ij` on every edge, `q_j >= 0`, and
//! `sum(p) + sum(q)` equals the objective.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

const NONE: u32 = u32::MAX;
const INF: i64 = i64::MAX / 4;

/// Sparse bipartite graph: row `i` has edges `start[i]..start[i + 1]` into `col`/`w`.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub n_rows: usize,
    pub n_cols: usize,
    pub start: Vec<usize>,
    pub col: Vec<u32>,
    pub w: Vec<i64>,
}

impl Graph {
    pub fn new(n_cols: usize) -> Self {
        Graph {
            n_rows: 0,
            n_cols,
            start: vec![0],
            col: Vec::new(),
            w: Vec::new(),
        }
    }

    pub fn push_edge(&mut self, col: u32, w: i64) {
        self.col.push(col);
        self.w.push(w);
    }

    /// Closes the row whose edges were pushed since the last call.
    pub fn end_row(&mut self) {
        self.start.push(self.col.len());
        self.n_rows += 1;
    }

    pub fn edges(&self, row: usize) -> std::ops::Range<usize> {
        self.start[row]..self.start[row + 1]
    }
}

#[derive(Clone, Debug)]
pub struct Solution {
    /// Column of each row.
    pub row_col: Vec<u32>,
    /// Edge index of each row's matched edge.
    pub row_edge: Vec<usize>,
    pub objective: i64,
    /// Row duals `p` and column duals `q` of the maximisation LP.
    pub p: Vec<i64>,
    pub q: Vec<i64>,
    /// Dual objective, checked edge by edge; equals `objective`.
    pub bound: i64,
}

/// Solves the assignment; `None` when no matching covers every row.
pub fn solve(g: &Graph) -> Option<Solution> {
    let (n, m) = (g.n_rows, g.n_cols);
    // Minimisation form: cost = -w, duals u (rows), v (columns), reduced cost c - u - v >= 0.
    let mut u = vec![0i64; n];
    let mut v = vec![0i64; m];
    let mut col4row = vec![NONE; n];
    let mut row4col = vec![NONE; m];

    // Greedy start: each row takes a cheapest free column at zero reduced cost (v is still 0).
    for i in 0..n {
        let e = g.edges(i);
        let best = e.clone().map(|k| -g.w[k]).min()?; // a row without edges
        u[i] = best;
        if let Some(k) = e
            .into_iter()
            .find(|&k| -g.w[k] == best && row4col[g.col[k] as usize] == NONE)
        {
            col4row[i] = g.col[k];
            row4col[g.col[k] as usize] = i as u32;
        }
    }

    let mut spc = vec![INF; m];
    let mut path = vec![NONE; m];
    let mut scanned = vec![false; m];
    let mut touched: Vec<u32> = Vec::new();
    let mut sr: Vec<u32> = Vec::new();
    let mut sc: Vec<u32> = Vec::new();
    let mut heap: BinaryHeap<Reverse<(i64, bool, u32)>> = BinaryHeap::new();

    for cur in 0..n {
        if col4row[cur] != NONE {
            continue;
        }
        // Dijkstra over reduced costs from row `cur` until a free column is reached.
        let mut min_val = 0i64;
        let mut i = cur;
        let sink;
        loop {
            sr.push(i as u32);
            for k in g.edges(i) {
                let j = g.col[k] as usize;
                if scanned[j] {
                    continue;
                }
                let r = min_val - g.w[k] - u[i] - v[j];
                if r < spc[j] {
                    if spc[j] == INF {
                        touched.push(j as u32);
                    }
                    spc[j] = r;
                    path[j] = i as u32;
                    // Ties prefer free columns (shorter search), then the lower index.
                    heap.push(Reverse((r, row4col[j] != NONE, j as u32)));
                }
            }
            let next = loop {
                match heap.pop() {
                    None => break None,
                    Some(Reverse((d, _, j))) => {
                        let j = j as usize;
                        if !scanned[j] && d == spc[j] {
                            break Some((d, j));
                        }
                    }
                }
            };
            let (d, j) = next?; // no free column reachable
            min_val = d;
            scanned[j] = true;
            sc.push(j as u32);
            if row4col[j] == NONE {
                sink = j;
                break;
            }
            i = row4col[j] as usize;
        }
        // Dual update keeps reduced costs non-negative and tight along the tree.
        u[cur] += min_val;
        for &r in &sr {
            let r = r as usize;
            if r != cur {
                u[r] += min_val - spc[col4row[r] as usize];
            }
        }
        for &j in &sc {
            let j = j as usize;
            v[j] -= min_val - spc[j];
        }
        // Augment along the path back to `cur`.
        let mut j = sink;
        loop {
            let r = path[j] as usize;
            row4col[j] = r as u32;
            let prev = col4row[r];
            col4row[r] = j as u32;
            if r == cur {
                break;
            }
            j = prev as usize;
        }
        for &j in &touched {
            spc[j as usize] = INF;
        }
        for &j in &sc {
            scanned[j as usize] = false;
        }
        touched.clear();
        sr.clear();
        sc.clear();
        heap.clear();
    }

    let p: Vec<i64> = u.iter().map(|x| -x).collect();
    let q: Vec<i64> = v.iter().map(|x| -x).collect();
    let mut row_edge = vec![0usize; n];
    let mut objective = 0i64;
    for i in 0..n {
        let k = g
            .edges(i)
            .find(|&k| g.col[k] == col4row[i])
            .expect("matched column is an edge of its row");
        row_edge[i] = k;
        objective += g.w[k];
    }
    let bound = certify(g, &p, &q)?;
    debug_assert_eq!(bound, objective);
    Some(Solution {
        row_col: col4row,
        row_edge,
        objective,
        p,
        q,
        bound,
    })
}

/// Dual objective of `(p, q)` if it is feasible for the LP, else `None`.
pub fn certify(g: &Graph, p: &[i64], q: &[i64]) -> Option<i64> {
    if q.iter().any(|&x| x < 0) {
        return None;
    }
    for i in 0..g.n_rows {
        for k in g.edges(i) {
            if p[i] + q[g.col[k] as usize] < g.w[k] {
                return None;
            }
        }
    }
    Some(p.iter().sum::<i64>() + q.iter().sum::<i64>())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Tiny deterministic LCG (Knuth's MMIX constants) so tests need no rand crate.
    pub(crate) struct Lcg(pub u64);

    impl Lcg {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }

        pub(crate) fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
    }

    /// Best total over matchings covering every row, by exhaustive search.
    fn brute(g: &Graph) -> Option<i64> {
        fn go(g: &Graph, i: usize, used: &mut Vec<bool>) -> Option<i64> {
            if i == g.n_rows {
                return Some(0);
            }
            let mut best = None;
            for k in g.edges(i) {
                let j = g.col[k] as usize;
                if used[j] {
                    continue;
                }
                used[j] = true;
                if let Some(rest) = go(g, i + 1, used) {
                    let t = rest + g.w[k];
                    best = Some(best.map_or(t, |b: i64| b.max(t)));
                }
                used[j] = false;
            }
            best
        }
        go(g, 0, &mut vec![false; g.n_cols])
    }

    fn random_graph(rng: &mut Lcg, with_dummies: bool) -> Graph {
        let n = 1 + rng.below(7) as usize;
        let m = 1 + rng.below(8) as usize;
        let cols = if with_dummies { m + n } else { m };
        let mut g = Graph::new(cols);
        for i in 0..n {
            for j in 0..m {
                if rng.below(100) < 60 {
                    // Few distinct values: many ties, as with real scores.
                    g.push_edge(j as u32, rng.below(7) as i64 * 20 - 40);
                }
            }
            if with_dummies && rng.below(100) < 80 {
                g.push_edge((m + i) as u32, 0);
            }
            g.end_row();
        }
        g
    }

    #[test]
    fn matches_brute_force_on_random_graphs() {
        let mut rng = Lcg(7);
        let mut feasible = 0;
        for t in 0..3000 {
            let g = random_graph(&mut rng, t % 2 == 0);
            let want = brute(&g);
            let got = solve(&g);
            assert_eq!(got.as_ref().map(|s| s.objective), want, "case {t}: {g:?}");
            if let Some(s) = got {
                feasible += 1;
                assert_eq!(s.bound, s.objective);
                assert_eq!(certify(&g, &s.p, &s.q), Some(s.objective));
                let mut used = vec![false; g.n_cols];
                for (i, &c) in s.row_col.iter().enumerate() {
                    assert!(!used[c as usize]);
                    used[c as usize] = true;
                    assert_eq!(g.col[s.row_edge[i]], c);
                }
            }
        }
        assert!(feasible > 1000);
    }

    #[test]
    fn empty_and_infeasible() {
        let g = Graph::new(3);
        let s = solve(&g).unwrap();
        assert_eq!((s.objective, s.bound), (0, 0));
        let mut g = Graph::new(1);
        g.push_edge(0, 5);
        g.end_row();
        g.push_edge(0, 7);
        g.end_row();
        assert!(solve(&g).is_none());
        let mut g = Graph::new(1);
        g.end_row();
        assert!(solve(&g).is_none());
    }
}
