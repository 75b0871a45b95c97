//! `commonLabels` and `labels`.

use crate::config::TransformerConfig;
use crate::error::Result;
use crate::fieldspec::FieldSpec;
use crate::kustomization::{Label, StringMap};
use crate::resmap::ResMap;
use crate::transformers::{apply_specs, set_pairs};

fn pairs(m: &StringMap) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// Adds labels at the given field specs of every resource.
pub fn add_labels(rm: &mut ResMap, labels: &[(String, String)], specs: &[FieldSpec]) -> Result<()> {
    if labels.is_empty() {
        return Ok(());
    }
    for r in &mut rm.resources {
        apply_specs(r, specs, &mut |v| {
            set_pairs(v, labels);
            Ok(())
        })?;
    }
    Ok(())
}

/// Applies `commonLabels` (metadata, templates and selectors).
pub fn common_labels(rm: &mut ResMap, labels: &StringMap, cfg: &TransformerConfig) -> Result<()> {
    add_labels(rm, &pairs(labels), &cfg.common_labels)
}

/// Applies one `labels` entry.
pub fn labels_entry(rm: &mut ResMap, label: &Label, cfg: &TransformerConfig) -> Result<()> {
    let mut specs: Vec<FieldSpec> = cfg.labels.clone();
    if label.include_selectors {
        specs.extend(cfg.common_labels.iter().cloned());
    } else {
        let mut s = vec![FieldSpec::any("metadata/labels", true)];
        if label.include_templates {
            s.extend(cfg.template_labels.iter().cloned());
        }
        specs.extend(s);
    }
    for f in &label.fields {
        if let Ok(fs) = serde_json::from_value::<FieldSpec>(f.clone()) {
            specs.push(fs);
        }
    }
    add_labels(rm, &pairs(&label.pairs), &specs)
}
