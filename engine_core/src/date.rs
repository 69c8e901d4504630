//! Civil dates as day numbers, so the core needs no date crate and no clock.

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Parses a strict ISO `YYYY-MM-DD` date into a day number.
pub fn parse_date(s: &str) -> Result<i64, String> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(format!("expected a date YYYY-MM-DD, got {s:?}"));
    }
    let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return Err(format!("expected a date YYYY-MM-DD, got {s:?}"));
    };
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return Err(format!("no such date {s:?}"));
    }
    Ok(days_from_civil(y, m, d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_day_numbers() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(parse_date("2000-03-01"), Ok(11_017));
        assert_eq!(parse_date("2021-05-01"), Ok(18_748));
        let a = parse_date("2020-02-28").unwrap();
        assert_eq!(parse_date("2020-03-01").unwrap() - a, 2); // leap year
        let b = parse_date("2021-02-28").unwrap();
        assert_eq!(parse_date("2021-03-01").unwrap() - b, 1);
        assert_eq!(
            parse_date("2000-01-01").unwrap() - parse_date("1999-12-31").unwrap(),
            1
        );
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "2021-02-29",
            "1900-02-29",
            "2021-13-01",
            "2021-00-10",
            "2021-04-31",
            "2021-4-01",
            "20210401",
            "2021-04-01T00",
            "abcd-ef-gh",
            "",
        ] {
            assert!(parse_date(s).is_err(), "{s}");
        }
        assert!(parse_date("2000-02-29").is_ok());
    }
}
