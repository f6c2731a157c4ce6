//! Reads the operator's source as code only: comments, string and char
//! literals blanked, unit-test modules cut off, so that a word in a doc
//! comment or an error message never counts as an API call or a kind.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

/// The code of every `.rs` file under `dir`, by path relative to `dir`
/// (`cluster/reconcile.rs`), with everything but code blanked.
pub(crate) fn code_files(dir: &Path) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    let mut pending: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).expect("read operator/src") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source file");
                let rel = path.strip_prefix(dir).expect("under dir");
                let rel = rel.to_string_lossy().replace('\\', "/");
                files.insert(rel, without_unit_tests(&blank_non_code(&text)).to_owned());
            }
        }
    }
    files
}

/// Unit tests sit at the end of a file behind `#[cfg(test)]`; they build
/// objects but make no API calls.
fn without_unit_tests(code: &str) -> &str {
    code.find("#[cfg(test)]").map_or(code, |at| &code[..at])
}

/// Replaces comments and string/char literals with spaces (newlines kept).
fn blank_non_code(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    let blank = |out: &mut String, c: char| out.push(if c == '\n' { '\n' } else { ' ' });
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 1;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
        } else if c == 'r' && matches!(next, Some('"' | '#')) && !ident_before(&chars, i) {
            // Raw string: r"..." or r#"..."#.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            i += 2 + hashes;
            while i < chars.len() {
                if chars[i] == '"' && chars[i + 1..].iter().take(hashes).all(|&h| h == '#') {
                    i += 1 + hashes;
                    break;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
            out.push_str("\"\"");
        } else if c == '"' {
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    blank(&mut out, chars[i]);
                    i += 1;
                }
                blank(&mut out, chars[i]);
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' && (next == Some('\\') || chars.get(i + 2) == Some(&'\'')) {
            // A char literal ('x', '\n', '\''); a lifetime ('a) is code.
            i += if next == Some('\\') { 2 } else { 1 };
            while i < chars.len() && chars[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// How often `pattern` occurs in `code`. A pattern starting with a letter
/// must not be the tail of a longer identifier (`watcher(` is not
/// `metadata_watcher(`).
pub(crate) fn occurrences(code: &str, pattern: &str) -> usize {
    let starts_ident = pattern.starts_with(|c: char| c.is_alphanumeric() || c == '_');
    code.match_indices(pattern)
        .filter(|(at, _)| {
            !starts_ident
                || !code[..*at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
        })
        .count()
}

/// Every identifier in `code`.
pub(crate) fn identifiers(code: &str) -> impl Iterator<Item = &str> {
    code.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with(|c: char| c.is_alphabetic()))
}

#[test]
fn comments_and_literals_are_not_code() {
    let src = "let a = \"Api<Secret> .delete(\"; // .delete(\n/* Job */ let b = r#\"x\"y\"#; let c = '\"'; fn f<'a>() {}\n.list(";
    let code = blank_non_code(src);
    assert_eq!(occurrences(&code, ".delete("), 0, "{code}");
    assert_eq!(occurrences(&code, ".list("), 1, "{code}");
    assert!(!identifiers(&code).any(|w| w == "Secret" || w == "Job" || w == "y"));
    assert!(identifiers(&code).any(|w| w == "f"));
    assert_eq!(occurrences("metadata_watcher( watcher(", "watcher("), 1);
}
