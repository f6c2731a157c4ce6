//! Java `.properties` syntax, as Kafka's `server.properties` uses it.
//!
//! The rules are those of `java.util.Properties.load`: a logical line may
//! span several natural lines, each ending in an odd number of backslashes;
//! lines whose first non-blank character is `#` or `!` are comments; the key
//! ends at the first unescaped `=`, `:` or whitespace, and a separator made
//! of whitespace may still be followed by one `=` or `:`. Escapes (`\t`,
//! `\n`, `\uXXXX`, `\=`, `\:`, `\ `, `\\`) are decoded in keys and values.

/// Parses `.properties` text into `(key, value)` pairs, in file order. Later
/// pairs with the same key are kept; the caller lets the last one win.
pub(crate) fn parse(text: &str) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    let mut logical = String::new();
    let mut continuing = false;
    for line in text.lines() {
        let trimmed = line.trim_start_matches([' ', '\t', '\x0c']);
        if !continuing
            && (trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!'))
        {
            continue;
        }
        let trailing = trimmed.len() - trimmed.trim_end_matches('\\').len();
        continuing = trailing % 2 == 1;
        logical.push_str(if continuing {
            &trimmed[..trimmed.len() - 1]
        } else {
            trimmed
        });
        if !continuing {
            pairs.push(split_entry(&std::mem::take(&mut logical)));
        }
    }
    if !logical.is_empty() {
        // The file ended in the middle of a continued line.
        pairs.push(split_entry(&logical));
    }
    pairs
}

/// Splits one logical line into its unescaped key and value.
fn split_entry(entry: &str) -> (String, String) {
    let bytes = entry.as_bytes();
    let mut key_end = bytes.len();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | b'\x0c' => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    let key = &entry[..key_end.min(entry.len())];
    let mut rest = entry.get(key_end..).unwrap_or_default();
    rest = rest.trim_start_matches([' ', '\t', '\x0c']);
    if let Some(r) = rest.strip_prefix(['=', ':']) {
        rest = r.trim_start_matches([' ', '\t', '\x0c']);
    }
    // Kafka trims values when it parses them; trailing blanks are never meant.
    (unescape(key), unescape(rest).trim_end().to_owned())
}

/// Decodes `\t`, `\n`, `\r`, `\f`, `\uXXXX`; any other escaped character
/// stands for itself.
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\x0c'),
            Some('u') => {
                let hex: String = chars.clone().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) if hex.len() == 4 => {
                        out.push(decoded);
                        chars.nth(3);
                    }
                    _ => out.push('u'),
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn comments_separators_and_continuations() {
        let text = "# comment\n! also\n\nnode.id=3\nlisteners : PLAINTEXT://:9092\nlog.dirs /a,\\\n   /b\nempty=\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("node.id", "3"),
                ("listeners", "PLAINTEXT://:9092"),
                ("log.dirs", "/a,/b"),
                ("empty", ""),
            ])
        );
    }

    #[test]
    fn whitespace_separator_keeps_colons_and_equals_in_the_value() {
        let text =
            "advertised.listeners PLAINTEXT://kafka-0:9092\n  log.dirs  =  /data/a:b  \nk:v=w\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("advertised.listeners", "PLAINTEXT://kafka-0:9092"),
                ("log.dirs", "/data/a:b"),
                ("k", "v=w"),
            ])
        );
    }

    #[test]
    fn escapes_are_decoded_and_even_backslashes_do_not_continue() {
        let text = "a\\=b=c\\td\nkey\\ with\\ space = \\u00e9t\\u00E9\npath=C:\\\\\nnext=1\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("a=b", "c\td"),
                ("key with space", "été"),
                ("path", "C:\\"),
                ("next", "1"),
            ])
        );
    }

    #[test]
    fn a_comment_marker_inside_a_continuation_is_part_of_the_value() {
        let text = "listeners=PLAINTEXT://:9092,\\\n  # not a comment\nlast=\\\n";
        assert_eq!(
            parse(text),
            pairs(&[
                ("listeners", "PLAINTEXT://:9092,# not a comment"),
                ("last", "")
            ])
        );
    }
}
