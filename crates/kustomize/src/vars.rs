//! `vars`: `$(NAME)` substitution from fields of other objects.

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::{Error, Result};
use crate::fieldpath;
use crate::fieldspec::walk;
use crate::kustomization::Var;
use crate::resmap::ResMap;
use crate::resource::{Gvk, scalar_to_string};

/// A var bound to the object it reads (by build-unique id), if found.
#[derive(Debug, Clone)]
pub struct VarRef {
    /// The declaration.
    pub var: Var,
    /// The object read, when one matched.
    pub uid: Option<u64>,
}

fn objref_gvk(v: &Var) -> Gvk {
    let o = &v.objref;
    if !o.api_version.is_empty() {
        Gvk::from_api_version(&o.api_version, &o.kind)
    } else {
        Gvk {
            group: o.group.clone(),
            version: o.version.clone(),
            kind: o.kind.clone(),
        }
    }
}

/// Binds a var declaration to the single object it names.
pub fn bind(rm: &ResMap, v: &Var) -> Result<VarRef> {
    let gvk = objref_gvk(v);
    let matches: Vec<u64> = rm
        .resources
        .iter()
        .filter(|r| {
            let ids = std::iter::once(r.cur_id()).chain(r.prev_ids.iter().cloned());
            let mut ok = false;
            for id in ids {
                if id.gvk.is_selected_by(&gvk)
                    && id.name == v.objref.name
                    && (v.objref.namespace.is_empty() || id.namespace == v.objref.namespace)
                {
                    ok = true;
                }
            }
            ok
        })
        .map(|r| r.uid)
        .collect();
    if matches.len() > 1 {
        return Err(Error::Build(format!(
            "found {} resId matches for var {} (unable to disambiguate)",
            matches.len(),
            v.name
        )));
    }
    Ok(VarRef {
        var: v.clone(),
        uid: matches.first().copied(),
    })
}

fn substitute(s: &str, vals: &[(String, Value)]) -> Value {
    for (name, val) in vals {
        if s == format!("$({name})") && !val.is_string() {
            return val.clone();
        }
    }
    let mut out = String::new();
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == '$' && i + 1 < bytes.len() {
            if bytes[i + 1] == '$' {
                out.push('$');
                i += 2;
                continue;
            }
            if bytes[i + 1] == '('
                && let Some(end) = bytes[i + 2..].iter().position(|c| *c == ')')
            {
                let name: String = bytes[i + 2..i + 2 + end].iter().collect();
                if let Some((_, val)) = vals.iter().find(|(n, _)| *n == name) {
                    out.push_str(&scalar_to_string(val));
                    i += 3 + end;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    Value::String(out)
}

fn replace_in(v: &mut Value, vals: &[(String, Value)]) {
    match v {
        Value::String(s) if s.contains('$') => {
            *v = substitute(s, vals);
        }
        Value::Array(items) => {
            for it in items {
                if it.is_string() {
                    replace_in(it, vals);
                }
            }
        }
        Value::Object(m) => {
            for x in m.values_mut() {
                if x.is_string() {
                    replace_in(x, vals);
                }
            }
        }
        _ => {}
    }
}

/// Resolves every var against the current objects and substitutes at the var-reference fields.
pub fn resolve(rm: &mut ResMap, vars: &[VarRef], cfg: &TransformerConfig) -> Result<()> {
    if vars.is_empty() {
        return Ok(());
    }
    let mut vals = Vec::new();
    for v in vars {
        let res = v.uid.and_then(|u| rm.resources.iter().find(|r| r.uid == u));
        let Some(res) = res else {
            return Err(Error::Build(format!(
                "var '{}' cannot be mapped to a field in the set of known resources",
                v.var.name
            )));
        };
        let path = v
            .var
            .fieldref
            .as_ref()
            .map(|f| f.field_path.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "metadata.name".into());
        let Some(val) = fieldpath::get(&res.obj, &path) else {
            return Err(Error::Build(format!(
                "field specified in var '{}' not found in corresponding resource",
                v.var.name
            )));
        };
        vals.push((v.var.name.clone(), val.clone()));
    }
    for r in &mut rm.resources {
        let gvk = r.gvk();
        for fs in &cfg.var_reference {
            if fs.applies_to(&gvk) {
                walk(&mut r.obj, &fs.segments(), false, &mut |v| {
                    replace_in(v, &vals);
                    Ok(())
                })?;
            }
        }
    }
    Ok(())
}
