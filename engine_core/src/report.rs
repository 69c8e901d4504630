//! What changed in the decision since it was last reported: the proposals added or changed,
//! the households no longer proposed, the cap rows that moved or went. The caller (the
//! service recording a MatchRun) then carries only that across, instead of every assignment
//! of the portfolio after each event.

use std::collections::{BTreeMap, BTreeSet};

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
    pub flag: String,
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

/// What may have changed the breakdown of a household's proposal since the last report:
/// the households and units an operation touched, the buildings whose tenants' skills
/// changed; `all` when anything may have (a first report, a new date for everyone).
#[derive(Clone, Debug, Default)]
pub struct Touched {
    pub households: BTreeSet<String>,
    pub units: BTreeSet<String>,
    pub buildings: BTreeSet<u32>,
    pub all: bool,
}

impl Touched {
    pub fn clear(&mut self) {
        *self = Touched::default();
    }
}

/// The decision as last reported.
#[derive(Clone, Debug, Default)]
pub struct Reported {
    entries: BTreeMap<String, Entry>,
    caps: Vec<CapRow>,
    /// The unit slot reported for each household slot (`NONE`: none), so that a re-match's
    /// moves are found by comparing integers.
    pub slots: Vec<u32>,
    /// Whether `entries` is the last decision (else the next report compares everything).
    pub valid: bool,
}

pub const NONE: u32 = u32::MAX;

impl Reported {
    /// Takes `now` as the reported decision and returns what changed. `now` yields
    /// (household id, unit id, breakdown) in household id order; `caps` is in (rule, scope)
    /// order. Unchanged entries are kept, so only changes allocate.
    pub fn update<'a, I>(&mut self, now: I, caps: Vec<CapRow>) -> Delta
    where
        I: Iterator<Item = (&'a str, &'a str, Breakdown)>,
    {
        let mut delta = Delta::default();
        let mut old = std::mem::take(&mut self.entries).into_iter().peekable();
        let mut kept = BTreeMap::new();
        for (household, unit, breakdown) in now {
            while let Some((_, e)) = old.next_if(|(id, _)| id.as_str() < household) {
                delta.withdrawn.push(e.household);
            }
            let entry = match old.next_if(|(id, _)| id == household) {
                Some((_, e)) if e.unit == unit && e.breakdown == breakdown => e,
                seen => {
                    let e = Entry {
                        household: seen.map_or_else(|| household.to_string(), |(id, _)| id),
                        unit: unit.to_string(),
                        score: breakdown.total(),
                        breakdown,
                    };
                    delta.assignments.push(e.clone());
                    e
                }
            };
            kept.insert(entry.household.clone(), entry);
        }
        delta.withdrawn.extend(old.map(|(_, e)| e.household));
        self.entries = kept;
        self.update_caps(caps, &mut delta);
        self.valid = true;
        delta
    }

    /// As [`Reported::update`], when only the households in `candidates` can have changed:
    /// each with its proposal now, if any (unit id, breakdown). `candidates` is in household
    /// id order, without repeats.
    pub fn update_some(
        &mut self,
        candidates: Vec<(String, Option<(&str, Breakdown)>)>,
        caps: Vec<CapRow>,
    ) -> Delta {
        let mut delta = Delta::default();
        for (household, now) in candidates {
            match now {
                None => {
                    if self.entries.remove(&household).is_some() {
                        delta.withdrawn.push(household);
                    }
                }
                Some((unit, breakdown)) => {
                    let same = self
                        .entries
                        .get(&household)
                        .is_some_and(|e| e.unit == unit && e.breakdown == breakdown);
                    if !same {
                        let e = Entry {
                            household: household.clone(),
                            unit: unit.to_string(),
                            score: breakdown.total(),
                            breakdown,
                        };
                        delta.assignments.push(e.clone());
                        self.entries.insert(household, e);
                    }
                }
            }
        }
        self.update_caps(caps, &mut delta);
        delta
    }

    fn update_caps(&mut self, caps: Vec<CapRow>, delta: &mut Delta) {
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
    }

    /// Forgets the reported decision: the next update reports everything.
    pub fn clear(&mut self) {
        *self = Reported::default();
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
            flag: "disadvantaged".into(),
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
