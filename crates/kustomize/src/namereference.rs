//! Updates references to renamed objects (prefix, suffix, hash, namespace changes).

use serde_json::Value;

use crate::config::TransformerConfig;
use crate::error::{Error, Result};
use crate::fieldspec::walk;
use crate::resmap::ResMap;
use crate::resource::{Gvk, ResId, Resource};

#[derive(Debug, Clone)]
struct Candidate {
    /// Whether the current kind is cluster-scoped (precomputed: checked in hot loops).
    cluster: bool,
    /// The current effective namespace (precomputed).
    eff_ns: String,
    cur: ResId,
    prev: Vec<ResId>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Candidate {
    fn of(r: &Resource) -> Self {
        let cur = r.cur_id();
        Self {
            cluster: cur.gvk.is_cluster_scoped(),
            eff_ns: cur.effective_namespace().to_string(),
            cur,
            prev: r.prev_ids.clone(),
            prefixes: r.prefixes.clone(),
            suffixes: r.suffixes.clone(),
        }
    }
    fn org(&self) -> &ResId {
        self.prev.first().unwrap_or(&self.cur)
    }
}

fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn affixes_equal(c: &Candidate, r: &Candidate, allow_empty: bool) -> bool {
    if allow_empty {
        (c.prefixes.is_empty() || r.prefixes.is_empty() || same_ending(&c.prefixes, &r.prefixes))
            && (c.suffixes.is_empty()
                || r.suffixes.is_empty()
                || same_ending(&c.suffixes, &r.suffixes))
    } else {
        same_ending(&c.prefixes, &r.prefixes) && same_ending(&c.suffixes, &r.suffixes)
    }
}

struct Ctx<'a> {
    referrer: &'a Candidate,
    target: Gvk,
    role_ref: Option<Gvk>,
    all: &'a [&'a Candidate],
}

