//! A pure-Rust `kustomize build`: files in, Kubernetes objects out.
//!
//! Reads only through an [`Fs`] (never outside its root), bounds file sizes, YAML
//! documents, nesting and alias expansion, and fails clearly on what it does not
//! support (remote bases, helm charts, exec/container plugins).
//!
//! ```
//! use ferry_kustomize::{MemFs, Options, build_yaml};
//! let fs = MemFs::new()
//!     .with("app/kustomization.yaml", "namePrefix: dev-\nresources: [cm.yaml]\n")
//!     .with("app/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n");
//! let out = build_yaml(&fs, "app", &Options::default()).unwrap();
//! assert!(out.contains("name: dev-x"));
//! ```

pub mod config;
pub mod crds;
pub mod error;
pub mod fieldpath;
pub mod fieldspec;
pub mod fs;
pub mod generators;
pub mod kustomization;
pub mod loader;
pub mod namereference;
pub mod order;
pub mod output;
pub mod patch;
pub mod plugins;
pub mod replacements;
pub mod resmap;
pub mod resource;
pub mod target;
pub mod transformers;
pub mod vars;
pub mod yaml;

use serde_json::Value;

pub use error::{Error, Result};
pub use fs::{DiskFs, Fs, MemFs};
pub use loader::{LoadRestrictor, Options};
pub use resmap::ResMap;
pub use yaml::Limits;

use loader::Loader;
use target::Target;

const LOCAL_CONFIG: &str = "config.kubernetes.io/local-config";
const ORIGIN: &str = "config.kubernetes.io/origin";
const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";
const MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// The kustomize release whose behaviour this crate reproduces.
pub const KUSTOMIZE_VERSION: &str = "v5.5.0";

/// Builds the kustomization in `dir` (relative to the root of `fs`) into a resource map.
pub fn build_resmap(fs: &dyn Fs, dir: &str, opts: &Options) -> Result<ResMap> {
    let mut ldr = Loader::new(fs, opts.clone());
    let dir = fs::join("", dir)?;
    ldr.top_dir = dir.clone();
    let t = Target::load(&ldr, &dir, Vec::new())?;
    let mut ra = t.accumulate()?;
    for r in &mut ra.resmap.resources {
        if r.needs_hash {
            let h = generators::hash::hash_object(&r.obj);
            r.store_previous_id();
            let name = format!("{}-{h}", r.name());
            r.set_name(&name);
        }
    }
    namereference::fix_references(&mut ra.resmap, &ra.config)?;
    vars::resolve(&mut ra.resmap, &ra.vars, &ra.config)?;
    ra.resmap.resources.retain(|r| {
        r.obj
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(|a| a.get(LOCAL_CONFIG))
            .and_then(Value::as_str)
            != Some("true")
    });
    let origins = t
        .kust
        .build_metadata
        .iter()
        .any(|m| m == "originAnnotations");
    let transformations = t
        .kust
        .build_metadata
        .iter()
        .any(|m| m == "transformerAnnotations");
    let managed_by = t.kust.build_metadata.iter().any(|m| m == "managedByLabel");
    for r in &mut ra.resmap.resources {
        if managed_by {
            let md = r.metadata_mut();
            let labels = md
                .entry("labels")
                .or_insert_with(|| Value::Object(Default::default()));
            resource::ensure_object(labels).insert(
                MANAGED_BY.into(),
                Value::String(format!("kustomize-{KUSTOMIZE_VERSION}")),
            );
        }
        let mut add = Vec::new();
        if let (true, Some(origin)) = (origins, r.origin.clone()) {
            add.push((ORIGIN, origin));
        }
        if transformations && !r.transformations.is_empty() {
            add.push((TRANSFORMATIONS, r.transformations.concat()));
        }
        for (key, text) in add {
            let md = r.metadata_mut();
            let ann = md
                .entry("annotations")
                .or_insert_with(|| Value::Object(Default::default()));
            resource::ensure_object(ann).insert(key.into(), Value::String(text));
        }
    }
    order::apply(&mut ra.resmap, t.kust.sort_options.as_ref())?;
    Ok(ra.resmap)
}

/// Builds the kustomization in `dir` into the list of objects kustomize would print.
pub fn build(fs: &dyn Fs, dir: &str, opts: &Options) -> Result<Vec<Value>> {
    Ok(build_resmap(fs, dir, opts)?
        .resources
        .into_iter()
        .map(|r| r.obj)
        .collect())
}

/// Builds the kustomization in `dir` into kustomize's YAML stream.
pub fn build_yaml(fs: &dyn Fs, dir: &str, opts: &Options) -> Result<String> {
    let objs = build(fs, dir, opts)?;
    Ok(output::to_yaml_stream(objs.iter()))
}
