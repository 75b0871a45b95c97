//! Patch target selectors: gvk, name and namespace regexes, label and annotation selectors.

use regex::Regex;

use crate::error::{Error, Result};
use crate::kustomization::Selector;
use crate::resource::Resource;

fn anchored(pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| Error::Build(format!("invalid regex '{pattern}' in patch target: {e}")))
}

fn field_matches(pattern: &Option<String>, value: &str) -> Result<bool> {
    match pattern.as_deref() {
        None | Some("") => Ok(true),
        Some(p) => Ok(anchored(p)?.is_match(value)),
    }
}

/// One requirement of a label selector.
#[derive(Debug, Clone)]
enum Requirement {
    Eq(String, String),
    NotEq(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

fn split_top(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn parse_set(s: &str) -> Vec<String> {
    s.trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

fn parse_selector(sel: &str) -> Result<Vec<Requirement>> {
    let mut reqs = Vec::new();
    for part in split_top(sel) {
        let req = if let Some((k, v)) = part.split_once("!=") {
            Requirement::NotEq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once("==") {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once('=') {
            Requirement::Eq(k.trim().into(), v.trim().into())
        } else if let Some((k, v)) = part.split_once(" notin ") {
            Requirement::NotIn(k.trim().into(), parse_set(v))
        } else if let Some((k, v)) = part.split_once(" in ") {
            Requirement::In(k.trim().into(), parse_set(v))
        } else if let Some(k) = part.strip_prefix('!') {
            Requirement::NotExists(k.trim().into())
        } else if part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
        {
            Requirement::Exists(part.clone())
        } else {
            return Err(Error::Build(format!(
                "unable to parse requirement '{part}' of selector '{sel}'"
            )));
        };
        reqs.push(req);
    }
    Ok(reqs)
}

/// Whether the string pairs satisfy a Kubernetes label selector expression.
pub fn selector_matches(sel: &str, pairs: &[(String, String)]) -> Result<bool> {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    for req in parse_selector(sel)? {
        let ok = match &req {
            Requirement::Eq(k, v) => get(k) == Some(v.as_str()),
            Requirement::NotEq(k, v) => get(k) != Some(v.as_str()),
            Requirement::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            Requirement::Exists(k) => get(k).is_some(),
            Requirement::NotExists(k) => get(k).is_none(),
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether `r` is selected by `sel` (gvk exact, name and namespace as anchored regexes
/// against the original or current id).
pub fn matches(sel: &Selector, r: &Resource) -> Result<bool> {
    let gvk = r.gvk();
    let exact = |p: &Option<String>, v: &str| p.as_deref().is_none_or(|p| p.is_empty() || p == v);
    if !(exact(&sel.group, &gvk.group)
        && exact(&sel.version, &gvk.version)
        && exact(&sel.kind, &gvk.kind))
    {
        return Ok(false);
    }
    let org = r.org_id();
    let cur = r.cur_id();
    if !(field_matches(&sel.name, &org.name)? || field_matches(&sel.name, &cur.name)?) {
        return Ok(false);
    }
    if !(field_matches(&sel.namespace, org.effective_namespace())?
        || field_matches(&sel.namespace, cur.effective_namespace())?)
    {
        return Ok(false);
    }
    Ok(match sel.label_selector.as_deref() {
        None | Some("") => true,
        Some(s) => selector_matches(s, &r.labels())?,
    } && match sel.annotation_selector.as_deref() {
        None | Some("") => true,
        Some(s) => selector_matches(s, &r.annotations())?,
    })
}
