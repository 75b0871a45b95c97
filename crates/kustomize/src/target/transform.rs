//! Running a kustomization's transformers, in kustomize's order.

use serde_json::Value;

use super::{Accumulator, Target};
use crate::error::{Error, Result};
use crate::fs::EntryKind;
use crate::kustomization::Patch;
use crate::plugins;
use crate::resmap::ResMap;
use crate::transformers::{
    annotations, images, labels, namespace, patch_json6902, patch_smp, prefix_suffix, replicas,
};
use crate::{replacements, yaml};

impl Target<'_, '_> {
    /// Loads a patch given by path or inline text.
    pub fn load_patch_docs(&self, p: &Patch) -> Result<Vec<Value>> {
        match (&p.path, &p.patch) {
            (Some(path), None) => {
                let full = self.ldr.resolve(&self.dir, path)?;
                self.ldr.check_restrictor(&self.dir, path, &full)?;
                self.ldr.read_yaml(&full)
            }
            (None, Some(inline)) => {
                yaml::parse_documents(&self.file, inline, &self.ldr.opts.limits)
            }
            (Some(_), Some(_)) => Err(Error::Build(format!(
                "{}: patch and path can't be set at the same time",
                self.file
            ))),
            (None, None) => Err(Error::Build(format!(
                "{}: must specify one of patch and path in a patch",
                self.file
            ))),
        }
    }

    fn apply_patch(&self, rm: &mut ResMap, p: &Patch) -> Result<()> {
        let schema = self.ldr.custom_openapi();
        let docs = self.load_patch_docs(p)?;
        let source = p.path.clone().unwrap_or_else(|| self.file.clone());
        if docs.is_empty() {
            return Err(Error::Build(format!("{source}: patch appears to be empty")));
        }
        if docs.len() == 1 && patch_json6902::is_json6902(&docs[0]) {
            let Some(target) = &p.target else {
                return Err(Error::Build(format!(
                    "{source}: a JSON 6902 patch needs a target"
                )));
            };
            return patch_json6902::apply(rm, &docs[0], target, &source);
        }
        for doc in &docs {
            if !doc.is_object() {
                return Err(Error::Build(format!(
                    "{source}: a strategic merge patch must be a mapping"
                )));
            }
            let change = patch_smp::ChangeOptions {
                name: p.options.get("allowNameChange").copied().unwrap_or(false),
                kind: p.options.get("allowKindChange").copied().unwrap_or(false),
            };
            patch_smp::apply(
                rm,
                doc,
                p.target.as_ref(),
                &source,
                change,
                schema.as_deref(),
            )?;
        }
        Ok(())
    }

