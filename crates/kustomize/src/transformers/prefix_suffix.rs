//! `namePrefix` and `nameSuffix`.

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::Result;
use crate::resmap::ResMap;
use crate::transformers::apply_specs;

fn skipped(kind: &str, group: &str) -> bool {
    kind == "CustomResourceDefinition"
        || kind == "Namespace"
        || (kind == "APIService" && group == "apiregistration.k8s.io")
}

/// Adds a prefix and/or suffix to names at the configured fields.
pub fn add_prefix_suffix(
    rm: &mut ResMap,
    prefix: &str,
    suffix: &str,
    cfg: &TransformerConfig,
) -> Result<()> {
    for (affix, is_prefix) in [(prefix, true), (suffix, false)] {
        if affix.is_empty() {
            continue;
        }
        let specs = if is_prefix {
            &cfg.name_prefix
        } else {
            &cfg.name_suffix
        };
        for r in &mut rm.resources {
            let gvk = r.gvk();
            if skipped(&gvk.kind, &gvk.group) {
                continue;
            }
            r.store_previous_id();
            if is_prefix {
                r.prefixes.push(affix.to_string());
            } else {
                r.suffixes.push(affix.to_string());
            }
            apply_specs(r, specs, &mut |v| {
                if let Value::String(s) = v {
                    *s = if is_prefix {
                        format!("{affix}{s}")
                    } else {
                        format!("{s}{affix}")
                    };
                }
                Ok(())
            })?;
        }
    }
    Ok(())
}
