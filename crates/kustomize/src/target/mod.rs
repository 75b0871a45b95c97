//! One kustomization directory: accumulating resources, generators, components and transformers.

mod generate;
mod transform;

use crate::config::TransformerConfig;
use crate::error::{Error, Result};
use crate::fs::EntryKind;
use crate::kustomization::Kustomization;
use crate::loader::Loader;
use crate::loader::documents::{docs_to_resources, load_kustomization};
use crate::resmap::ResMap;
use crate::resource::Resource;
use crate::vars::VarRef;
use crate::yaml;

/// Resources and configuration gathered so far.
#[derive(Debug, Default)]
pub struct Accumulator {
    /// The resources.
    pub resmap: ResMap,
    /// Transformer configuration (builtin plus `configurations:` and `crds:`).
    pub config: TransformerConfig,
    /// Vars declared so far, bound to the objects they read.
    pub vars: Vec<VarRef>,
}

impl Accumulator {
    /// An empty accumulator; each kustomization merges in the builtin configuration plus its
    /// own `configurations:` once its resources are read, as kustomize does.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes `other`'s configuration and vars; its resources go to `pending`, appended
    /// (with duplicate checks) once the whole `resources:` list is read.
    fn merge(&mut self, other: Accumulator, pending: &mut Vec<Resource>) -> Result<()> {
        pending.extend(other.resmap.resources);
        self.config.merge(&other.config)?;
        for v in other.vars {
            if self.vars.iter().any(|x| x.var.name == v.var.name) {
                return Err(Error::Build(format!(
                    "var '{}' already encountered",
                    v.var.name
                )));
            }
            self.vars.push(v);
        }
        Ok(())
    }
}

/// A loaded kustomization file.
pub struct Target<'l, 'a> {
    ldr: &'l Loader<'a>,
    /// Its directory (root-relative).
    pub dir: String,
    /// Path of the kustomization file.
    pub file: String,
    /// The parsed file.
    pub kust: Kustomization,
    stack: Vec<String>,
}

impl<'l, 'a> Target<'l, 'a> {
    /// Loads the kustomization in `dir`; `stack` holds the directories including it.
    pub fn load(ldr: &'l Loader<'a>, dir: &str, stack: Vec<String>) -> Result<Self> {
        if stack.iter().any(|d| d == dir) {
            return Err(Error::Cycle(dir.to_string()));
        }
        if stack.len() > ldr.opts.limits.max_kustomization_depth {
            return Err(Error::Build(format!(
                "kustomizations nested more than {} deep at '{dir}'",
                ldr.opts.limits.max_kustomization_depth
            )));
        }
        let (file, kust) = load_kustomization(ldr, dir)?;
        let mut stack = stack;
        stack.push(dir.to_string());
        let t = Self {
            ldr,
            dir: dir.to_string(),
            file,
            kust,
            stack,
        };
        t.check_unsupported()?;
        Ok(t)
    }

    fn check_unsupported(&self) -> Result<()> {
        let k = &self.kust;
        let unsupported = |feature: &str, set: bool| -> Result<()> {
            if set {
                Err(Error::Unsupported {
                    feature: feature.into(),
                    path: format!("{}: {feature}", self.file),
                })
            } else {
                Ok(())
            }
        };
        unsupported("helmCharts", k.helm_charts.is_some())?;
        unsupported(
            "helmChartInflationGenerator",
            k.helm_chart_inflation_generator.is_some(),
        )?;
        unsupported("validators", !k.validators.is_empty())?;
        if k.is_component()
            && let Some(v) = k.api_version.as_deref()
            && v != "kustomize.config.k8s.io/v1alpha1"
        {
            return Err(Error::Kustomization {
                path: self.file.clone(),
                message: "apiVersion for Component should be kustomize.config.k8s.io/v1alpha1"
                    .into(),
            });
        }
        match (k.openapi.get("path"), k.openapi.get("version")) {
            (Some(_), Some(_)) => {
                return Err(Error::Kustomization {
                    path: self.file.clone(),
                    message: "openapi: builtin version and custom schema provided, cannot use both"
                        .into(),
                });
            }
            (None, Some(v)) if v != "v1.21.2" => {
                return Err(Error::Kustomization {
                    path: self.file.clone(),
                    message: format!(
                        "openapi: the specified OpenAPI version '{v}' is not built in"
                    ),
                });
            }
            (Some(p), None) => {
                let path = self.ldr.resolve(&self.dir, p)?;
                self.ldr.check_restrictor(&self.dir, p, &path)?;
                let doc =
                    yaml::parse_one(&path, &self.ldr.read_text(&path)?, &self.ldr.opts.limits)?;
                self.ldr.set_openapi(Some(doc));
            }
            (None, Some(_)) => self.ldr.set_openapi(None),
            (None, None) => {}
        }
        Ok(())
    }

