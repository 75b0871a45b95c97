//! Transformer configuration: which fields each builtin transformer touches.

mod builtin;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::fieldspec::FieldSpec;
use crate::resource::Gvk;

/// Kinds whose referrers a name change must update, with the referring fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NameBackRef {
    /// Group of the referred kind.
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub group: String,
    /// Version of the referred kind.
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub version: String,
    /// The referred kind.
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub kind: String,
    /// The fields holding its name.
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub field_specs: Vec<FieldSpec>,
}

impl NameBackRef {
    /// The referred gvk.
    pub fn gvk(&self) -> Gvk {
        Gvk {
            group: self.group.clone(),
            version: self.version.clone(),
            kind: self.kind.clone(),
        }
    }
}

/// All field-spec lists, as in kustomize's `configurations:` files.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransformerConfig {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name_prefix: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name_suffix: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name_reference: Vec<NameBackRef>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub namespace: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub common_labels: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub template_labels: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub labels: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub common_annotations: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub images: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub replicas: Vec<FieldSpec>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub var_reference: Vec<FieldSpec>,
}

/// kustomize's order of field specs and back references: legacy kind order, then
/// `group_version_kind` text.
fn gvk_sort_key(g: &Gvk) -> (i64, String) {
    (
        crate::order::type_order(&g.kind),
        crate::order::gvk_sort_string(g),
    )
}

fn sort_specs(v: &mut [FieldSpec]) {
    v.sort_by_cached_key(|f| gvk_sort_key(&f.gvk()));
}

/// Merges field specs as kustomize does: a spec is dropped when one already present has the
/// same path and is selected by its kind filter (so a generic spec is swallowed by a more
/// specific one that sorts before it); differing `create` flags conflict.
fn merge_specs(into: &mut Vec<FieldSpec>, from: &[FieldSpec]) -> Result<()> {
    for fs in from {
        // Whether `e`'s kind filter is selected by `fs`'s (empty parts match anything).
        let selected = |e: &FieldSpec| {
            (fs.group.is_empty() || fs.group == e.group)
                && (fs.version.is_empty() || fs.version == e.version)
                && (fs.kind.is_empty() || fs.kind == e.kind)
        };
        match into.iter().find(|e| e.path == fs.path && selected(e)) {
            Some(e) if e.create != fs.create => {
                return Err(Error::Build(format!(
                    "conflicting fieldspecs for path '{}' ({} and {})",
                    fs.path, e.kind, fs.kind
                )));
            }
            Some(_) => {}
            None => into.push(fs.clone()),
        }
    }
    sort_specs(into);
    Ok(())
}

impl TransformerConfig {
    /// Parses a `configurations:` file.
    pub fn from_value(path: &str, v: serde_json::Value) -> Result<Self> {
        if v.is_null() {
            return Ok(Self::default());
        }
        serde_json::from_value::<Self>(v)
            .map(Self::sorted)
            .map_err(|e| Error::Build(format!("{path}: {e}")))
    }

    /// Adds another configuration's entries (duplicates dropped).
    pub fn merge(&mut self, other: &TransformerConfig) -> Result<()> {
        merge_specs(&mut self.name_prefix, &other.name_prefix)?;
        merge_specs(&mut self.name_suffix, &other.name_suffix)?;
        merge_specs(&mut self.namespace, &other.namespace)?;
        merge_specs(&mut self.common_labels, &other.common_labels)?;
        merge_specs(&mut self.template_labels, &other.template_labels)?;
        merge_specs(&mut self.labels, &other.labels)?;
        merge_specs(&mut self.common_annotations, &other.common_annotations)?;
        merge_specs(&mut self.images, &other.images)?;
        merge_specs(&mut self.replicas, &other.replicas)?;
        merge_specs(&mut self.var_reference, &other.var_reference)?;
        for nb in &other.name_reference {
            let mut found = false;
            for existing in &mut self.name_reference {
                if existing.gvk() == nb.gvk() {
                    merge_specs(&mut existing.field_specs, &nb.field_specs)?;
                    found = true;
                }
            }
            if !found {
                let mut n = nb.clone();
                sort_specs(&mut n.field_specs);
                self.name_reference.push(n);
            }
        }
        self.name_reference
            .sort_by_cached_key(|n| gvk_sort_key(&n.gvk()));
        Ok(())
    }

    /// Sorts every list as kustomize does after reading a configuration.
    pub fn sorted(mut self) -> Self {
        for v in [
            &mut self.name_prefix,
            &mut self.name_suffix,
            &mut self.namespace,
            &mut self.common_labels,
            &mut self.template_labels,
            &mut self.labels,
            &mut self.common_annotations,
            &mut self.images,
            &mut self.replicas,
            &mut self.var_reference,
        ] {
            sort_specs(v);
        }
        for n in &mut self.name_reference {
            sort_specs(&mut n.field_specs);
        }
        self.name_reference
            .sort_by_cached_key(|n| gvk_sort_key(&n.gvk()));
        self
    }
}
