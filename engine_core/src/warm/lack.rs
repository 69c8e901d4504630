//! How far a row is from another column: the cheapest way to move it, read from the optimal
//! duals. With the duals `u`, `v` every reduced cost is non-negative, so a Dijkstra from the
//! row over reduced costs finds the best matching that gives it another column, and the
//! weight that matching loses against the optimum (a Jonker–Volgenant step, not applied).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::{Edge, Warm};

/// The best matching that moves a row off its column: what it loses against the optimum, and
/// the alternating path that makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Move {
    /// Optimum weight minus the weight of that matching, in `w·2⁶⁴ + t` units.
    pub loss: i128,
    /// `(row, column)` pairs the matching assigns anew, the moved row's first.
    pub path: Vec<(u32, u32)>,
}

impl Warm {
    /// The cheapest matching that moves row `r0` off its current column onto one of `first`
    /// (edges of `r0`, of any weight), every other row `i` keeping to the edges `edges_of(i)`
    /// gives: all of its eligible pairs, in the graph or not, for which the duals must be
    /// feasible. `None` if no alternating path reaches a free column. An error if a reduced
    /// cost is negative: then the duals do not prove the optimum for the pairs given.
    pub fn cheapest_move(
        &self,
        r0: u32,
        first: &[Edge],
        edges_of: &mut dyn FnMut(u32, &mut Vec<Edge>),
    ) -> Result<Option<Move>, String> {
        let here = self.col4row[r0 as usize];
        let stay = self
            .cost(r0, here)
            .ok_or("internal: the row's own edge is not in the graph")?;
        // Distance and the row each column was reached from; columns settled.
        let mut label: BTreeMap<u32, (i128, u32)> = BTreeMap::new();
        let mut settled: BTreeSet<u32> = BTreeSet::new();
        let mut heap: BinaryHeap<Reverse<(i128, u32)>> = BinaryHeap::new();
        let mut buf = Vec::new();
        let (mut row, mut base) = (r0, 0i128);
        let sink = loop {
            let edges: &[Edge] = if row == r0 {
                first
            } else {
                buf.clear();
                edges_of(row, &mut buf);
                &buf
            };
            let ui = self.u[row as usize];
            for e in edges {
                if e.col == here || settled.contains(&e.col) {
                    continue;
                }
                let rc = e.cost() - ui - self.v[e.col as usize];
                if rc < 0 {
                    return Err(format!(
                        "internal: negative reduced cost on ({row}, {})",
                        e.col
                    ));
                }
                let d = base + rc;
                if label.get(&e.col).is_none_or(|&(old, _)| d < old) {
                    label.insert(e.col, (d, row));
                    heap.push(Reverse((d, e.col)));
                }
            }
            let next = loop {
                match heap.pop() {
                    None => break None,
                    Some(Reverse((d, c))) if !settled.contains(&c) && label[&c].0 == d => {
                        break Some((d, c))
                    }
                    Some(_) => {}
                }
            };
            let Some((d, c)) = next else {
                return Ok(None);
            };
            settled.insert(c);
            base = d;
            match self.row4col[c as usize] {
                super::NONE => break c,
                r => row = r,
            }
        };
        // Along the path the duals telescope: the new matching costs `dist + u[r0]` more than
        // the optimum without `r0`'s current edge (free columns have `v = 0`).
        let loss = base + self.u[r0 as usize] - stay;
        let mut path = Vec::new();
        let mut c = sink;
        loop {
            let r = label[&c].1;
            path.push((r, c));
            if r == r0 {
                break;
            }
            c = self.col4row[r as usize];
        }
        path.reverse();
        Ok(Some(Move { loss, path }))
    }
}
