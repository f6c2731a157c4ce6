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