impl Ctx<'_> {
    fn select<'c>(
        &self,
        old: &str,
        cands: Vec<&'c Candidate>,
        with_ns: bool,
    ) -> Result<Option<&'c Candidate>> {
        let referrer_cluster = self.referrer.cur.gvk.is_cluster_scoped();
        let mut c: Vec<&Candidate> = cands
            .into_iter()
            .filter(|c| c.prev.iter().any(|p| p.name == old))
            .filter(|c| c.prev.iter().any(|p| p.gvk.is_selected_by(&self.target)))
            .filter(|c| {
                self.role_ref
                    .as_ref()
                    .is_none_or(|g| c.prev.iter().any(|p| p.gvk.is_selected_by(g)))
            })
            .filter(|c| {
                referrer_cluster
                    || c.cur.gvk.is_cluster_scoped()
                    || c.cur.gvk.kind == "ServiceAccount"
                    || c.cur.effective_namespace() == self.referrer.cur.effective_namespace()
            })
            .collect();
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        c.retain(|x| affixes_equal(x, self.referrer, true));
        if c.len() > 1 {
            c.retain(|x| affixes_equal(x, self.referrer, false));
        }
        match c.len() {
            0 => Ok(None),
            1 => Ok(Some(c[0])),
            _ => {
                let first = c[0];
                let same = c.iter().all(|x| {
                    x.cur.name == first.cur.name
                        && (!with_ns || x.cur.namespace == first.cur.namespace)
                });
                if same {
                    Ok(Some(first))
                } else {
                    let ids: Vec<String> = c.iter().map(|x| x.cur.to_string()).collect();
                    Err(Error::Build(format!(
                        "found multiple possible referrals: {}",
                        ids.join(", ")
                    )))
                }
            }
        }
    }

    fn set_scalar(&self, v: &mut Value) -> Result<()> {
        let Value::String(old) = v else {
            return Ok(());
        };
        if let Some(r) = self.select(old, self.all.to_vec(), false)? {
            *old = r.cur.name.clone();
        }
        Ok(())
    }

    fn set_mapping(&self, v: &mut Value) -> Result<()> {
        let Some(old) = v.get("name").and_then(Value::as_str).map(str::to_string) else {
            return Ok(());
        };
        if matches!(v.get("namespace"), Some(Value::Null))
            || v.get("namespace").and_then(Value::as_str) == Some("")
        {
            return Err(Error::Build(format!(
                "Invalid Input: namespace is blank for resource {}",
                self.referrer.cur
            )));
        }
        let cands: Vec<&Candidate> = match v.get("namespace").and_then(Value::as_str) {
            None => self.all.to_vec(),
            Some(ns) => {
                let by_org: Vec<&Candidate> = self
                    .all
                    .iter()
                    .copied()
                    .filter(|c| !c.org().gvk.is_cluster_scoped())
                    .filter(|c| c.org().effective_namespace() == ns)
                    .collect();
                if by_org.is_empty() {
                    self.all
                        .iter()
                        .copied()
                        .filter(|c| !c.cur.gvk.is_cluster_scoped())
                        .filter(|c| c.cur.effective_namespace() == ns)
                        .collect()
                } else {
                    by_org
                }
            }
        };
        let Some(r) = self.select(&old, cands, true)? else {
            return Ok(());
        };
        if let Value::Object(m) = v {
            if r.cur.name == old && r.cur.namespace.is_empty() {
                return Ok(());
            }
            m.insert("name".into(), Value::String(r.cur.name.clone()));
            if !r.cur.namespace.is_empty() {
                m.insert("namespace".into(), Value::String(r.cur.namespace.clone()));
            }
        }
        Ok(())
    }

    fn set(&self, v: &mut Value) -> Result<()> {
        match v {
            Value::String(_) => self.set_scalar(v),
            Value::Object(_) => self.set_mapping(v),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(_) => self.set_scalar(item)?,
                        Value::Object(_) => self.set_mapping(item)?,
                        _ => {}
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

fn subject_namespaces(r: &Resource) -> Vec<String> {
    let kind = r.kind();
    if kind != "RoleBinding" && kind != "ClusterRoleBinding" {
        return Vec::new();
    }
    match r.obj.get("subjects") {
        Some(Value::Array(s)) => s
            .iter()
            .filter(|x| x.get("kind").and_then(Value::as_str) == Some("ServiceAccount"))
            .filter_map(|x| {
                x.get("namespace")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn role_ref_gvk(r: &Resource) -> Option<Gvk> {
    let rr = r.obj.get("roleRef")?;
    Some(Gvk {
        group: rr.get("apiGroup")?.as_str()?.to_string(),
        version: String::new(),
        kind: rr.get("kind")?.as_str()?.to_string(),
    })
}

/// Rewrites every name reference in `rm` to the current names of the objects referred to.
pub fn fix_references(rm: &mut ResMap, cfg: &TransformerConfig) -> Result<()> {
    let snapshot: Vec<Candidate> = rm.resources.iter().map(Candidate::of).collect();
    for i in 0..rm.resources.len() {
        let referrer = &snapshot[i];
        let org_gvk = referrer.org().gvk.clone();
        let ref_cluster = referrer.cluster;
        let rb_ns = subject_namespaces(&rm.resources[i]);
        let possible: Vec<&Candidate> = snapshot
            .iter()
            .filter(|c| {
                ref_cluster
                    || c.cluster
                    || c.eff_ns == referrer.eff_ns
                    || rb_ns.contains(&c.cur.namespace)
            })
            .collect();
        let role_ref = role_ref_gvk(&rm.resources[i]);
        for back in &cfg.name_reference {
            for fs in &back.field_specs {
                if !org_gvk.is_selected_by(&fs.gvk()) {
                    continue;
                }
                let ctx = Ctx {
                    referrer,
                    target: back.gvk(),
                    role_ref: if fs.path.ends_with("roleRef/name") {
                        role_ref.clone()
                    } else {
                        None
                    },
                    all: &possible,
                };
                walk(&mut rm.resources[i].obj, &fs.segments(), false, &mut |v| {
                    ctx.set(v)
                })?;
            }
        }
    }
    Ok(())
}
