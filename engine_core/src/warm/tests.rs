use super::*;

/// The kept certificate equals one computed from scratch after every kind of change.
#[test]
fn incremental_certificate_equals_full() {
    let mut x: u64 = 7;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut w = Warm::new();
    let (n_rows, n_cols) = (30u32, 40u32);
    // Columns 0..n_cols are units; n_cols + r is row r's private "unmatched" column.
    for c in 0..n_cols {
        w.add_col(c, false);
    }
    let mut live = vec![false; n_rows as usize];
    let mut checked = 0;
    // Copied into over and over from states of other shapes: the copy must equal a clone.
    let mut copy = Warm::new();
    for step in 0..400 {
        if step % 37 == 0 {
            copy.copy_from(&w);
            assert_eq!(
                format!("{copy:?}"),
                format!("{:?}", w.clone()),
                "step {step}"
            );
        }
        let r = next(u64::from(n_rows)) as u32;
        let dummy = n_cols + r;
        let edges = |next: &mut dyn FnMut(u64) -> u64| {
            let mut e: Vec<Edge> = Vec::new();
            for c in 0..n_cols {
                if next(4) == 0 {
                    let w = next(50) as i64 - 10;
                    let t = next(1 << 20);
                    e.push(Edge { w, t, col: c });
                }
            }
            e.push(Edge {
                w: 0,
                t: 3,
                col: dummy,
            });
            e
        };
        match (live[r as usize], next(6)) {
            (false, _) => {
                w.add_col(dummy, true);
                w.add_row(r);
                w.set_row(r, edges(&mut next));
                live[r as usize] = true;
            }
            (true, 0) => {
                w.remove_row(r);
                w.remove_col(dummy);
                live[r as usize] = false;
            }
            (true, 1) => w.set_row(r, edges(&mut next)),
            (true, 2) => {
                let c = next(u64::from(n_cols)) as u32;
                let e = (next(2) == 0).then(|| (next(50) as i64, next(1 << 20)));
                w.set_edge(r, c, e);
                w.repair_col(c);
            }
            (true, 3) => w.shift_row(r, next(7) as i64 - 3, Some(dummy)),
            (true, 4) => {
                let c = next(u64::from(n_cols)) as u32;
                let e = Edge {
                    w: next(60) as i64,
                    t: next(1 << 20),
                    col: c,
                };
                w.add_row_edges(r, &[e]);
                let lowest = e.cost() - w.u(r);
                if lowest < w.v(c) {
                    w.lower_col(c, lowest);
                }
            }
            _ => {}
        }
        if step % 3 == 0 || step == 399 {
            assert!(w.run(), "every row has its private column");
            let full = w.certify_full();
            assert!(full.is_some(), "step {step}: the solver's state is optimal");
            assert_eq!(w.certify(), full, "step {step}");
            checked += 1;
        }
    }
    // A broken column dual fails both, and passes again once repaired.
    let c = (0..n_cols)
        .find(|&c| w.row4col[c as usize] != NONE && !w.cols[c as usize].is_empty())
        .expect("a matched column");
    let good = w.certify();
    w.v[c as usize] += 1;
    w.mark_col(c);
    assert_eq!(w.certify_full(), None);
    assert_eq!(w.certify(), None);
    assert_eq!(w.certify(), None, "a failed column is checked again");
    w.v[c as usize] -= 1;
    w.mark_row(w.row4col[c as usize]);
    assert_eq!(w.certify(), good);
    // A fall cannot break feasibility, but it loosens the matched edge.
    w.v[c as usize] -= 1;
    w.mark_col(c);
    assert_eq!(w.certify_full(), None);
    assert_eq!(w.certify(), None);
    w.v[c as usize] += 1;
    assert_eq!(w.certify(), good);
    // A broken row dual must fail both.
    let r = (0..n_rows).find(|&r| live[r as usize]).expect("a live row");
    w.u[r as usize] += 1;
    w.mark_row(r);
    assert_eq!(w.certify_full(), None);
    assert_eq!(w.certify(), None);
    assert!(checked > 100);
}

