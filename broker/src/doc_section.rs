//! Sections of the documentation that are generated from the code (the
//! configuration reference, the metrics list), so that a setting or metric
//! added without documentation fails a test instead of going unnoticed.
//!
//! A section sits between `<!-- NAME:begin (generated from SOURCE) -->` and
//! `<!-- NAME:end -->`; the text around it is written by hand. Public for
//! the operator's tests, which document the operator's metrics the same way.

/// Fails when the section `name` of `file` (relative to the workspace root)
/// differs from `content`; with `KARST_BLESS=1` rewrites it instead.
/// `rerun` is the test command that regenerates it, for the message.
pub fn check(file: &str, name: &str, source: &str, content: &str, rerun: &str) {
    let path = format!("{}/../{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {file}: {e}"));
    let begin = format!("<!-- {name}:begin (generated from {source}) -->\n");
    let end = format!("<!-- {name}:end -->");
    let start = text
        .find(&begin)
        .unwrap_or_else(|| panic!("{file} has no `{}` marker", begin.trim_end()))
        + begin.len();
    let stop = text[start..]
        .find(&end)
        .unwrap_or_else(|| panic!("{file} has no `{end}` marker"))
        + start;
    if std::env::var_os("KARST_BLESS").is_some() {
        let updated = format!("{}{content}{}", &text[..start], &text[stop..]);
        std::fs::write(&path, updated).unwrap_or_else(|e| panic!("write {file}: {e}"));
        return;
    }
    assert!(
        text[start..stop] == *content,
        "{file}: section `{name}` is stale (generated from {source}); \
         rewrite it with `KARST_BLESS=1 {rerun}`"
    );
}

/// Escapes `|` so that a value stays in its Markdown table cell.
pub fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

/// A Markdown table of Prometheus collectors: name, type, labels, help.
pub fn metrics_table(collectors: &[Box<dyn prometheus::core::Collector>]) -> String {
    let mut out = String::from("| metric | type | labels | meaning |\n|---|---|---|---|\n");
    for collector in collectors {
        let labels: Vec<String> = collector
            .desc()
            .iter()
            .flat_map(|d| d.variable_labels.iter().map(|l| format!("`{l}`")))
            .collect();
        for family in collector.collect() {
            let kind = format!("{:?}", family.get_field_type()).to_ascii_lowercase();
            out.push_str(&format!(
                "| `{}` | {kind} | {} | {} |\n",
                family.name(),
                if labels.is_empty() {
                    "—".to_owned()
                } else {
                    labels.join(", ")
                },
                cell(family.help())
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// GitHub's anchor for a heading: lower case, spaces as `-`, other
    /// punctuation dropped.
    fn anchor(heading: &str) -> String {
        heading
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect()
    }

    /// The targets of the Markdown links `[text](target)` in `text`.
    fn link_targets(text: &str) -> Vec<&str> {
        text.match_indices("](")
            .filter_map(|(at, _)| {
                let rest = &text[at + 2..];
                rest.find(')').map(|end| &rest[..end])
            })
            .collect()
    }

    /// Every relative link of the README and docs/ names a file that
    /// exists, and every `#anchor` a heading of the file it points into.
    #[test]
    fn readme_and_docs_links_resolve() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
        let mut files = vec!["README.md".to_owned()];
        for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
            let name = entry.expect("docs/ entry").file_name();
            files.push(format!("docs/{}", name.to_string_lossy()));
        }
        let mut broken = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(root.join(file)).expect("readable");
            let dir = std::path::Path::new(file)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            for target in link_targets(&text) {
                if target.starts_with("http://") || target.starts_with("https://") {
                    continue;
                }
                let (path, fragment) = target.split_once('#').unwrap_or((target, ""));
                let linked = if path.is_empty() {
                    root.join(file)
                } else {
                    root.join(dir).join(path)
                };
                if !linked.exists() {
                    broken.push(format!("{file}: {target} (no such file)"));
                    continue;
                }
                if fragment.is_empty() || linked.is_dir() {
                    continue;
                }
                let headings: BTreeSet<String> = std::fs::read_to_string(&linked)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.strip_prefix('#'))
                    .map(|l| anchor(l.trim_start_matches('#').trim()))
                    .collect();
                if !headings.contains(fragment) {
                    broken.push(format!("{file}: {target} (no such heading)"));
                }
            }
        }
        assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    }

    #[test]
    fn anchors_follow_github() {
        assert_eq!(
            anchor("For developers: the Kafka tutorial, without the install"),
            "for-developers-the-kafka-tutorial-without-the-install"
        );
        assert_eq!(
            anchor("W9: many clients, small requests (issue 17)"),
            "w9-many-clients-small-requests-issue-17"
        );
    }
}
