//! YAML output in kustomize's style (block style, two-space indent, compact sequences).

use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

/// Writes a stream of objects as kustomize does: documents separated by `---`.
pub fn to_yaml_stream<'a>(objects: impl IntoIterator<Item = &'a Value>) -> String {
    let mut out = String::new();
    for (i, obj) in objects.into_iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&to_yaml(obj));
    }
    out
}

/// Writes one value as a YAML document (without a `---` line).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Array(a) if !a.is_empty() => write_seq(&mut out, a, 0),
        other => {
            write_scalar(&mut out, other, 0);
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    for _ in 0..n {
        out.push(' ');
    }
}

/// Entries sorted by key, as kustomize's JSON-to-YAML conversion (go-yaml v2) prints them.
fn sorted(m: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = m.iter().collect();
    v.sort_by(|a, b| key_order(a.0, b.0));
    v
}

/// go-yaml v2's key order: non-letters before letters, digit runs compared as numbers,
/// otherwise by code point.
pub fn key_order(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let ar: Vec<char> = a.chars().collect();
    let br: Vec<char> = b.chars().collect();
    let less = |x: bool| if x { Ordering::Less } else { Ordering::Greater };
    for i in 0..ar.len().min(br.len()) {
        if ar[i] == br[i] {
            continue;
        }
        let al = ar[i].is_alphabetic();
        let bl = br[i].is_alphabetic();
        if al && bl {
            return ar[i].cmp(&br[i]);
        }
        if al || bl {
            return less(bl);
        }
        let (mut an, mut bn): (u128, u128) = (0, 0);
        if ar[i] == '0' || br[i] == '0' {
            let mut j = i;
            while j > 0 && ar[j - 1].is_ascii_digit() {
                j -= 1;
                if ar[j] != '0' {
                    an = 1;
                    bn = 1;
                    break;
                }
            }
        }
        let mut ai = i;
        while ai < ar.len() && ar[ai].is_ascii_digit() {
            an = an
                .saturating_mul(10)
                .saturating_add(u128::from(ar[ai] as u32 - '0' as u32));
            ai += 1;
        }
        let mut bi = i;
        while bi < br.len() && br[bi].is_ascii_digit() {
            bn = bn
                .saturating_mul(10)
                .saturating_add(u128::from(br[bi] as u32 - '0' as u32));
            bi += 1;
        }
        if an != bn {
            return an.cmp(&bn);
        }
        if ai != bi {
            return ai.cmp(&bi);
        }
        return ar[i].cmp(&br[i]);
    }
    ar.len().cmp(&br.len())
}

fn write_map(out: &mut String, m: &serde_json::Map<String, Value>, ind: usize) {
    for (k, v) in sorted(m) {
        indent(out, ind);
        out.push_str(&quote_str(k, false));
        out.push(':');
        write_value_after_key(out, v, ind);
    }
}

fn write_value_after_key(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, ind + 2);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, ind);
        }
        other => {
            out.push(' ');
            write_scalar(out, other, ind + 2);
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], ind: usize) {
    for v in a {
        indent(out, ind);
        out.push('-');
        match v {
            Value::Object(m) if !m.is_empty() => {
                // First key on the dash line, the rest aligned under it.
                let mut first = true;
                for (k, val) in sorted(m) {
                    if first {
                        out.push(' ');
                        first = false;
                    } else {
                        indent(out, ind + 2);
                    }
                    out.push_str(&quote_str(k, false));
                    out.push(':');
                    write_value_after_key(out, val, ind + 2);
                }
            }
            Value::Array(inner) if !inner.is_empty() => {
                out.push('\n');
                write_seq(out, inner, ind + 2);
            }
            other => {
                out.push(' ');
                write_scalar(out, other, ind + 2);
                out.push('\n');
            }
        }
    }
}

/// The emitter's preferred line width: longer scalars are folded at spaces, as go-yaml does.
const BEST_WIDTH: usize = 80;

/// The current column (characters since the last newline).
fn column(out: &str) -> usize {
    let line = match out.rfind('\n') {
        Some(i) => &out[i + 1..],
        None => out,
    };
    line.chars().count()
}

fn write_scalar(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => {
            if s.contains('\n') && can_literal(s) {
                out.push_str(&literal(s, ind));
            } else {
                write_folded(out, s, ind);
            }
        }
        Value::Object(_) => out.push_str("{}"),
        Value::Array(_) => out.push_str("[]"),
    }
}

