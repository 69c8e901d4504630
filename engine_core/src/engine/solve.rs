//! The solve loop: brings the warm matching up to date with the snapshot, then solves and
//! prices until no pair outside the restricted graph is violated.

use super::price::Pricer;
use super::*;

/// Brings the warm matching up to date with the snapshot `s` and re-solves it. Costs what
/// changed (plus the pricing it sets off), not the size of the portfolio, except on a full
/// rebuild.
pub(super) fn sync(inc: &mut Inc, s: &ScoreView) -> Result<(), String> {
    let p = s.p;
    let (n, m) = (p.n_households(), p.n_units());
    let n_keys = inc.groups.keys.len();
    let mut full = !inc.valid;
    if !full {
        let dirty_hh = std::mem::take(&mut inc.dirty_hh);
        let dirty_units = std::mem::take(&mut inc.dirty_units);
        for id in &dirty_hh {
            if p.hh_slot(id).is_none() {
                if let Some(r) = inc.hh_row.remove(id) {
                    let d = inc.dummy[r as usize];
                    inc.warm.remove_row(r);
                    inc.warm.remove_col(d);
                    inc.compact.set(s, r, None);
                    inc.free_rows.push(r);
                    inc.free_cols.push(d);
                    inc.maps.h_of_row[r as usize] = NONE;
                }
            }
        }
        // Every changed unit leaves its group first (its slot may have gone to another unit
        // in the meantime), then the vacant ones are listed again.
        for id in &dirty_units {
            if let Some(&c) = inc.unit_col.get(id) {
                inc.listed.remove(inc.maps.u_of_col[c as usize] as usize);
            }
            if p.unit_slot(id).is_none() {
                if let Some(c) = inc.unit_col.remove(id) {
                    inc.warm.remove_col(c);
                    inc.free_cols.push(c);
                    inc.maps.u_of_col[c as usize] = NONE;
                }
            }
        }
        for id in &dirty_units {
            if let Some(u) = p.unit_slot(id) {
                inc.col_for(id, u);
                inc.listed.insert(s, &mut inc.groups, u);
            }
        }
        for id in &dirty_hh {
            if let Some(h) = p.hh_slot(id) {
                inc.row_for(id, h, s.policy.lottery_seed.as_deref());
            }
        }
        inc.dirty_hh = dirty_hh;
        inc.dirty_units = dirty_units;
        if inc.hh_row.len() != n || inc.unit_col.len() != m {
            full = true; // cannot happen; be safe
        }
    }
    let unit_order = full.then(|| p.unit_order());
    let hh_order = full.then(|| p.hh_order());
    if let (Some(us), Some(hs)) = (&unit_order, &hh_order) {
        *inc = Inc {
            valid: false,
            ..Inc::default()
        };
        for &u in us {
            inc.col_for(&p.unit(u).id, u);
        }
        for &h in hs {
            inc.row_for(&p.hh(h).id, h, s.policy.lottery_seed.as_deref());
        }
        inc.listed = Groups::new(s, &mut inc.groups, us);
    }
    // Rows and columns to rebuild or rescore, in id order.
    let mut dirty_row = vec![false; p.households.len()];
    let mut rows_todo: Vec<usize> = Vec::new();
    let mut cols_todo: Vec<usize> = Vec::new();
    if let Some(hs) = hh_order {
        rows_todo = hs;
    } else {
        rows_todo.extend(inc.dirty_hh.iter().filter_map(|id| p.hh_slot(id)));
        cols_todo.extend(inc.dirty_units.iter().filter_map(|id| p.unit_slot(id)));
        if !inc.dirty_buildings.is_empty() {
            for &b in &inc.dirty_buildings {
                for &u in p.building_units.get(b as usize).map_or(&[][..], |v| v) {
                    cols_todo.push(u as usize);
                    if let Some(h) = p.occupant[u as usize] {
                        rows_todo.push(h);
                    }
                }
            }
            rows_todo.sort_unstable_by(|&a, &b| p.hh(a).id.cmp(&p.hh(b).id));
            rows_todo.dedup();
            cols_todo.sort_unstable_by(|&a, &b| p.unit(a).id.cmp(&p.unit(b).id));
            cols_todo.dedup();
        }
        // Beyond half the problem a cold start is as cheap and simpler.
        if 2 * (rows_todo.len() + cols_todo.len()) > n.max(1) + m {
            full = true;
            rows_todo = p.hh_order();
            cols_todo.clear();
        }
    }
    for &h in &rows_todo {
        dirty_row[h] = true;
    }
    inc.dirty_hh.clear();
    inc.dirty_units.clear();
    inc.dirty_buildings.clear();
    if inc.groups.keys.len() != n_keys {
        // A new kind of vacant unit: every household's bounds lack it.
        inc.bounds.iter_mut().for_each(|b| drop(b.take()));
    }
    for &h in &rows_todo {
        inc.bounds[inc.maps.row_of_h[h] as usize].take();
    }
    let walk = (inc.listed.vacant / 4).max(1);
    let mut regroup = inc.listed.take_changed();
    // Row pricing's per-skill lists follow the buildings' skills: the units of a building
    // whose skills changed are among `cols_todo` (everything when full), and the rows rebuilt
    // below are priced before their rescoring marks them moved.
    if full {
        regroup.extend(0..inc.priced.len() as u32);
    } else {
        regroup.extend(cols_todo.iter().filter_map(|&u| inc.listed.group_of(u)));
    }
    let mut priced = std::mem::take(&mut inc.priced);
    let pricer = Pricer {
        s,
        walk,
        groups: std::mem::take(&mut inc.listed),
        maps: std::mem::take(&mut inc.maps),
    };
    pricer.refresh_priced(&mut inc.warm, &inc.col_key, &mut priced, &mut regroup);
    let out = solve_and_price(
        inc,
        &pricer,
        &mut priced,
        full,
        &rows_todo,
        &cols_todo,
        &dirty_row,
    );
    let Pricer { groups, maps, .. } = pricer;
    inc.listed = groups;
    inc.maps = maps;
    inc.priced = priced;
    out
}

