//! Durations as policy files write them: a whole number and one unit, `90d`.

use chrono::TimeDelta;

pub fn parse(text: &str) -> Result<TimeDelta, String> {
    let unit_at = text.len().saturating_sub(1);
    let (digits, unit) = (text.get(..unit_at).unwrap_or(""), text.get(unit_at..).unwrap_or(""));
    let amount: i64 = digits
        .parse()
        .ok()
        .filter(|_| digits.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| invalid(text))?;
    let seconds_per_unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        _ => return Err(invalid(text)),
    };
    // Ten years is far past any sensible key age or grace period and keeps
    // every later date calculation well inside chrono's range.
    const TEN_YEARS: i64 = 3_650 * 86_400;
    match amount.checked_mul(seconds_per_unit) {
        Some(0) => Err(format!("duration `{text}` must be greater than zero")),
        Some(seconds) if seconds <= TEN_YEARS => Ok(TimeDelta::seconds(seconds)),
        _ => Err(format!("duration `{text}` is longer than the 3650d allowed")),
    }
}

fn invalid(text: &str) -> String {
    format!("invalid duration `{text}`: write a whole number and one unit of s, m, h or d, like `90d` or `24h`")
}

/// The shortest exact spelling, so plan output reads like the policy file.
pub fn display(duration: TimeDelta) -> String {
    let seconds = duration.num_seconds();
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if seconds != 0 && seconds % size == 0 {
            return format!("{}{unit}", seconds / size);
        }
    }
    format!("{seconds}s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_unit() {
        assert_eq!(parse("90d"), Ok(TimeDelta::days(90)));
        assert_eq!(parse("24h"), Ok(TimeDelta::hours(24)));
        assert_eq!(parse("30m"), Ok(TimeDelta::minutes(30)));
        assert_eq!(parse("45s"), Ok(TimeDelta::seconds(45)));
    }

    #[test]
    fn rejects_malformed_zero_and_huge() {
        for bad in ["", "d", "90", "90 d", "-5d", "+5d", "1.5d", "5w", "9x", "1d2h", "é"] {
            assert!(parse(bad).unwrap_err().contains("invalid duration"), "{bad}");
        }
        assert!(parse("0d").unwrap_err().contains("greater than zero"));
        assert!(parse("3651d").unwrap_err().contains("longer than"));
        assert!(parse("99999999999999999d").unwrap_err().contains("longer than"));
    }

    #[test]
    fn displays_in_largest_exact_unit() {
        assert_eq!(display(TimeDelta::days(90)), "90d");
        assert_eq!(display(TimeDelta::hours(36)), "36h");
        assert_eq!(display(TimeDelta::seconds(61)), "61s");
    }
}