    pub(super) fn run_transformers(&self, ra: &mut Accumulator) -> Result<()> {
        let schema = self.ldr.custom_openapi();
        let k = &self.kust;
        let cfg = ra.config.clone();
        let kust_rel = crate::loader::relative_to(&self.ldr.top_dir, &self.file);
        let rec = |rm: &mut ResMap, kind: &str| {
            record_transformation(rm, &kust_rel, "builtin", kind, None, None)
        };
        let rm = &mut ra.resmap;
        if !k.patches_strategic_merge.is_empty() {
            for entry in &k.patches_strategic_merge {
                let docs = self.load_psm(entry)?;
                if docs.is_empty() {
                    return Err(Error::Build(format!("{entry}: patch appears to be empty")));
                }
                for doc in &docs {
                    patch_smp::apply(rm, doc, None, entry, Default::default(), schema.as_deref())?;
                }
            }
            rec(rm, "PatchStrategicMergeTransformer");
        }
        for p in &k.patches {
            self.apply_patch(rm, p)?;
            rec(rm, "PatchTransformer");
        }
        if !k.namespace.is_empty() {
            namespace::set_namespace(rm, &k.namespace, &cfg)?;
            rec(rm, "NamespaceTransformer");
        }
        if !k.name_prefix.is_empty() {
            prefix_suffix::add_prefix_suffix(rm, &k.name_prefix, "", &cfg)?;
            rec(rm, "PrefixTransformer");
        }
        if !k.name_suffix.is_empty() {
            prefix_suffix::add_prefix_suffix(rm, "", &k.name_suffix, &cfg)?;
            rec(rm, "SuffixTransformer");
        }
        if !k.labels.is_empty() || !k.common_labels.is_empty() {
            for l in &k.labels {
                labels::labels_entry(rm, l, &cfg)?;
                rec(rm, "LabelTransformer");
            }
            labels::common_labels(rm, &k.common_labels, &cfg)?;
            rec(rm, "LabelTransformer");
        }
        if !k.common_annotations.is_empty() {
            annotations::common_annotations(rm, &k.common_annotations, &cfg)?;
            rec(rm, "AnnotationsTransformer");
        }
        for p in &k.patches_json6902 {
            let docs = self.load_patch_docs(p)?;
            let Some(target) = &p.target else {
                return Err(Error::Build(format!(
                    "{}: patchesJson6902 entries need a target",
                    self.file
                )));
            };
            let source = p.path.clone().unwrap_or_else(|| self.file.clone());
            for doc in &docs {
                patch_json6902::apply(rm, doc, target, &source)?;
            }
            rec(rm, "PatchJson6902Transformer");
        }
        for r in &k.replicas {
            replicas::set_replicas(rm, std::slice::from_ref(r), &cfg)?;
            rec(rm, "ReplicaCountTransformer");
        }
        for img in k.images.iter().chain(&k.image_tags) {
            images::set_images(rm, std::slice::from_ref(img), &cfg)?;
            rec(rm, "ImageTagTransformer");
        }
        if !k.replacements.is_empty() {
            let reps = self.load_replacements(&k.replacements)?;
            replacements::apply(rm, &reps)?;
            rec(rm, "ReplacementTransformer");
        }
        for t in &k.transformers {
            let inline = t.contains('\n') || t.trim_start().starts_with("apiVersion");
            let configured_in = if inline {
                kust_rel.clone()
            } else {
                let p = self.ldr.resolve(&self.dir, t)?;
                crate::loader::relative_to(&self.ldr.top_dir, &p)
            };
            for doc in self.plugin_docs(t)? {
                plugins::transform(self, ra, &doc)?;
                let s = |f: &str| doc.get(f).and_then(Value::as_str).unwrap_or("").to_string();
                let md = |f: &str| {
                    doc.get("metadata")
                        .and_then(|m| m.get(f))
                        .and_then(Value::as_str)
                        .map(str::to_string)
                };
                record_transformation(
                    &mut ra.resmap,
                    &configured_in,
                    &s("apiVersion"),
                    &s("kind"),
                    md("name").as_deref(),
                    md("namespace").as_deref(),
                );
            }
        }
        Ok(())
    }

    fn load_psm(&self, entry: &str) -> Result<Vec<Value>> {
        if !entry.contains('\n') {
            let path = self.ldr.resolve(&self.dir, entry)?;
            if self.ldr.kind(&path) == Some(EntryKind::File) {
                self.ldr.check_restrictor(&self.dir, entry, &path)?;
                return self.ldr.read_yaml(&path);
            }
        }
        let docs = yaml::parse_documents(&self.file, entry, &self.ldr.opts.limits)?;
        if docs.iter().any(|d| !d.is_object()) || docs.is_empty() {
            return Err(Error::NotFound(format!(
                "{entry} (patchesStrategicMerge in {})",
                self.file
            )));
        }
        Ok(docs)
    }

    /// Resolves `replacements:` entries given by `path` into their inline form.
    pub fn load_replacements(&self, entries: &[Value]) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        for e in entries {
            match e.get("path").and_then(Value::as_str) {
                Some(p) => {
                    let full = self.ldr.resolve(&self.dir, p)?;
                    self.ldr.check_restrictor(&self.dir, p, &full)?;
                    for doc in self.ldr.read_yaml(&full)? {
                        match doc {
                            Value::Array(items) => out.extend(items),
                            other => out.push(other),
                        }
                    }
                }
                None => out.push(e.clone()),
            }
        }
        Ok(out)
    }
}

/// Records, on every resource, that a transformer configured in `configured_in` ran
/// (kustomize's `alpha.config.kubernetes.io/transformations`).
fn record_transformation(
    rm: &mut ResMap,
    configured_in: &str,
    api_version: &str,
    kind: &str,
    name: Option<&str>,
    namespace: Option<&str>,
) {
    let mut entry = format!(
        "- configuredIn: {configured_in}\n  configuredBy:\n    apiVersion: {api_version}\n    kind: {kind}\n"
    );
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        entry.push_str(&format!("    name: {n}\n"));
    }
    if let Some(n) = namespace.filter(|n| !n.is_empty()) {
        entry.push_str(&format!("    namespace: {n}\n"));
    }
    for r in &mut rm.resources {
        r.transformations.push(entry.clone());
    }
}