    fn read_file(&self, rel: &str) -> Result<Vec<u8>> {
        self.ldr.read(&self.dir, rel)
    }

    /// Builds this kustomization into a fresh accumulator.
    pub fn accumulate(&self) -> Result<Accumulator> {
        let mut ra = Accumulator::new();
        self.accumulate_into(&mut ra)?;
        Ok(ra)
    }

    fn accumulate_into(&self, ra: &mut Accumulator) -> Result<()> {
        let mut resources = self.kust.resources.clone();
        resources.extend(self.kust.bases.iter().cloned());
        let mut pending = Vec::new();
        for path in &resources {
            self.accumulate_resource(ra, path, &mut pending)?;
        }
        ra.resmap.append_many(pending)?;
        let mut tconfig = TransformerConfig::builtin();
        if !self.kust.configurations.is_empty() {
            let mut loaded = TransformerConfig::default();
            for c in &self.kust.configurations {
                let p = self.ldr.resolve(&self.dir, c)?;
                self.ldr.check_restrictor(&self.dir, c, &p)?;
                for doc in self.ldr.read_yaml(&p)? {
                    loaded.merge(&TransformerConfig::from_value(&p, doc)?)?;
                }
            }
            tconfig.merge(&loaded)?;
        }
        ra.config.merge(&tconfig)?;
        if !self.kust.crds.is_empty() {
            let mut crd_config = TransformerConfig::default();
            for c in &self.kust.crds {
                let p = self.ldr.resolve(&self.dir, c)?;
                self.ldr.check_restrictor(&self.dir, c, &p)?;
                let docs = self.ldr.read_yaml(&p)?;
                crate::crds::merge_crd_config(&mut crd_config, &docs)?;
            }
            ra.config.merge(&crd_config)?;
        }
        self.run_generators(ra)?;
        for c in &self.kust.components {
            self.accumulate_component(ra, c)?;
        }
        self.run_transformers(ra)?;
        for v in &self.kust.vars {
            let bound = crate::vars::bind(&ra.resmap, v)?;
            if ra.vars.iter().any(|x| x.var.name == v.name) {
                return Err(Error::Build(format!(
                    "var '{}' already encountered",
                    v.name
                )));
            }
            ra.vars.push(bound);
        }
        Ok(())
    }

    fn accumulate_resource(
        &self,
        ra: &mut Accumulator,
        rel: &str,
        pending: &mut Vec<Resource>,
    ) -> Result<()> {
        let path = self.ldr.resolve(&self.dir, rel)?;
        match self.ldr.kind(&path) {
            Some(EntryKind::File) => {
                self.ldr.check_restrictor(&self.dir, rel, &path)?;
                let docs = self.ldr.read_yaml(&path)?;
                let origin = format!(
                    "path: {}\n",
                    crate::loader::relative_to(&self.ldr.top_dir, &path)
                );
                let mut rs = docs_to_resources(docs, &path)?;
                for r in &mut rs {
                    r.origin = Some(origin.clone());
                }
                pending.extend(rs);
                Ok(())
            }
            Some(EntryKind::Dir) => {
                let sub = Target::load(self.ldr, &path, self.stack.clone())
                    .map_err(|e| wrap(e, &format!("accumulating resources from '{rel}'")))?;
                if sub.kust.is_component() {
                    return Err(Error::Build(format!(
                        "expected kind != 'Component' for path '{path}'"
                    )));
                }
                let sub_ra = sub.accumulate()?;
                ra.merge(sub_ra, pending)
            }
            None => Err(Error::NotFound(format!(
                "accumulating resources: {rel} (in {})",
                self.file
            ))),
        }
    }

    fn accumulate_component(&self, ra: &mut Accumulator, rel: &str) -> Result<()> {
        let path = self.ldr.resolve(&self.dir, rel)?;
        match self.ldr.kind(&path) {
            Some(EntryKind::Dir) => {
                let sub = Target::load(self.ldr, &path, self.stack.clone())?;
                if !sub.kust.is_component() {
                    return Err(Error::Build(format!(
                        "expected kind 'Component' for path '{path}' but got '{}'",
                        sub.kust
                            .kind
                            .clone()
                            .unwrap_or_else(|| "Kustomization".into())
                    )));
                }
                sub.accumulate_into(ra)
            }
            Some(EntryKind::File) => Err(Error::Build(format!(
                "component '{rel}' must be a directory with a kustomization file"
            ))),
            None => Err(Error::NotFound(format!(
                "component {rel} (in {})",
                self.file
            ))),
        }
    }

    /// The loader in use.
    pub fn loader(&self) -> &Loader<'a> {
        self.ldr
    }
}

fn wrap(e: Error, ctx: &str) -> Error {
    match e {
        Error::Build(m) => Error::Build(format!("{ctx}: {m}")),
        other => other,
    }
}
