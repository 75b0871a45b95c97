//! Flux's post-build variable substitution (`spec.postBuild`), object by object.
//!
//! As kustomize-controller does, each built object is written as YAML, run through
//! [`super::envsubst`] and parsed again, so a plain `replicas: ${n}` becomes a
//! number while a quoted `"${version}"` stays a string. The built objects are JSON values
//! without YAML styles, so the strings that were quoted in the source files are collected
//! beforehand ([`QuotedStrings`]) and written quoted again.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::{Map, Value};

use super::envsubst::{self, EnvsubstError};

/// The label or annotation that turns substitution off for one object.
pub const SUBSTITUTE_ANNOTATION: &str = "kustomize.toolkit.fluxcd.io/substitute";
/// Its value that disables substitution.
pub const DISABLED_VALUE: &str = "disabled";
/// The pattern every variable name must match (Flux's `varsubRegex`).
pub const VAR_NAME_PATTERN: &str = "^[_[:alpha:]][_[:alpha:][:digit:]]*$";

static VAR_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[_A-Za-z][_A-Za-z0-9]*$").expect("static regex"));

/// Why substitution failed; the messages follow kustomize-controller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubstituteError {
    /// A variable name does not match [`VAR_NAME_PATTERN`].
    #[error("'{0}' var name is invalid, must match '{VAR_NAME_PATTERN}'")]
    InvalidName(String),
    /// A ConfigMap or Secret in `substituteFrom` is missing and not optional.
    #[error("substitute from '{kind}/{name}' error: {message}")]
    Source {
        /// `ConfigMap` or `Secret`.
        kind: String,
        /// Its name.
        name: String,
        /// What went wrong.
        message: String,
    },
    /// Expanding one object failed.
    #[error(
        "post build failed for '{object}': envsubst error: variable substitution failed: {source}"
    )]
    Expand {
        /// `<gvk>/<name>` as kustomize prints it.
        object: String,
        /// The expansion error.
        source: EnvsubstError,
    },
    /// The substituted object is no longer valid YAML (or no longer an object).
    #[error("post build failed for '{object}': envsubst error: YAMLToJSON: {message}")]
    Yaml {
        /// `<gvk>/<name>` as kustomize prints it.
        object: String,
        /// The parser's message.
        message: String,
    },
}

/// How substitution runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SubstituteOptions {
    /// Flux's `StrictPostBuildSubstitutions` feature gate: an undefined variable without a
    /// default is an error instead of an empty string.
    pub strict: bool,
    /// `substituteStrategy: Always`: substitute even when no variable is defined.
    pub always: bool,
}

/// The kind of a `substituteFrom` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VarSourceKind {
    /// A ConfigMap: its `data`.
    ConfigMap,
    /// A Secret: its `data`, base64-decoded.
    Secret,
}

impl VarSourceKind {
    fn as_str(self) -> &'static str {
        match self {
            VarSourceKind::ConfigMap => "ConfigMap",
            VarSourceKind::Secret => "Secret",
        }
    }
}

/// One `substituteFrom` entry as read from the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarSource {
    /// ConfigMap or Secret.
    pub kind: VarSourceKind,
    /// Its name.
    pub name: String,
    /// `optional: true`: a missing object defines no variables instead of failing.
    pub optional: bool,
    /// Its data (Secret values decoded), or `None` when the object does not exist.
    pub data: Option<BTreeMap<String, String>>,
}

/// Merges the variables as Flux does: `substituteFrom` entries in order (later ones win),
/// then the inline `substitute` map over them; newlines are removed from every value.
pub fn load_variables(
    sources: &[VarSource],
    inline: Option<&BTreeMap<String, String>>,
) -> Result<BTreeMap<String, String>, SubstituteError> {
    let mut vars = BTreeMap::new();
    for source in sources {
        match &source.data {
            Some(data) => {
                for (k, v) in data {
                    vars.insert(k.clone(), v.replace('\n', ""));
                }
            }
            None if source.optional => {}
            None => {
                return Err(SubstituteError::Source {
                    kind: source.kind.as_str().to_string(),
                    name: source.name.clone(),
                    message: format!(
                        "{} \"{}\" not found",
                        source.kind.as_str().to_lowercase(),
                        source.name
                    ),
                });
            }
        }
    }
    if let Some(inline) = inline {
        for (k, v) in inline {
            vars.insert(k.clone(), v.replace('\n', ""));
        }
    }
    Ok(vars)
}

/// Checks every variable name against [`VAR_NAME_PATTERN`].
pub fn validate_names(vars: &BTreeMap<String, String>) -> Result<(), SubstituteError> {
    match vars.keys().find(|k| !VAR_NAME.is_match(k)) {
        Some(bad) => Err(SubstituteError::InvalidName(bad.clone())),
        None => Ok(()),
    }
}