/// The points an unmatched row lacks, from the duals, equal what a re-solve with that many
/// more points on its pairs does: housed with them, not with one fewer, in the unit found.
#[test]
fn cheapest_move_matches_a_re_solve() {
    let mut x: u64 = 11;
    let mut next = |n: u64| {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (x >> 33) % n
    };
    let mut checked = 0;
    for _ in 0..60 {
        let (n_rows, n_cols) = (12 + next(20) as u32, 5 + next(15) as u32);
        let mut w = Warm::new();
        let mut rows = Vec::new();
        for c in 0..n_cols {
            w.add_col(c, false);
        }
        for r in 0..n_rows {
            let dummy = n_cols + r;
            let mut e: Vec<Edge> = Vec::new();
            for c in 0..n_cols {
                if next(3) == 0 {
                    let w = next(40) as i64 - 5;
                    e.push(Edge {
                        w,
                        t: next(1 << 40),
                        col: c,
                    });
                }
            }
            e.push(Edge {
                w: 0,
                t: next(1 << 40),
                col: dummy,
            });
            w.add_col(dummy, true);
            w.add_row(r);
            w.set_row(r, e.clone());
            rows.push(e);
        }
        assert!(w.run());
        for r in 0..n_rows {
            let dummy = n_cols + r;
            if w.col_of(r) != dummy {
                continue;
            }
            let first: Vec<Edge> = rows[r as usize]
                .iter()
                .copied()
                .filter(|e| e.col != dummy)
                .collect();
            let mut edges_of = |i: u32, out: &mut Vec<Edge>| out.extend(&rows[i as usize]);
            let found = w.cheapest_move(r, &first, &mut edges_of).unwrap();
            let with = |delta: i64| {
                let mut v = w.clone();
                let shifted = rows[r as usize]
                    .iter()
                    .map(|e| Edge {
                        w: if e.col == dummy { e.w } else { e.w + delta },
                        ..*e
                    })
                    .collect();
                v.set_row(r, shifted);
                assert!(v.run());
                v.col_of(r)
            };
            match found {
                None => assert_eq!(with(1_000), dummy, "no path, yet housed"),
                Some(m) => {
                    assert!(m.loss > 0);
                    let need = (m.loss.div_euclid(1i128 << 64) + 1) as i64;
                    assert_eq!(with(need), m.path[0].1, "row {r}, {need} more points");
                    assert_eq!(with(need - 1), dummy, "row {r}, {} points", need - 1);
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 50, "only {checked} unmatched rows checked");
}

#[test]
fn lottery_keys_are_the_published_numbers() {
    // docs/policy.md: lottery_number("seed", "H1") = 28,541 (top 16 bits of SHA-256)
    let row = RowKey::of(Some("seed"), "H1");
    assert!(row.lottery);
    assert_eq!(row.key >> (64 - LOTTERY_BITS), 28_541);
    // staying unmatched earns no tie; every unit earns the number above the pair's bits
    assert_eq!(tie(row, UNMATCHED_KEY), 0);
    for id in ["U1", "U2", "flat-9"] {
        let t = tie(row, hash_str(id));
        assert_eq!(t >> (TIE_BITS - LOTTERY_BITS), 28_541);
        assert!(t < 1 << TIE_BITS);
    }
    // v1's rule is untouched: a hash of both keys
    let v1 = RowKey::of(None, "H1");
    assert!(!v1.lottery);
    assert_eq!(v1.key, hash_str("H1"));
    let col = hash_str("U1");
    assert_eq!(
        tie(v1, col),
        mix(v1.key.wrapping_mul(0x2545_f491_4f6c_dd1d) ^ col) >> (64 - TIE_BITS)
    );
}
