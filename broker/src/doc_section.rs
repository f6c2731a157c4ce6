//! Sections of the documentation that are generated from the code (the
//! configuration reference, the metrics list), so that a setting or metric
//! added without documentation fails a test instead of going unnoticed.
//!
//! A section sits between `<!-- NAME:begin (generated from SOURCE) -->` and
//! `<!-- NAME:end -->`; the text around it is written by hand.

/// Fails when the section `name` of `file` (relative to the workspace root)
/// differs from `content`; with `KARST_BLESS=1` rewrites it instead.
pub(crate) fn check(file: &str, name: &str, source: &str, content: &str) {
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
         rewrite it with `KARST_BLESS=1 cargo test -p karst-broker --lib {name}`"
    );
}

/// Escapes `|` so that a value stays in its Markdown table cell.
pub(crate) fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}