/// The solve proper of [`sync`]: rebuilds and rescores what changed, then solves and prices
/// until no pair outside the graph is violated.
fn solve_and_price(
    inc: &mut Inc,
    pricer: &Pricer,
    by_price: &mut Vec<PricedGroup>,
    full: bool,
    rows_todo: &[usize],
    cols_todo: &[usize],
    dirty_row: &[bool],
) -> Result<(), String> {
    let s = pricer.s;
    let maps = &pricer.maps;
    let mut buf = Vec::new();
    if full {
        inc.warm.take_changed();
    }
    let mut regroup = Vec::new();
    for &h in rows_todo {
        let (edges, left) = pricer.row_edges(inc, by_price, h, &mut buf);
        inc.best_out[maps.row_of_h[h] as usize] = left.rest;
        inc.low_out[maps.row_of_h[h] as usize] = left.low;
        inc.warm.set_row(maps.row_of_h[h], edges);
    }
    // Waiting points moved: shift those rows (before the column rescoring below, which
    // writes absolute scores).
    let shifted = std::mem::take(&mut inc.shifted);
    if !full {
        for (id, &delta) in &shifted {
            let Some(h) = s.p.hh_slot(id) else {
                continue;
            };
            if delta == 0 || dirty_row[h] {
                continue;
            }
            let r = maps.row_of_h[h];
            let dummy = s.own[h].is_none().then(|| inc.dummy[r as usize]);
            inc.warm.shift_row(r, delta, dummy);
            // Every pair left out moved by delta too. An applicant's pairs that rose above 0
            // became eligible (they were under `low_out`), those that fell to 0 or below
            // left (`best_out` keeps covering them: looser, still valid).
            let ru = r as usize;
            let shift = i128::from(delta) << 64;
            let best = inc.best_out[ru].saturating_add(shift);
            let low = inc.low_out[ru].saturating_add(shift);
            if dummy.is_some() {
                inc.best_out[ru] = if delta > 0 { best.max(low) } else { best };
                inc.low_out[ru] = if delta < 0 { low.max(best) } else { low };
            } else {
                inc.best_out[ru] = best;
                inc.low_out[ru] = low;
            }
        }
    }
    // Column pricing's records follow the rows rebuilt (rows of households whose own unit or
    // building changed are among them) and the waiting points that moved.
    if full || inc.compact.stale(s) {
        inc.compact.clear(s);
        for &h in s.p.hh_ids.values() {
            inc.compact
                .set(s, maps.row_of_h[h as usize], Some(h as usize));
        }
    } else {
        let moved = shifted.keys().filter_map(|id| s.p.hh_slot(id));
        for h in rows_todo.iter().copied().chain(moved) {
            inc.compact.set(s, maps.row_of_h[h], Some(h));
        }
    }
    for &u in cols_todo {
        // Rescore the pairs the graph holds; pricing finds the ones it should hold.
        let c = maps.col_of_u[u];
        let rows: Vec<u32> = inc.warm.col_rows(c).to_vec();
        for &r in &rows {
            let h = maps.h_of_row[r as usize] as usize;
            if dirty_row[h] {
                continue;
            }
            let sitting = s.own[h].is_some();
            let e = match s.check(h, u) {
                Ok(b) if sitting || b.total() > 0 => Some((
                    b.total(),
                    warm::tie(inc.row_key[r as usize], inc.col_key[c as usize]),
                )),
                _ => None,
            };
            inc.warm.set_edge(r, c, e);
        }
        inc.warm.repair_col(c);
    }
    if full {
        inc.warm.reset();
    }
    inc.last_rows = rows_todo.len();
    inc.last_cols = cols_todo.len();
    inc.last_full = full;
    // Solve the restricted graph, then price every pair outside it whose reduced cost may
    // have dropped; repeat until none is violated. That last, clean pass is the proof that
    // the restricted optimum is the optimum over all eligible pairs.
    let mut everything = full;
    // Moved out while the loop changes the rest of `inc` (a failed solve rebuilds it anyway).
    let compact = std::mem::take(&mut inc.compact);
    inc.last_rounds = 0;
    inc.last_priced = (0, 0, false);
    loop {
        if !inc.warm.run() {
            inc.valid = false;
            return Err("internal: no matching keeps every sitting tenant".into());
        }
        inc.last_rounds += 1;
        let (rows, cols) = inc.warm.take_changed();
        // Only households that have pairs outside their own unit, and only vacant units,
        // have pairs to price; a row whose bound shows every pair left out still feasible
        // needs nothing.
        let rows: Vec<usize> = rows
            .iter()
            .filter(|&&r| {
                inc.best_out
                    .get(r as usize)
                    .is_some_and(|&b| b > -inc.warm.u(r))
            })
            .map(|&r| maps.h_of_row.get(r as usize).copied().unwrap_or(NONE))
            .filter(|&h| h != NONE && pricing::priceable(s, h as usize))
            .map(|h| h as usize)
            .collect();
        let cols: Vec<usize> = cols
            .iter()
            .map(|&c| maps.u_of_col.get(c as usize).copied().unwrap_or(NONE))
            .filter(|&u| u != NONE && pricer.groups.group_of(u as usize).is_some())
            .map(|u| u as usize)
            .collect();
        // Pricing a column scores every priceable household (from compact records); pricing
        // a row walks the vacant units near its cut. Measured on a whole pass over the rows
        // at 100,000 units (session 4): a row costs about as much as scoring a seventh as
        // many households as there are vacant units (a column 0.9 ms, a row 0.1 ms), where
        // session 3 measured a half on the rows of storms; a quarter is used. Price every
        // row instead when the columns would cost more than the rows not priced anyway.
        if !cols.is_empty() {
            let n_price = compact.recs().len();
            if cols.len() * n_price > n_price.saturating_sub(rows.len()) * pricer.walk {
                everything = true;
            }
        }
        pricer.refresh_priced(&mut inc.warm, &inc.col_key, by_price, &mut regroup);
        let mut found = false;
        if everything {
            let priceable: Vec<usize> = compact.recs().iter().map(|c| c.h as usize).collect();
            inc.last_priced.0 += priceable.len();
            inc.last_priced.2 = true;
            found |= pricer.add_violated_rows(inc, by_price, &priceable);
        } else {
            inc.last_priced.0 += rows.len();
            inc.last_priced.1 += cols.len();
            found |= pricer.add_violated_rows(inc, by_price, &rows);
            if !cols.is_empty() {
                found |= pricer.add_violated_cols(inc, &cols, compact.recs());
            }
        }
        everything = false;
        if !found {
            break;
        }
    }
    inc.warm.take_changed();
    inc.compact = compact;
    inc.valid = true;
    Ok(())
}
