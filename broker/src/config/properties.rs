//! Java `.properties` syntax, as Kafka's `server.properties` uses it.

/// Parses `.properties` text into `(key, value)` pairs, in order. Handles `#`
/// and `!` comments, `=` / `:` / whitespace separators, and lines continued
/// with a trailing backslash. Escapes other than line continuation are kept
/// as written (Kafka configs do not use them).
pub(crate) fn parse(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut logical = String::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if logical.is_empty()
            && (trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!'))
        {
            continue;
        }
        let continued = trimmed.ends_with('\\') && !trimmed.ends_with("\\\\");
        logical.push_str(if continued {
            &trimmed[..trimmed.len() - 1]
        } else {
            trimmed
        });
        if continued {
            continue;
        }
        let entry = std::mem::take(&mut logical);
        let split = entry
            .find(['=', ':'])
            .or_else(|| entry.find(char::is_whitespace));
        let (key, value) = match split {
            Some(i) => (&entry[..i], &entry[i + 1..]),
            None => (entry.as_str(), ""),
        };
        pairs.push((key.trim().to_owned(), value.trim().to_owned()));
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn comments_separators_and_continuations() {
        let text = "# comment\n! also\n\nnode.id=3\nlisteners : PLAINTEXT://:9092\nlog.dirs /a,\\\n   /b\nempty=\n";
        assert_eq!(
            parse(text),
            vec![
                ("node.id".into(), "3".into()),
                ("listeners".into(), "PLAINTEXT://:9092".into()),
                ("log.dirs".into(), "/a,/b".into()),
                ("empty".into(), String::new()),
            ]
        );
    }
}
