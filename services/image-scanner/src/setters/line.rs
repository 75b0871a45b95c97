//! Finding a marked scalar on one line, re-quoting its replacement, and telling which YAML
//! document (and object) a line belongs to.

use serde::Deserialize;

use super::{MARKER_KEY, ObjectId, SetterError};

/// How the marked scalar is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted.
    Plain,
    /// `'single quoted'`.
    Single,
    /// `"double quoted"`.
    Double,
}

/// A scalar on a line that carries a setter marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkedValue {
    /// The marker value, e.g. `flux-system:app:tag`.
    pub marker: String,
    /// The scalar's value (unquoted).
    pub value: String,
    /// Byte range of the scalar as written (quotes included) within the line.
    pub span: std::ops::Range<usize>,
    /// How it is quoted.
    pub style: Style,
}

impl MarkedValue {
    /// `line` with the scalar replaced by `new_value`, quoted as before (a plain scalar that
    /// would change meaning unquoted is double-quoted).
    pub fn replace(&self, line: &str, new_value: &str) -> String {
        let quoted = match self.style {
            Style::Single => format!("'{}'", new_value.replace('\'', "''")),
            Style::Double => double_quoted(new_value),
            Style::Plain if is_safe_plain(new_value) => new_value.to_owned(),
            Style::Plain => double_quoted(new_value),
        };
        let mut out = String::with_capacity(line.len() + new_value.len());
        out.push_str(&line[..self.span.start]);
        out.push_str(&quoted);
        out.push_str(&line[self.span.end..]);
        out
    }
}

fn double_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn is_safe_plain(value: &str) -> bool {
    !value.is_empty()
        && !value.starts_with([
            '-', '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%',
            '@', '`', ' ',
        ])
        && !value.ends_with([' ', ':'])
        && !value.contains(": ")
        && !value.contains(" #")
        && !value.contains(['\n', '\r', '\t'])
}

/// The marked scalar on `line` (which may end in `\n` or `\r\n`), if the line is
/// `[- ]key: value # {"$imagepolicy": "…"}` or `- value # {"$imagepolicy": "…"}`.
pub fn find_marked_value(line: &str) -> Option<MarkedValue> {
    if !line.contains(MARKER_KEY) {
        return None;
    }
    let body = line.trim_end_matches(['\n', '\r']);
    let (comment_at, marker) = find_marker_comment(body)?;
    let content = body[..comment_at].trim_end();
    let mut pos = content.len() - content.trim_start().len();
    let mut in_sequence = false;
    while content[pos..].starts_with("- ") || &content[pos..] == "-" {
        in_sequence = true;
        pos += 1;
        pos += content[pos..].len() - content[pos..].trim_start().len();
    }
    let rest = &content[pos..];
    let value_at = match key_end(rest) {
        Some(after_colon) => {
            let after = &rest[after_colon..];
            pos + after_colon + (after.len() - after.trim_start().len())
        }
        None if in_sequence => pos,
        None => return None,
    };
    let mut value_at = value_at;
    // Skip an anchor (`&a`) or tag (`!!str`) in front of the scalar.
    while content[value_at..].starts_with(['&', '!']) {
        let token_end = content[value_at..].find([' ', '\t'])? + value_at;
        let after = &content[token_end..];
        value_at = token_end + (after.len() - after.trim_start().len());
    }
    let written = &content[value_at..];
    if written.is_empty() {
        return None;
    }
    let (value, style, len) = parse_scalar(written)?;
    if len != written.len() {
        return None;
    }
    Some(MarkedValue {
        marker,
        value,
        span: value_at..value_at + len,
        style,
    })
}

/// The byte offset of the `#` starting a setter comment at the end of `body`, and its value.
fn find_marker_comment(body: &str) -> Option<(usize, String)> {
    let mut search_end = body.len();
    while let Some(hash) = body[..search_end].rfind('#') {
        let comment = body[hash + 1..].trim();
        let preceded_ok = hash == 0 || body[..hash].ends_with([' ', '\t']);
        if preceded_ok
            && comment.starts_with('{')
            && let Ok(map) =
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(comment)
            && let Some(serde_json::Value::String(value)) = map.get(MARKER_KEY)
        {
            return Some((hash, value.clone()));
        }
        search_end = hash;
    }
    None
}

/// For `key: …`, the offset just after the `:`; `None` when `rest` is not a mapping entry.
fn key_end(rest: &str) -> Option<usize> {
    if rest.starts_with(['"', '\'']) {
        let (_, _, len) = parse_scalar_prefix(rest)?;
        let after = &rest[len..];
        let trimmed = after.trim_start_matches([' ', '\t']);
        let colon = len + (after.len() - trimmed.len());
        return (trimmed.starts_with(':')
            && (trimmed.len() == 1 || trimmed[1..].starts_with([' ', '\t'])))
        .then_some(colon + 1);
    }
    let colon = rest
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| rest[i + 1..].is_empty() || rest[i + 1..].starts_with([' ', '\t']))?;
    // A plain value (`- ghcr.io/app:1.0`) has no `: ` in it; a flow or quoted one would.
    if rest[..colon].contains(['{', '[', '"', '\'']) {
        return None;
    }
    Some(colon + 1)
}

