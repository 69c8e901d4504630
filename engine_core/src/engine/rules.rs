//! The rules of the capped search (the mix caps and each task of a hard coverage rule) and
//! their rows in one snapshot.

use super::*;

/// A rule of the capped search: a mix cap, or one task of a hard task-coverage rule (at least
/// one resident with the task in each of the rule's scopes).
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Rule {
    Cap(Cap),
    Cover {
        scope: CoverScope,
        task: String,
        buildings: Vec<String>,
    },
}

impl Rule {
    pub(super) fn buildings(&self) -> &[String] {
        match self {
            Rule::Cap(c) => &c.buildings,
            Rule::Cover { buildings, .. } => buildings,
        }
    }

    pub(super) fn is_cover(&self) -> bool {
        matches!(self, Rule::Cover { .. })
    }

    /// The scope of unit `u` under this rule (the floor for a floor scope, else 0).
    pub(super) fn key<'a>(&self, u: &'a Unit) -> (&'a str, i64) {
        match self {
            Rule::Cap(c) => (c.scope.key(u), 0),
            Rule::Cover { scope, .. } => scope.key(u),
        }
    }

    /// Whether household `h` counts towards the rule's rows.
    pub(super) fn counts(&self, h: &Household) -> bool {
        match self {
            Rule::Cap(c) => h.flag(&c.flag),
            Rule::Cover { task, .. } => h.skills.iter().any(|s| s == task),
        }
    }
}

/// The rules of the capped search: the caps, then each task of each hard coverage rule.
pub(super) fn rules_of(caps: &[Cap], policy: &Policy) -> Vec<Rule> {
    let mut rules: Vec<Rule> = caps.iter().cloned().map(Rule::Cap).collect();
    for c in policy.coverage.iter().filter(|c| c.hard) {
        rules.extend(c.tasks.iter().map(|t| Rule::Cover {
            scope: c.scope,
            task: t.clone(),
            buildings: c.buildings.clone(),
        }));
    }
    rules
}

/// Cap constraints of one snapshot: one per (rule, scope with units), in (rule, scope) order.
pub(super) struct CapTable<'a> {
    /// (rule, scope key, effective cap (a cover row's least count), units in scope)
    pub(super) rows: Vec<(usize, (&'a str, i64), i64, usize)>,
    /// Constraint id of each unit slot, per rule (`NONE` for free slots).
    pub(super) unit_cons: Vec<Vec<u32>>,
}

/// The cap rows of the snapshot: each rule's scopes in key order, with their effective caps.
pub(super) fn cap_table<'a>(
    rules: &[Rule],
    p: &Slots,
    s: &ScoreView<'a>,
    o: &Order,
) -> CapTable<'a> {
    let mut rows = Vec::new();
    let mut unit_cons = Vec::new();
    for (r, rule) in rules.iter().enumerate() {
        // A rule limited to some buildings has no scope elsewhere.
        let capped = |u: usize| in_buildings(rule.buildings(), &s.unit(u).building);
        let mut scopes: BTreeMap<(&'a str, i64), (usize, i64)> = BTreeMap::new();
        for &u in o.us.iter().filter(|&&u| capped(u)) {
            scopes.entry(rule.key(s.unit(u))).or_default().0 += 1;
        }
        if let Rule::Cap(cap) = rule {
            for &h in &o.hs {
                if let (Some(u), true) = (s.own[h], s.hh(h).flag(&cap.flag)) {
                    if capped(u) {
                        scopes.entry(rule.key(s.unit(u))).or_default().1 += 1;
                    }
                }
            }
        }
        let base = rows.len() as u32;
        let index: BTreeMap<(&str, i64), u32> = scopes
            .keys()
            .enumerate()
            .map(|(i, k)| (*k, base + i as u32))
            .collect();
        for (key, (n_units, sitting)) in scopes {
            let limit = match rule {
                // Staying put is always feasible: the cap never undercuts who lives there now.
                Rule::Cap(cap) => cap.value(n_units).max(sitting),
                Rule::Cover { .. } => 1,
            };
            rows.push((r, key, limit, n_units));
        }
        let mut cons = vec![NONE; p.units.len()];
        for &u in o.us.iter().filter(|&&u| capped(u)) {
            cons[u] = index[&rule.key(s.unit(u))];
        }
        unit_cons.push(cons);
    }
    CapTable { rows, unit_cons }
}
