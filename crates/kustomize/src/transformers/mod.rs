//! Builtin transformers, applied to a whole resource map.

pub mod annotations;
pub mod images;
pub mod labels;
pub mod namespace;
pub mod patch_json6902;
pub mod patch_smp;
pub mod prefix_suffix;
pub mod replicas;
pub mod selector;

use serde_json::{Map, Value};

use crate::error::Result;
use crate::fieldspec::{FieldSpec, walk};
use crate::resource::Resource;

/// Applies `f` at every field of `r` named by an applicable spec in `specs`.
pub fn apply_specs(
    r: &mut Resource,
    specs: &[FieldSpec],
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let gvk = r.gvk();
    for fs in specs {
        if fs.applies_to(&gvk) {
            walk(&mut r.obj, &fs.segments(), fs.create, f)?;
        }
    }
    Ok(())
}

/// Sets string pairs into the mapping at `v` (creating it if null).
pub fn set_pairs(v: &mut Value, pairs: &[(String, String)]) {
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    if let Value::Object(m) = v {
        for (k, val) in pairs {
            m.insert(k.clone(), Value::String(val.clone()));
        }
    }
}
