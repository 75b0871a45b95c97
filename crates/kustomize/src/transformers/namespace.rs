//! `namespace`: sets the namespace of namespaced objects and related fields.

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::Result;
use crate::resmap::ResMap;
use crate::transformers::apply_specs;

/// Moves every namespaced resource into `ns`.
pub fn set_namespace(rm: &mut ResMap, ns: &str, cfg: &TransformerConfig) -> Result<()> {
    if ns.is_empty() {
        return Ok(());
    }
    for r in &mut rm.resources {
        let gvk = r.gvk();
        let before = r.cur_id();
        let specs: Vec<_> = cfg
            .namespace
            .iter()
            .filter(|fs| fs.path != "metadata/namespace")
            .filter(|fs| fs.path != "metadata/name" || gvk.api_version() == "v1")
            .filter(|fs| {
                !((gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
                    && fs.path == "subjects/namespace")
            })
            .cloned()
            .collect();
        if !gvk.is_cluster_scoped() {
            r.set_namespace(ns);
        }
        if (gvk.kind == "RoleBinding" || gvk.kind == "ClusterRoleBinding")
            && let Some(Value::Array(subjects)) = r.obj.get_mut("subjects")
        {
            {
                for s in subjects {
                    if s.get("name").and_then(Value::as_str) == Some("default")
                        && let Value::Object(m) = s
                    {
                        m.insert("namespace".into(), Value::String(ns.to_string()));
                    }
                }
            }
        }
        apply_specs(r, &specs, &mut |v| {
            *v = Value::String(ns.to_string());
            Ok(())
        })?;
        // kustomize records the id before the namespace change on every object, changed or not.
        r.prev_ids.push(before);
    }
    Ok(())
}
