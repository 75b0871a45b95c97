//! Running a kustomization's generators (`configMapGenerator`, `secretGenerator`, `generators:`).

use serde_json::Value;

use super::{Accumulator, Target};
use crate::error::{Error, Result};
use crate::fs::EntryKind;
use crate::generators::{self, merge_options};
use crate::plugins;
use crate::yaml;

impl Target<'_, '_> {
    pub(super) fn run_generators(&self, ra: &mut Accumulator) -> Result<()> {
        let read = |rel: &str| self.read_file(rel);
        let global = self.kust.generator_options.as_ref();
        let kust_rel = crate::loader::relative_to(&self.ldr.top_dir, &self.file);
        let origin = |configured_in: &str, kind: &str, name: Option<&str>| {
            let mut s = format!(
                "configuredIn: {configured_in}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n"
            );
            if let Some(n) = name.filter(|n| !n.is_empty()) {
                s.push_str(&format!("  name: {n}\n"));
            }
            s
        };
        for args in &self.kust.config_map_generator {
            let opts = merge_options(args.options.as_ref(), global);
            let mut r = generators::configmap::generate(args, &opts, &read)?;
            r.origin = Some(origin(&kust_rel, "ConfigMapGenerator", None));
            ra.resmap.absorb(r)?;
        }
        for args in &self.kust.secret_generator {
            let opts = merge_options(args.options.as_ref(), global);
            let mut r = generators::secret::generate(args, &opts, &read)?;
            r.origin = Some(origin(&kust_rel, "SecretGenerator", None));
            ra.resmap.absorb(r)?;
        }
        for g in &self.kust.generators {
            let inline = g.contains('\n') || g.trim_start().starts_with("apiVersion");
            let configured_in = if inline {
                kust_rel.clone()
            } else {
                let p = self.ldr.resolve(&self.dir, g)?;
                crate::loader::relative_to(&self.ldr.top_dir, &p)
            };
            for doc in self.plugin_docs(g)? {
                let kind = doc
                    .get("kind")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
                let name = doc
                    .get("metadata")
                    .and_then(|m| m.get("name"))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                for mut r in plugins::generate(self, &doc, &read)? {
                    r.origin = Some(origin(&configured_in, &kind, name.as_deref()));
                    ra.resmap.absorb(r)?;
                }
            }
        }
        Ok(())
    }

    /// Reads a `generators:`/`transformers:` entry: a file path, a directory, or inline YAML.
    pub(super) fn plugin_docs(&self, entry: &str) -> Result<Vec<Value>> {
        if entry.contains('\n') || entry.trim_start().starts_with("apiVersion") {
            return yaml::parse_documents(&self.file, entry, &self.ldr.opts.limits);
        }
        let path = self.ldr.resolve(&self.dir, entry)?;
        match self.ldr.kind(&path) {
            Some(EntryKind::File) => {
                self.ldr.check_restrictor(&self.dir, entry, &path)?;
                self.ldr.read_yaml(&path)
            }
            Some(EntryKind::Dir) => {
                let sub = Target::load(self.ldr, &path, self.stack.clone())?;
                let acc = sub.accumulate()?;
                Ok(acc.resmap.resources.into_iter().map(|r| r.obj).collect())
            }
            None => Err(Error::NotFound(format!("{entry} (in {})", self.file))),
        }
    }
}
