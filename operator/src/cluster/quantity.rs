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
}
