//! The optimality certificate of [`Warm`] ([`Warm::certify`]) and its from-scratch check.

use super::*;

/// The optimality certificate kept up to date: each row's and column's share of the checks
/// and sums as of its last check, and what changed since. Re-checking only those keeps the
/// proof exact at the cost of what moved, instead of every edge of the portfolio.
#[derive(Clone, Debug, Default)]
pub(super) struct Cert {
    pub(super) all: bool,
    pub(super) rows: Vec<u32>,
    pub(super) row_marked: Vec<bool>,
    pub(super) cols: Vec<u32>,
    pub(super) col_marked: Vec<bool>,
    pub(super) row_part: Vec<RowPart>,
    pub(super) col_part: Vec<ColPart>,
    /// Rows and columns whose last check failed.
    pub(super) bad: usize,
    pub(super) primal: i128,
    pub(super) dual: i128,
    pub(super) objective: i64,
    pub(super) matched: usize,
}

impl Cert {
    /// [`Warm::copy_from`] for the certificate.
    pub(super) fn copy_from(&mut self, src: &Cert) {
        let Cert {
            all,
            rows,
            row_marked,
            cols,
            col_marked,
            row_part,
            col_part,
            bad,
            primal,
            dual,
            objective,
            matched,
        } = self;
        *all = src.all;
        rows.clone_from(&src.rows);
        row_marked.clone_from(&src.row_marked);
        cols.clone_from(&src.cols);
        col_marked.clone_from(&src.col_marked);
        row_part.clone_from(&src.row_part);
        col_part.clone_from(&src.col_part);
        *bad = src.bad;
        *primal = src.primal;
        *dual = src.dual;
        *objective = src.objective;
        *matched = src.matched;
    }
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RowPart {
    pub(super) ok: bool,
    /// `-u`, `-cost` of the matched edge, its score, matched to a real column.
    pub(super) dual: i128,
    pub(super) primal: i128,
    pub(super) objective: i64,
    pub(super) matched: bool,
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ColPart {
    pub(super) ok: bool,
    pub(super) dual: i128,
    /// The dual when the column last passed: while it has not risen above that, the edges
    /// into it from unchanged rows can only have gained reduced cost.
    pub(super) passed_at: i128,
}

impl ColPart {
    pub(super) fn default_ok() -> Self {
        ColPart {
            ok: true,
            dual: 0,
            passed_at: 0,
        }
    }
}

/// Outcome of [`Warm::certify`]: primary objective and its certified bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub objective: i64,
    /// Matched weight in full (`w·2⁶⁴ + t`), equal to the dual bound when the certificate holds.
    pub value: i128,
    pub bound: i64,
    /// Rows matched to a column other than a private "unmatched" one.
    pub matched: usize,
}

impl Warm {
    /// Checks dual feasibility and complementary slackness; returns the score objective and
    /// the bound `floor(dual / 2^64)`, or `None` if the certificate fails. Only the rows and
    /// columns that changed since the last call are checked again (with every edge into a
    /// changed column); the others keep their last, still valid, share.
    pub fn certify(&mut self) -> Option<Certificate> {
        if std::mem::take(&mut self.cert.all) {
            for r in 0..self.rows.len() {
                self.mark_row(r as u32);
            }
            for c in 0..self.cols.len() {
                self.mark_col(c as u32);
            }
        }
        let mut cols = std::mem::take(&mut self.cert.cols);
        // A column that fails stays marked: it is checked again at every call until it
        // passes (a row change may have repaired its edges meanwhile).
        let mut failed = Vec::new();
        for &c in &cols {
            let cu = c as usize;
            self.cert.col_marked[cu] = false;
            let old = self.cert.col_part[cu];
            let part = if self.col_live[cu] {
                let v = self.v[cu];
                let edges_ok = if v > old.passed_at {
                    self.col_edges_ok(c)
                } else {
                    self.matched_edge_ok(c)
                };
                let ok = v <= 0 && (self.row4col[cu] != NONE || v == 0) && edges_ok;
                ColPart {
                    ok,
                    dual: -v,
                    passed_at: if ok { v } else { old.passed_at },
                }
            } else {
                ColPart::default_ok()
            };
            self.cert.col_part[cu] = part;
            self.cert.bad = self.cert.bad + usize::from(!part.ok) - usize::from(!old.ok);
            self.cert.dual += part.dual - old.dual;
            if !part.ok {
                failed.push(c);
            }
        }
        let mut rows = std::mem::take(&mut self.cert.rows);
        let mut failed_rows = Vec::new();
        for &r in &rows {
            let ru = r as usize;
            self.cert.row_marked[ru] = false;
            let part = self.row_part(ru);
            let old = std::mem::replace(&mut self.cert.row_part[ru], part);
            if !part.ok {
                failed_rows.push(r);
            }
            let cert = &mut self.cert;
            cert.bad = cert.bad + usize::from(!part.ok) - usize::from(!old.ok);
            cert.dual += part.dual - old.dual;
            cert.primal += part.primal - old.primal;
            cert.objective += part.objective - old.objective;
            cert.matched = cert.matched + usize::from(part.matched) - usize::from(old.matched);
        }
        rows.clear();
        self.cert.rows = rows;
        cols.clear();
        self.cert.cols = cols;
        for c in failed {
            self.mark_col(c);
        }
        for r in failed_rows {
            self.mark_row(r);
        }
        if self.cert.bad != 0 || self.cert.primal != self.cert.dual {
            return None;
        }
        Some(Certificate {
            objective: self.cert.objective,
            value: self.cert.primal,
            bound: self.cert.dual.div_euclid(1i128 << 64) as i64,
            matched: self.cert.matched,
        })
    }

