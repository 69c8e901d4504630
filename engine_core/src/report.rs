//! What changed in the decision since it was last reported: the proposals added or changed,
//! the households no longer proposed, the cap rows that moved or went. The caller (the
//! service recording a MatchRun) then carries only that across, instead of every assignment
//! of the portfolio after each event.

use serde::Serialize;

use crate::scoring::Breakdown;

/// One proposal as reported: household and unit ids, and the score's parts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub household: String,
    pub unit: String,
    pub score: i64,
    pub breakdown: Breakdown,
}

/// One cap row as reported, keyed by (rule, scope).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CapRow {
    pub rule: usize,
    pub flag: &'static str,
    pub scope: String,
    pub count: i64,
    pub cap: i64,
    pub units: usize,
}

/// What changed since the last report, in the orders of a whole result (household id; rule,
/// then scope).
#[derive(Debug, Default, PartialEq, Eq, Serialize)]
pub struct Delta {
    pub assignments: Vec<Entry>,
    pub withdrawn: Vec<String>,
    pub caps: Vec<CapRow>,
    /// `rule:scope` of the cap rows gone.
    pub caps_dropped: Vec<String>,
}

/// The decision as last reported.
#[derive(Clone, Debug, Default)]
pub struct Reported {
    entries: Vec<Entry>,
    caps: Vec<CapRow>,
}

impl Reported {
    /// Takes `now` as the reported decision and returns what changed. `now` yields
    /// (household id, unit id, breakdown) in household id order; `caps` is in (rule, scope)
    /// order. Unchanged entries are moved over, so only changes allocate.
    pub fn update<'a, I>(&mut self, now: I, caps: Vec<CapRow>) -> Delta
    where
        I: Iterator<Item = (&'a str, &'a str, Breakdown)>,
    {
        let mut delta = Delta::default();
        let mut old = std::mem::take(&mut self.entries).into_iter().peekable();
        let mut kept = Vec::with_capacity(old.len());
        for (household, unit, breakdown) in now {
            while let Some(e) = old.next_if(|e| e.household.as_str() < household) {
                delta.withdrawn.push(e.household);
            }
            let entry = match old.next_if(|e| e.household == household) {
                Some(e) if e.unit == unit && e.breakdown == breakdown => e,
                seen => {
                    let e = Entry {
                        household: seen.map_or_else(|| household.to_string(), |e| e.household),
                        unit: unit.to_string(),
                        score: breakdown.total(),
                        breakdown,
                    };
                    delta.assignments.push(e.clone());
                    e
                }
            };
            kept.push(entry);
        }
        delta.withdrawn.extend(old.map(|e| e.household));
        self.entries = kept;

        let key = |r: &CapRow| (r.rule, r.scope.clone());
        let mut old = std::mem::take(&mut self.caps).into_iter().peekable();
        for row in &caps {
            while let Some(r) = old.next_if(|r| key(r) < key(row)) {
                delta.caps_dropped.push(format!("{}:{}", r.rule, r.scope));
            }
            match old.next_if(|r| key(r) == key(row)) {
                Some(r) if r == *row => {}
                _ => delta.caps.push(row.clone()),
            }
        }
        delta
            .caps_dropped
            .extend(old.map(|r| format!("{}:{}", r.rule, r.scope)));
        self.caps = caps;
        delta
    }

    /// Forgets the reported decision: the next update reports everything.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.caps.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(size_fit: i64) -> Breakdown {
        Breakdown {
            size_fit,
            ..Breakdown::default()
        }
    }

    fn row(scope: &str, count: i64) -> CapRow {
        CapRow {
            rule: 0,
            flag: "disadvantaged",
            scope: scope.into(),
            count,
            cap: 3,
            units: 10,
        }
    }

    #[test]
    fn reports_only_what_changed() {
        let mut r = Reported::default();
        let first = r.update(
            [("H1", "U1", b(100)), ("H2", "U2", b(60))].into_iter(),
            vec![row("B1", 1), row("B2", 0)],
        );
        assert_eq!(first.assignments.len(), 2);
        assert_eq!(first.caps.len(), 2);
        // H1 moves, H2 goes, H3 comes, H0 comes before all; B1 moves, B2 goes, B3 comes.
        let d = r.update(
            [
                ("H0", "U9", b(20)),
                ("H1", "U3", b(100)),
                ("H3", "U2", b(60)),
            ]
            .into_iter(),
            vec![row("B1", 2), row("B3", 0)],
        );
        let ids: Vec<&str> = d.assignments.iter().map(|e| e.household.as_str()).collect();
        assert_eq!(ids, ["H0", "H1", "H3"]);
        assert_eq!(d.withdrawn, ["H2"]);
        let scopes: Vec<&str> = d.caps.iter().map(|r| r.scope.as_str()).collect();
        assert_eq!(scopes, ["B1", "B3"]);
        assert_eq!(d.caps_dropped, ["0:B2"]);
        // Nothing changed; then only a breakdown changes.
        let same = [
            ("H0", "U9", b(20)),
            ("H1", "U3", b(100)),
            ("H3", "U2", b(60)),
        ];
        assert_eq!(
            r.update(same.into_iter(), vec![row("B1", 2), row("B3", 0)]),
            Delta::default()
        );
        let d = r.update(
            [
                ("H0", "U9", b(20)),
                ("H1", "U3", b(99)),
                ("H3", "U2", b(60)),
            ]
            .into_iter(),
            vec![row("B1", 2), row("B3", 0)],
        );
        assert_eq!(d.assignments.len(), 1);
        assert_eq!(d.assignments[0].score, 99);
        // Everything gone.
        let d = r.update(std::iter::empty(), Vec::new());
        assert_eq!(d.withdrawn, ["H0", "H1", "H3"]);
        assert_eq!(d.caps_dropped, ["0:B1", "0:B3"]);
    }
}