/// Whether an object opts out with `kustomize.toolkit.fluxcd.io/substitute: disabled` as a
/// label or an annotation.
pub fn is_disabled(obj: &Value) -> bool {
    let meta = obj.get("metadata");
    ["labels", "annotations"].iter().any(|field| {
        meta.and_then(|m| m.get(field))
            .and_then(|m| m.get(SUBSTITUTE_ANNOTATION))
            .and_then(Value::as_str)
            == Some(DISABLED_VALUE)
    })
}

/// `<group or ~G>_<version>_<kind>/<name>`, as kustomize-controller names an object in errors.
pub fn object_label(obj: &Value) -> String {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    };
    let or = |s: &str, d: &str| {
        if s.is_empty() {
            d.to_string()
        } else {
            s.to_string()
        }
    };
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let name = obj
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    format!(
        "{}_{}_{}/{}",
        or(group, "~G"),
        or(version, "~V"),
        or(kind, "~K"),
        name
    )
}

/// Strings written in quotes in the source files, so they are quoted again before
/// substitution (only strings containing `$` matter).
#[derive(Debug, Clone, Default)]
pub struct QuotedStrings(HashSet<String>);

static DOUBLE_QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#""((?:[^"\\\n]|\\.)*)""#).expect("static regex"));
static SINGLE_QUOTED: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"'((?:[^'\n]|'')*)'").expect("static regex"));

impl QuotedStrings {
    /// An empty set: every string is written in the plainest style YAML allows.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the quoted scalars of one YAML text.
    pub fn scan(&mut self, text: &str) {
        if !text.contains('$') {
            return;
        }
        for cap in DOUBLE_QUOTED.captures_iter(text) {
            if let Some(m) = cap.get(1).filter(|m| m.as_str().contains('$')) {
                self.0.insert(unescape_double(m.as_str()));
            }
        }
        for cap in SINGLE_QUOTED.captures_iter(text) {
            if let Some(m) = cap.get(1).filter(|m| m.as_str().contains('$')) {
                self.0.insert(m.as_str().replace("''", "'"));
            }
        }
    }

    /// Marks `s` as quoted.
    pub fn insert(&mut self, s: impl Into<String>) {
        self.0.insert(s.into());
    }

    /// Whether `s` was written quoted somewhere.
    pub fn contains(&self, s: &str) -> bool {
        self.0.contains(s)
    }
}

/// The plain (unquoted) scalars containing `$` in one YAML text, found line by line.
fn plain_scalars(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for line in text.lines() {
        let mut t = line.trim_start();
        let mut item = false;
        while let Some(rest) = t.strip_prefix("- ") {
            t = rest.trim_start();
            item = true;
        }
        let value = match t.find(": ") {
            Some(i) => t[i + 2..].trim_start(),
            None if item => t,
            None => continue,
        };
        let value = value.find(" #").map_or(value, |i| &value[..i]).trim_end();
        if value.contains('$') && !value.starts_with(['"', '\'', '|', '>', '&', '*', '!', '[', '{'])
        {
            out.insert(value.to_string());
        }
    }
    out
}

/// How the source files wrote the strings that contain `$`: quoted or plain, per file, so
/// each built object is written back the way its own file wrote it.
#[derive(Debug, Clone, Default)]
pub struct SourceStyles {
    files: BTreeMap<String, (QuotedStrings, HashSet<String>)>,
    global: QuotedStrings,
}

impl SourceStyles {
    /// No styles known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the styles of file `path`.
    pub fn scan_file(&mut self, path: &str, text: &str) {
        if !text.contains('$') {
            return;
        }
        let mut quoted = QuotedStrings::new();
        quoted.scan(text);
        self.global.scan(text);
        self.files
            .insert(path.to_string(), (quoted, plain_scalars(text)));
    }

    /// Records quoted strings of text that is no file (e.g. the CR's inline patches).
    pub fn scan_text(&mut self, text: &str) {
        self.global.scan(text);
    }

    /// The strings to quote in an object built from file `origin` (when known): those its
    /// file quoted, and those quoted elsewhere that its file does not write plain.
    pub fn quoted_for(&self, origin: Option<&str>) -> QuotedStrings {
        let file = origin.and_then(|o| self.files.get(o));
        let mut out = QuotedStrings::new();
        for s in &self.global.0 {
            let plain_here = file.is_some_and(|(q, p)| p.contains(s) && !q.contains(s));
            if !plain_here {
                out.insert(s.clone());
            }
        }
        out
    }
}