    /// Reduced costs of the edges into column `c` from rows not marked (those are checked
    /// whole): non-negative, zero on the matched one.
    fn col_edges_ok(&self, c: u32) -> bool {
        let vc = self.v[c as usize];
        self.cols[c as usize].iter().all(|&r| {
            let ru = r as usize;
            if self.cert.row_marked[ru] {
                return true;
            }
            let list = &self.rows[ru];
            let Ok(k) = list.binary_search_by_key(&c, |e| e.col) else {
                return false; // column lists match row lists
            };
            let red = list[k].cost() - self.u[ru] - vc;
            red >= 0 && (self.col4row[ru] != c || red == 0)
        })
    }

    /// The matched edge into column `c`, if its row is not marked (else checked whole), is
    /// tight.
    fn matched_edge_ok(&self, c: u32) -> bool {
        let r = self.row4col[c as usize];
        if r == NONE || self.cert.row_marked[r as usize] {
            return true;
        }
        let list = &self.rows[r as usize];
        list.binary_search_by_key(&c, |e| e.col)
            .is_ok_and(|k| list[k].cost() - self.u[r as usize] - self.v[c as usize] == 0)
    }

    /// Row `r`'s share of the certificate: every edge's reduced cost non-negative, the
    /// matched one tight.
    fn row_part(&self, r: usize) -> RowPart {
        if !self.row_live[r] {
            return RowPart {
                ok: true,
                ..RowPart::default()
            };
        }
        let ur = self.u[r];
        let mc = self.col4row[r];
        let mut part = RowPart {
            ok: false,
            dual: -ur,
            primal: 0,
            objective: 0,
            matched: false,
        };
        let mut found = false;
        for e in &self.rows[r] {
            let red = e.cost() - ur - self.v[e.col as usize];
            if red < 0 || (e.col == mc && red != 0) {
                return part;
            }
            if e.col == mc {
                found = true;
                part.primal = -e.cost();
                part.objective = e.w;
                part.matched = !self.dummy_col[mc as usize];
            }
        }
        part.ok = found;
        part
    }

    /// The column lists and their costs mirror the row lists exactly (tests).
    #[cfg(test)]
    fn check_col_cost(&self) {
        let mut want: Vec<Vec<(u32, i128)>> = vec![Vec::new(); self.cols.len()];
        for (r, list) in self.rows.iter().enumerate() {
            for e in list {
                want[e.col as usize].push((r as u32, e.cost()));
            }
        }
        for (c, w) in want.iter().enumerate() {
            let got: Vec<(u32, i128)> = self.cols[c]
                .iter()
                .copied()
                .zip(self.col_cost[c].iter().copied())
                .collect();
            assert_eq!(
                self.cols[c].len(),
                self.col_cost[c].len(),
                "column {c}: costs"
            );
            assert_eq!(&got, w, "column {c}: list or costs differ from the rows'");
        }
    }

    /// [`Warm::certify`] from scratch over every edge (tests compare the two).
    #[cfg(test)]
    pub fn certify_full(&self) -> Option<Certificate> {
        self.check_col_cost();
        let mut primal: i128 = 0;
        let mut objective: i64 = 0;
        let mut dual: i128 = 0;
        let mut matched = 0;
        for c in 0..self.cols.len() {
            if self.col_live[c] {
                if self.v[c] > 0 || (self.row4col[c] == NONE && self.v[c] != 0) {
                    return None;
                }
                dual -= self.v[c];
            }
        }
        for r in 0..self.rows.len() {
            let part = self.row_part(r);
            if !part.ok {
                return None;
            }
            dual += part.dual;
            primal += part.primal;
            objective += part.objective;
            matched += usize::from(part.matched);
        }
        if primal != dual {
            return None;
        }
        Some(Certificate {
            objective,
            value: primal,
            bound: dual.div_euclid(1i128 << 64) as i64,
            matched,
        })
    }
}
