//! `replicas`: sets replica counts by name.

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::{Error, Result};
use crate::kustomization::Replica;
use crate::resmap::ResMap;
use crate::transformers::apply_specs;

/// Sets `count` at the replica fields of the objects named `name` (current or earlier name)
/// whose kind has a replica field; like kustomize, a name matching none of them is an error.
pub fn set_replicas(rm: &mut ResMap, reps: &[Replica], cfg: &TransformerConfig) -> Result<()> {
    for rep in reps {
        let mut found = false;
        for r in &mut rm.resources {
            let named = r.name() == rep.name || r.prev_ids.iter().any(|p| p.name == rep.name);
            let gvk = r.gvk();
            if !named || !cfg.replicas.iter().any(|fs| fs.applies_to(&gvk)) {
                continue;
            }
            found = true;
            apply_specs(r, &cfg.replicas, &mut |v| {
                *v = Value::from(rep.count);
                Ok(())
            })?;
        }
        if !found {
            let kinds: Vec<&str> = cfg.replicas.iter().map(|fs| fs.kind.as_str()).collect();
            return Err(Error::Build(format!(
                "resource with name {} does not match a config with the following kinds {:?}",
                rep.name, kinds
            )));
        }
    }
    Ok(())
}