fn unescape_double(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some(c @ ('x' | 'u' | 'U')) => {
                let n = match c {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// Substitutes the variables into one object. `Ok(None)` means the object is left as is
/// (disabled, no variables and not `always`, or nothing to substitute).
pub fn substitute_object(
    obj: &Value,
    vars: &BTreeMap<String, String>,
    options: SubstituteOptions,
    quoted: &QuotedStrings,
) -> Result<Option<Value>, SubstituteError> {
    if is_disabled(obj) || (vars.is_empty() && !options.always) {
        return Ok(None);
    }
    validate_names(vars)?;
    if !contains_dollar(obj) {
        return Ok(None);
    }
    let text = to_yaml(obj, quoted);
    let lookup = |name: &str| match vars.get(name) {
        Some(v) => (v.clone(), true),
        None => (String::new(), !options.strict),
    };
    let expanded = envsubst::eval(&text, &lookup).map_err(|source| SubstituteError::Expand {
        object: object_label(obj),
        source,
    })?;
    let yaml_err = |message: String| SubstituteError::Yaml {
        object: object_label(obj),
        message,
    };
    let value = ferry_kustomize::yaml::parse_one(
        &object_label(obj),
        &expanded,
        &ferry_kustomize::Limits::default(),
    )
    .map_err(|e| yaml_err(e.to_string()))?;
    if !value.is_object() {
        return Err(yaml_err("the substituted object is not a mapping".into()));
    }
    Ok(Some(value))
}

/// Substitutes into every object in place; see [`substitute_object`].
pub fn substitute_all(
    objects: &mut [Value],
    vars: &BTreeMap<String, String>,
    options: SubstituteOptions,
    quoted: &QuotedStrings,
) -> Result<(), SubstituteError> {
    for obj in objects.iter_mut() {
        if let Some(new) = substitute_object(obj, vars, options, quoted)? {
            *obj = new;
        }
    }
    Ok(())
}

fn contains_dollar(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('$'),
        Value::Array(a) => a.iter().any(contains_dollar),
        Value::Object(m) => m.iter().any(|(k, v)| k.contains('$') || contains_dollar(v)),
        _ => false,
    }
}

/// Writes an object as block YAML for substitution: plain scalars where YAML allows (so a
/// substituted number is read back as a number), quoted where the source quoted them.
pub fn to_yaml(v: &Value, quoted: &QuotedStrings) -> String {
    let mut out = String::new();
    match v {
        Value::Object(m) if !m.is_empty() => write_map(&mut out, m, 0, quoted),
        other => {
            out.push_str(&scalar(other, 0, quoted));
            out.push('\n');
        }
    }
    out
}

fn pad(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &Map<String, Value>, ind: usize, quoted: &QuotedStrings) {
    for (k, v) in m {
        pad(out, ind);
        if plain_ok(k) && !quoted.contains(k) {
            out.push_str(k);
        } else {
            out.push_str(&double_quoted(k));
        }
        out.push(':');
        write_after_indicator(out, v, ind + 2, quoted);
    }
}

fn write_after_indicator(out: &mut String, v: &Value, ind: usize, quoted: &QuotedStrings) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, ind, quoted);
        }
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, ind, quoted);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, ind, quoted));
            out.push('\n');
        }
    }
}

fn write_seq(out: &mut String, a: &[Value], ind: usize, quoted: &QuotedStrings) {
    for v in a {
        pad(out, ind);
        out.push('-');
        write_after_indicator(out, v, ind + 2, quoted);
    }
}

fn scalar(v: &Value, ind: usize, quoted: &QuotedStrings) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string_scalar(s, ind, quoted),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

fn string_scalar(s: &str, ind: usize, quoted: &QuotedStrings) -> String {
    if quoted.contains(s) {
        return double_quoted(s);
    }
    if s.contains('\n') {
        if let Some(block) = literal_block(s, ind) {
            return block;
        }
        return double_quoted(s);
    }
    if plain_ok(s) {
        s.to_string()
    } else {
        double_quoted(s)
    }
}

fn is_unprintable(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{feff}' | '\u{2028}' | '\u{2029}' | '\u{85}')
}

fn literal_block(s: &str, ind: usize) -> Option<String> {
    let (body, header) = match s.strip_suffix('\n') {
        Some(b) if !b.ends_with('\n') => (b, "|"),
        Some(_) => return None,
        None => (s, "|-"),
    };
    let first = body.lines().next().unwrap_or("");
    if first.is_empty()
        || first.starts_with([' ', '\t'])
        || body.chars().any(is_unprintable)
        || body.lines().any(|l| l.ends_with([' ', '\t']))
    {
        return None;
    }
    let mut out = String::from(header);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            pad(&mut out, ind);
            out.push_str(line);
        }
    }
    Some(out)
}

static NON_STRING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^(?:~|null|Null|NULL|true|True|TRUE|false|False|FALSE",
        r"|y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF",
        r"|[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?",
        r"|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?",
        r"|0x[0-9a-fA-F_]+|0o[0-7_]+|0b[01_]+",
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)|<<|=)$"
    ))
    .expect("static regex")
});

/// Whether `s` can be written as a plain scalar and still read back as this string.
fn plain_ok(s: &str) -> bool {
    let Some(first) = s.chars().next() else {
        return false;
    };
    if first.is_whitespace()
        || s.ends_with(|c: char| c.is_whitespace())
        || "-?:,[]{}#&*!|>'\"%@`".contains(first)
        || s.contains(": ")
        || s.contains(" #")
        || s.ends_with(':')
        || s.chars().any(|c| c.is_control() || is_unprintable(c))
        || s.starts_with("---")
        || s.starts_with("...")
    {
        return false;
    }
    !NON_STRING.is_match(s)
}

fn double_quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if is_unprintable(c) => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
