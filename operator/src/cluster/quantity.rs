//! Kubernetes quantities (`500m`, `512Mi`, `10Gi`, `1e3`), checked before
//! they reach an object: the API server refuses a StatefulSet carrying a
//! malformed one ("quantities must match the regular expression"), which
//! would leave the cluster half-applied.

/// Binary (`Ki` ...) and decimal (`n` ... `E`) suffixes Kubernetes accepts.
const SUFFIXES: &[&str] = &[
    "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G", "T", "P", "E",
];

/// Whether `s` parses as a Kubernetes quantity: an optionally signed decimal
/// number followed by nothing, one suffix, or a decimal exponent (`e3`, `E-2`).
pub fn is_quantity(s: &str) -> bool {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let number_ok = number.chars().any(|c| c.is_ascii_digit())
        && number.chars().filter(|c| *c == '.').count() <= 1;
    number_ok && (suffix.is_empty() || SUFFIXES.contains(&suffix) || is_exponent(suffix))
}

/// The value of a quantity in base units (bytes for storage), for
/// comparisons (`20Gi` > `10Gi`); `None` when `s` is not a quantity.
pub fn value(s: &str) -> Option<f64> {
    if !is_quantity(s) {
        return None;
    }
    let end = s
        .char_indices()
        .find(|(i, c)| !(c.is_ascii_digit() || *c == '.' || (*i == 0 && matches!(c, '+' | '-'))))
        .map_or(s.len(), |(i, _)| i);
    let (number, suffix) = s.split_at(end);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        exponent => 10f64.powi(exponent[1..].parse().ok()?),
    };
    Some(number * scale)
}

fn is_exponent(suffix: &str) -> bool {
    let Some(rest) = suffix.strip_prefix(['e', 'E']) else {
        return false;
    };
    let digits = rest.strip_prefix(['+', '-']).unwrap_or(rest);
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_quantities_are_accepted_and_words_are_not() {
        for good in [
            "10Gi", "500M", "1.5Ti", "1024", "500m", "0.5", ".5", "+1", "1e3", "2E-2", "100k",
        ] {
            assert!(is_quantity(good), "{good}");
        }
        for bad in [
            "", "lots", "ten", "10GB", "Gi", "1..2", "1e", "1Ki2", "- 1", "10 Gi", "1.2.3",
        ] {
            assert!(!is_quantity(bad), "{bad}");
        }
    }

    #[test]
    fn values_compare_across_suffixes() {
        assert_eq!(value("10Gi"), Some(10.0 * 1024f64.powi(3)));
        assert_eq!(value("1e3"), value("1k"));
        assert_eq!(value("500m"), Some(0.5));
        assert!(value("20Gi") > value("10Gi"));
        assert!(value("1Ti") > value("1000Gi"));
        assert!(value("11G") > value("10Gi"));
        assert_eq!(value("lots"), None);
    }
}
