//! Time spans as systemd writes them (`timeout=90`, `30s`, `1min 30s`, `500ms`, `2h`,
//! `1.5min`, `infinity`) and booleans as systemd reads them. A bare number is seconds,
//! as in crypttab(5) and dracut's `rd.timeout=`.

use std::time::Duration;

/// Parses a time span. `infinity` (and `0`) give `Duration::ZERO`, which the option
/// documentation defines as "wait forever". The error is a reason, without a fix.
pub fn parse_timespan(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("the time span is empty".into());
    }
    if t.eq_ignore_ascii_case("infinity") {
        return Ok(Duration::ZERO);
    }
    if t.starts_with('-') {
        return Err(format!("{} is negative", crate::spec::show(s)));
    }
    let bad = || {
        format!(
            "{} is not a time span (seconds, or e.g. 30s, 5min, 1h)",
            crate::spec::show(s)
        )
    };
    let mut nanos: u128 = 0;
    let mut rest = t;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num.matches('.').count() > 1 || num == "." {
            return Err(bad());
        }
        let after = after.trim_start();
        let unit_len = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per = unit_nanos(unit).ok_or_else(bad)?;
        nanos = nanos
            .checked_add(scale(num, per).ok_or_else(bad)?)
            .ok_or_else(bad)?;
        rest = after.trim_start();
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| bad())?;
    // The remainder is below 10^9.
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

fn unit_nanos(unit: &str) -> Option<u128> {
    const S: u128 = 1_000_000_000;
    Some(match unit {
        "" | "s" | "sec" | "secs" | "second" | "seconds" => S,
        "us" | "usec" | "µs" | "μs" => 1_000,
        "ms" | "msec" => 1_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * S,
        "h" | "hr" | "hour" | "hours" => 3600 * S,
        "d" | "day" | "days" => 86_400 * S,
        "w" | "week" | "weeks" => 7 * 86_400 * S,
        "M" | "month" | "months" => 2_629_800 * S,
        "y" | "year" | "years" => 31_557_600 * S,
        _ => return None,
    })
}

/// `num` (digits with at most one dot) times `per` nanoseconds.
fn scale(num: &str, per: u128) -> Option<u128> {
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if int.len() > 20 {
        return None;
    }
    let int: u128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let mut total = int.checked_mul(per)?;
    let mut div = per;
    for d in frac.chars().take(18) {
        div /= 10;
        total = total.checked_add(u128::from(d.to_digit(10)?) * div)?;
    }
    Some(total)
}

/// A boolean as systemd's `parse_boolean()` reads it: 1/yes/y/true/t/on and
/// 0/no/n/false/f/off, any case.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Some(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans() {
        let s = Duration::from_secs;
        assert_eq!(parse_timespan("90"), Ok(s(90)));
        assert_eq!(parse_timespan(" 90 "), Ok(s(90)));
        assert_eq!(parse_timespan("0"), Ok(Duration::ZERO));
        assert_eq!(parse_timespan("infinity"), Ok(Duration::ZERO));
        assert_eq!(parse_timespan("30s"), Ok(s(30)));
        assert_eq!(parse_timespan("5min"), Ok(s(300)));
        assert_eq!(parse_timespan("1min 30s"), Ok(s(90)));
        assert_eq!(parse_timespan("1min30"), Ok(s(90)));
        assert_eq!(parse_timespan("2h"), Ok(s(7200)));
        assert_eq!(parse_timespan("1.5min"), Ok(s(90)));
        assert_eq!(parse_timespan("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timespan(".5s"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_timespan("1d"), Ok(s(86_400)));
    }

    #[test]
    fn bad_spans() {
        for bad in [
            "",
            " ",
            "-1",
            "-5s",
            "abc",
            "5 parsecs",
            "1..2",
            ".",
            "1.2.3",
            "s",
            "5x",
            "99999999999999999999999999",
            "9999999999999y",
            "１０",
        ] {
            assert!(parse_timespan(bad).is_err(), "{bad:?}");
        }
        assert!(parse_timespan("-1").unwrap_err().contains("negative"));
    }

    #[test]
    fn booleans() {
        for t in ["1", "yes", "Y", "true", "t", "on", "ON"] {
            assert_eq!(parse_bool(t), Some(true), "{t}");
        }
        for f in ["0", "no", "n", "False", "f", "off"] {
            assert_eq!(parse_bool(f), Some(false), "{f}");
        }
        for x in ["", "2", "yess", "enable"] {
            assert_eq!(parse_bool(x), None, "{x}");
        }
    }
}