/// Writes a string value in the style [`quote_str`] picks, breaking long lines at single
/// spaces once past [`BEST_WIDTH`] (continuation lines indented by `ind`).
fn write_folded(out: &mut String, s: &str, ind: usize) {
    let quoted = quote_str(s, true);
    let style = quoted.chars().next().filter(|c| *c == '\'' || *c == '"');
    let chars: Vec<char> = s.chars().collect();
    let mut col = column(out);
    let mut spaces = false;
    match style {
        None => {
            for (i, &c) in chars.iter().enumerate() {
                if c == ' ' {
                    if !spaces && col > BEST_WIDTH && chars.get(i + 1) != Some(&' ') {
                        out.push('\n');
                        indent(out, ind);
                        col = ind;
                    } else {
                        out.push(' ');
                        col += 1;
                    }
                    spaces = true;
                } else {
                    out.push(c);
                    col += 1;
                    spaces = false;
                }
            }
        }
        Some('\'') => {
            out.push('\'');
            col += 1;
            for (i, &c) in chars.iter().enumerate() {
                if c == ' ' {
                    let inner = i > 0 && i + 1 < chars.len();
                    if !spaces && col > BEST_WIDTH && inner && chars.get(i + 1) != Some(&' ') {
                        out.push('\n');
                        indent(out, ind);
                        col = ind;
                    } else {
                        out.push(' ');
                        col += 1;
                    }
                    spaces = true;
                } else {
                    if c == '\'' {
                        out.push_str("''");
                        col += 2;
                    } else {
                        out.push(c);
                        col += 1;
                    }
                    spaces = false;
                }
            }
            out.push('\'');
        }
        Some(_) => {
            out.push('"');
            col += 1;
            for (i, &c) in chars.iter().enumerate() {
                if let Some(esc) = escape(c) {
                    col += esc.chars().count();
                    out.push_str(&esc);
                    spaces = false;
                } else if c == ' ' {
                    let inner = i > 0 && i + 1 < chars.len();
                    if !spaces && col > BEST_WIDTH && inner {
                        out.push('\n');
                        indent(out, ind);
                        col = ind;
                        if chars.get(i + 1) == Some(&' ') {
                            out.push('\\');
                            col += 1;
                        }
                    } else {
                        out.push(' ');
                        col += 1;
                    }
                    spaces = true;
                } else {
                    out.push(c);
                    col += 1;
                    spaces = false;
                }
            }
            out.push('"');
        }
    }
}

/// The double-quoted escape for `c`, if it needs one.
fn escape(c: char) -> Option<String> {
    Some(match c {
        '"' => "\\\"".to_string(),
        '\\' => "\\\\".to_string(),
        '\n' => "\\n".to_string(),
        '\t' => "\\t".to_string(),
        '\r' => "\\r".to_string(),
        '\0' => "\\0".to_string(),
        c if c.is_control() || c == '\u{feff}' || c == '\u{2028}' || c == '\u{2029}' => {
            let mut s = String::new();
            let _ = write!(s, "\\u{:04X}", c as u32);
            s
        }
        _ => return None,
    })
}

fn can_literal(s: &str) -> bool {
    !s.chars()
        .any(|c| (c.is_control() && c != '\n') || c == '\u{feff}')
        && !s.contains(" \n")
        && !s.ends_with(' ')
}

fn literal(s: &str, ind: usize) -> String {
    let chomp = if s.ends_with("\n\n") {
        "+"
    } else if s.ends_with('\n') {
        ""
    } else {
        "-"
    };
    // A leading space or newline needs an explicit indentation indicator.
    let hint = if s.starts_with(' ') || s.starts_with('\n') {
        "2"
    } else {
        ""
    };
    let mut out = format!("|{hint}{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            for _ in 0..ind {
                out.push(' ');
            }
            out.push_str(line);
        }
    }
    out
}

static NUMBER_LIKE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9][0-9_]*(?:\.[0-9_]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?0[xX][0-9a-fA-F_]+|[-+]?0[oO]?[0-7_]+|[-+]?0[bB][01_]+|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt ].*)?)$",
    )
    .unwrap_or_else(|_| unreachable!("static regex"))
});

fn is_reserved_word(s: &str) -> bool {
    matches!(
        s,
        "" | "~"
            | "null"
            | "Null"
            | "NULL"
            | "y"
            | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "true"
            | "True"
            | "TRUE"
            | "false"
            | "False"
            | "FALSE"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
            | "<<"
            | "="
    )
}

fn plain_ok(s: &str) -> bool {
    if is_reserved_word(s) || NUMBER_LIKE.is_match(s) {
        return false;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) {
        let second = s.chars().nth(1);
        let indicator_ok = matches!(first, '-' | '?' | ':') && second.is_some_and(|c| c != ' ');
        if !indicator_ok || s == "-" {
            return false;
        }
    }
    if s.starts_with(' ') || s.ends_with(' ') || s.ends_with(':') {
        return false;
    }
    if s.contains(": ") || s.contains(" #") || s.contains(":\t") {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    !s.chars().any(|c| {
        c.is_control() || c == '\u{feff}' || c == '\u{85}' || c == '\u{2028}' || c == '\u{2029}'
    })
}

/// Quotes a string scalar only when YAML would otherwise read it differently.
fn quote_str(s: &str, _value: bool) -> String {
    if plain_ok(s) {
        return s.to_string();
    }
    let ambiguous = is_reserved_word(s) || NUMBER_LIKE.is_match(s);
    if !ambiguous && !s.chars().any(|c| c.is_control()) && !s.contains('\u{feff}') {
        return format!("'{}'", s.replace('\'', "''"));
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match escape(c) {
            Some(e) => out.push_str(&e),
            None => out.push(c),
        }
    }
    out.push('"');
    out
}
