//! The capped search recorded runs were decided by (the default): branch and bound over the
//! assignment relaxation (`crate::caps`) on the whole eligible-pair graph, rebuilt in id order
//! for each re-match (not incremental); the uncapped optimum the incremental engine keeps is
//! its check and its `uncapped_objective`.

use super::*;

impl Engine {
    pub(super) fn legacy_capped_decision(
        &self,
        s: &ScoreView<'_>,
        node_limit: u64,
        uncapped: i64,
    ) -> Result<Decision, String> {
        let o = Order::new(&self.p);
        let table = self.cap_table(s, &o);
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
            .map(|c| o.hs.iter().map(|&h| s.hh(h).flag(&c.flag)).collect())
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
        if out.uncapped_objective != uncapped {
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
        Ok(Decision {
            unit_of: Some(unit_of),
            summary: Summary {
                objective: out.objective,
                bound: out.bound,
                uncapped_objective: uncapped,
                optimal: out.optimal,
                nodes: out.nodes,
                matched,
            },
            node_limit,
        })
    }
}
