//! Bounded YAML parsing into JSON values (aliases, documents, depth and size capped).

use serde_json::Value;

use crate::error::{Error, Result};

/// Safety limits applied to every file a build reads.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest file read, in bytes.
    pub max_file_bytes: u64,
    /// Most YAML documents in one file.
    pub max_documents: usize,
    /// Deepest nesting of mappings and sequences.
    pub max_depth: usize,
    /// Most nodes replayed through YAML aliases in one file (alias-bomb guard).
    pub max_alias_events: usize,
    /// Most nodes in one file.
    pub max_nodes: usize,
    /// Deepest nesting of kustomizations (resources and components).
    pub max_kustomization_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_file_bytes: 8 << 20,
            max_documents: 10_000,
            max_depth: 100,
            max_alias_events: 100_000,
            max_nodes: 2_000_000,
            max_kustomization_depth: 50,
        }
    }
}

fn options(limits: &Limits, last_key_wins: bool) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_documents = limits.max_documents;
    budget.max_depth = limits.max_depth;
    budget.max_nodes = limits.max_nodes;
    budget.max_events = limits.max_nodes.saturating_mul(4);
    let mut alias = serde_saphyr::options::AliasLimits::default();
    alias.max_total_replayed_events = limits.max_alias_events;
    let mut opts = serde_saphyr::Options::default();
    opts.budget = Some(budget);
    opts.alias_limits = alias;
    opts.strict_booleans = true;
    if last_key_wins {
        opts.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::LastWins;
    }
    opts
}

fn map_err(path: &str, err: serde_saphyr::Error) -> Error {
    let full = err.to_string();
    let message = full
        .lines()
        .next()
        .unwrap_or("")
        .trim_start_matches("error: ")
        .to_string();
    let lower = message.to_lowercase();
    if lower.contains("budget") || lower.contains("limit") || lower.contains("exceeded") {
        Error::Limit {
            path: path.to_string(),
            message,
        }
    } else {
        Error::Yaml {
            path: path.to_string(),
            message,
        }
    }
}

/// Parses every document of a YAML stream; empty documents are skipped.
pub fn parse_documents(path: &str, text: &str, limits: &Limits) -> Result<Vec<Value>> {
    parse_documents_with(path, text, limits, false)
}

fn parse_documents_with(
    path: &str,
    text: &str,
    limits: &Limits,
    last_key_wins: bool,
) -> Result<Vec<Value>> {
    let docs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(text, options(limits, last_key_wins))
            .map_err(|e| map_err(path, e))?;
    Ok(docs.into_iter().filter(|d| !d.is_null()).collect())
}

/// Parses exactly one YAML document (an empty text gives `null`); as kustomize does for
/// kustomization files, a repeated key keeps its last value.
pub fn parse_one(path: &str, text: &str, limits: &Limits) -> Result<Value> {
    let mut docs = parse_documents_with(path, text, limits, true)?;
    match docs.len() {
        0 => Ok(Value::Null),
        1 => Ok(docs.remove(0)),
        n => Err(Error::Yaml {
            path: path.to_string(),
            message: format!("expected one document, found {n}"),
        }),
    }
}
