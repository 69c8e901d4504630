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
    for step in 0..400 {
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