/// Parses a whole scalar: its value, style and written length.
fn parse_scalar(written: &str) -> Option<(String, Style, usize)> {
    if written.starts_with(['"', '\'']) {
        return parse_scalar_prefix(written);
    }
    if written.starts_with(['{', '[', '|', '>', '*']) {
        return None;
    }
    Some((written.to_owned(), Style::Plain, written.len()))
}

/// Parses a quoted scalar at the start of `text`.
fn parse_scalar_prefix(text: &str) -> Option<(String, Style, usize)> {
    let mut chars = text.char_indices();
    let (_, quote) = chars.next()?;
    let mut value = String::new();
    match quote {
        '\'' => {
            let mut iter = text[1..].char_indices().peekable();
            while let Some((i, c)) = iter.next() {
                if c == '\'' {
                    if iter.peek().map(|(_, n)| *n) == Some('\'') {
                        iter.next();
                        value.push('\'');
                    } else {
                        return Some((value, Style::Single, i + 2));
                    }
                } else {
                    value.push(c);
                }
            }
            None
        }
        '"' => {
            let mut iter = text[1..].char_indices();
            while let Some((i, c)) = iter.next() {
                match c {
                    '"' => return Some((value, Style::Double, i + 2)),
                    '\\' => {
                        let (_, escaped) = iter.next()?;
                        value.push(match escaped {
                            'n' => '\n',
                            't' => '\t',
                            '0' => '\0',
                            other => other,
                        });
                    }
                    other => value.push(other),
                }
            }
            None
        }
        _ => None,
    }
}

/// Where each YAML document of a file starts, and the object it describes.
#[derive(Debug, Default)]
pub(crate) struct Documents {
    /// (first line, 1-based; object), in order.
    starts: Vec<(usize, ObjectId)>,
}

impl Documents {
    /// The object of the document holding `line` (1-based).
    pub(crate) fn object_at(&self, line: usize) -> ObjectId {
        self.starts
            .iter()
            .rev()
            .find(|(start, _)| *start <= line)
            .map(|(_, id)| id.clone())
            .unwrap_or_default()
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct Identity {
    api_version: Option<String>,
    kind: Option<String>,
    metadata: Option<IdentityMeta>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct IdentityMeta {
    name: Option<String>,
    namespace: Option<String>,
}

/// Splits `text` into documents at `---` lines, checks each parses as YAML, and reads each
/// one's `apiVersion`, `kind` and `metadata.name`/`namespace`.
pub(crate) fn documents(file: &str, text: &str) -> Result<Documents, SetterError> {
    let mut chunks: Vec<(usize, String)> = vec![(1, String::new())];
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let is_separator = line.starts_with("---")
            && line[3..]
                .trim_end_matches(['\n', '\r'])
                .chars()
                .next()
                .is_none_or(|c| c == ' ' || c == '\t');
        let is_end = line.trim_end_matches(['\n', '\r']) == "...";
        if is_separator || is_end {
            chunks.push((index + 2, String::new()));
            if is_separator {
                // Content after `--- ` on the same line belongs to the new document.
                let inline = line[3..].trim();
                if !inline.is_empty()
                    && !inline.starts_with('#')
                    && let Some(last) = chunks.last_mut()
                {
                    last.0 = index + 1;
                    last.1.push_str(inline);
                    last.1.push('\n');
                }
            }
            continue;
        }
        if let Some(last) = chunks.last_mut() {
            last.1.push_str(line);
        }
    }
    let mut documents = Documents::default();
    for (number, (start, chunk)) in chunks.iter().enumerate() {
        let has_content = chunk.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#')
        });
        if !has_content {
            continue;
        }
        if let Err(e) = serde_saphyr::from_str::<serde::de::IgnoredAny>(chunk) {
            return Err(SetterError::Yaml {
                file: file.to_owned(),
                document: number + 1,
                message: e.to_string().lines().next().unwrap_or_default().to_owned(),
            });
        }
        let identity = serde_saphyr::from_str::<Identity>(chunk).unwrap_or_default();
        let meta = identity.metadata.unwrap_or_default();
        documents.starts.push((
            *start,
            ObjectId {
                api_version: identity.api_version.unwrap_or_default(),
                kind: identity.kind.unwrap_or_default(),
                name: meta.name.unwrap_or_default(),
                namespace: meta.namespace.unwrap_or_default(),
            },
        ));
    }
    Ok(documents)
}
