//! `commonAnnotations`.

use crate::config::TransformerConfig;
use crate::error::Result;
use crate::kustomization::StringMap;
use crate::resmap::ResMap;
use crate::transformers::{apply_specs, set_pairs};

/// Adds annotations at the configured annotation fields of every resource.
pub fn common_annotations(
    rm: &mut ResMap,
    annotations: &StringMap,
    cfg: &TransformerConfig,
) -> Result<()> {
    let pairs: Vec<(String, String)> = annotations
        .iter()
        .map(|(k, v)| (k.clone(), v.0.clone()))
        .collect();
    if pairs.is_empty() {
        return Ok(());
    }
    for r in &mut rm.resources {
        apply_specs(r, &cfg.common_annotations, &mut |v| {
            set_pairs(v, &pairs);
            Ok(())
        })?;
    }
    Ok(())
}
