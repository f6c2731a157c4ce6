//! Formatting of figures, ratios and dates for the table and the JSON.

/// A figure with sensible precision: 2.51 M, 40716, 408, 13.4, 0.42.
pub(crate) fn fmt_value(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        "–".into()
    } else if a >= 1e6 {
        format!("{:.2} M", v / 1e6)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio: a percentage below 10x, a multiple from there (e.g. RTTs).
pub(crate) fn fmt_ratio(r: Option<f64>, as_percent: bool) -> String {
    match r {
        None => "–".into(),
        Some(r) if as_percent => format!("{:.0} %", 100.0 * r),
        Some(r) if r >= 10.0 => format!("{r:.0}x"),
        Some(r) => format!("{r:.2}x"),
    }
}

/// `secs` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn iso8601_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Days to a civil date in the proleptic Gregorian calendar, counting
    // 400-year eras from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_ratios_and_dates_format() {
        assert_eq!(fmt_value(2_512_345.0), "2.51 M");
        assert_eq!(fmt_value(40716.4), "40716");
        assert_eq!(fmt_value(13.44), "13.4");
        assert_eq!(fmt_value(0.423), "0.42");
        assert_eq!(fmt_value(f64::NAN), "–");
        assert_eq!(fmt_ratio(Some(0.174), true), "17 %");
        assert_eq!(fmt_ratio(Some(1.2), true), "120 %");
        assert_eq!(fmt_ratio(Some(1.234), false), "1.23x");
        assert_eq!(fmt_ratio(Some(412.6), false), "413x");
        assert_eq!(fmt_ratio(None, true), "–");
        assert_eq!(iso8601_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601_utc(1_795_594_515), "2026-11-25T08:15:15Z");
    }
}
