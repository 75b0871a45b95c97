//! Builtin transformer and generator configurations listed in `transformers:`/`generators:`.
//!
//! Exec, container and Go plugins are not supported and fail with a clear error.

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::fieldspec::FieldSpec;
use crate::generators::{self, FileReader};
use crate::kustomization::{
    GeneratorArgs, GeneratorOptions, Image, Patch, Replica, Selector, StringMap,
};
use crate::resource::Resource;
use crate::target::{Accumulator, Target};
use crate::transformers::{
    self, images, namespace, patch_json6902, patch_smp, prefix_suffix, replicas,
};

fn kind_of(doc: &Value) -> &str {
    doc.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn unsupported(doc: &Value, what: &str) -> Error {
    let name = doc
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Error::Unsupported {
        feature: format!("{what} plugins"),
        path: format!(
            "{} {} {name}",
            doc.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            kind_of(doc)
        ),
    }
}

fn is_builtin(doc: &Value) -> bool {
    let api = doc.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let fn_annotation = doc
        .get("metadata")
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get("config.kubernetes.io/function"))
        .is_some();
    (api == "builtin"
        || api.starts_with("builtin/")
        || api.is_empty()
        || !api.contains('/')
        || api.contains("kustomize.config.k8s.io"))
        && !fn_annotation
}

fn parse<T: for<'de> Deserialize<'de>>(doc: &Value) -> Result<T> {
    serde_json::from_value(doc.clone())
        .map_err(|e| Error::Build(format!("invalid {} configuration: {e}", kind_of(doc))))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PrefixSuffix {
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MapConfig {
    #[serde(default)]
    labels: StringMap,
    #[serde(default)]
    annotations: StringMap,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NsConfig {
    #[serde(default)]
    metadata: Value,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ImageConfig {
    image_tag: Image,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplicaConfig {
    replica: Replica,
    #[serde(default)]
    field_specs: Vec<FieldSpec>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PatchConfig {
    path: Option<String>,
    patch: Option<String>,
    target: Option<Selector>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: Option<String>,
    json_op: Option<String>,
}

fn pairs(m: &StringMap) -> Vec<(String, String)> {
    m.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
}

/// Runs one builtin transformer configuration over the accumulated resources.
pub fn transform(t: &Target<'_, '_>, ra: &mut Accumulator, doc: &Value) -> Result<()> {
    if !is_builtin(doc) {
        return Err(unsupported(doc, "transformer"));
    }
    let mut cfg = ra.config.clone();
    let schema = t.loader().custom_openapi();
    let rm = &mut ra.resmap;
    match kind_of(doc) {
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let c: PrefixSuffix = parse(doc)?;
            cfg.name_prefix = c.field_specs.clone();
            cfg.name_suffix = c.field_specs;
            prefix_suffix::add_prefix_suffix(rm, &c.prefix, &c.suffix, &cfg)
        }
        "LabelTransformer" => {
            let c: MapConfig = parse(doc)?;
            transformers::labels::add_labels(rm, &pairs(&c.labels), &c.field_specs)
        }
        "AnnotationsTransformer" => {
            let c: MapConfig = parse(doc)?;
            cfg.common_annotations = c.field_specs;
            transformers::annotations::common_annotations(rm, &c.annotations, &cfg)
        }
        "NamespaceTransformer" => {
            let c: NsConfig = parse(doc)?;
            let ns = c
                .metadata
                .get("namespace")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if !c.field_specs.is_empty() {
                cfg.namespace = c.field_specs;
            }
            namespace::set_namespace(rm, &ns, &cfg)
        }
        "ImageTagTransformer" => {
            let c: ImageConfig = parse(doc)?;
            if !c.field_specs.is_empty() {
                cfg.images = c.field_specs;
            }
            images::set_images(rm, &[c.image_tag], &cfg)
        }
        "ReplicaCountTransformer" => {
            let c: ReplicaConfig = parse(doc)?;
            if !c.field_specs.is_empty() {
                cfg.replicas = c.field_specs;
            }
            replicas::set_replicas(rm, &[c.replica], &cfg)
        }
        "PatchTransformer" | "PatchJson6902Transformer" => {
            let c: PatchConfig = parse(doc)?;
            let p = Patch {
                path: c.path,
                patch: c.patch.or(c.json_op),
                target: c.target,
                options: Default::default(),
            };
            let docs = t.load_patch_docs(&p)?;
            let source = p.path.clone().unwrap_or_else(|| t.file.clone());
            if docs.len() == 1 && patch_json6902::is_json6902(&docs[0]) {
                let target = p.target.clone().unwrap_or_default();
                return patch_json6902::apply(rm, &docs[0], &target, &source);
            }
            for d in &docs {
                patch_smp::apply(
                    rm,
                    d,
                    p.target.as_ref(),
                    &source,
                    Default::default(),
                    schema.as_deref(),
                )?;
            }
            Ok(())
        }
        "PatchStrategicMergeTransformer" => {
            let c: PatchConfig = parse(doc)?;
            for path in &c.paths {
                let p = Patch {
                    path: Some(path.clone()),
                    ..Patch::default()
                };
                for d in t.load_patch_docs(&p)? {
                    patch_smp::apply(rm, &d, None, path, Default::default(), schema.as_deref())?;
                }
            }
            if let Some(inline) = &c.patches {
                let p = Patch {
                    patch: Some(inline.clone()),
                    ..Patch::default()
                };
                for d in t.load_patch_docs(&p)? {
                    patch_smp::apply(rm, &d, None, &t.file, Default::default(), schema.as_deref())?;
                }
            }
            Ok(())
        }
        "ReplacementTransformer" => {
            let reps = match doc.get("replacements") {
                Some(Value::Array(a)) => t.load_replacements(a)?,
                _ => Vec::new(),
            };
            crate::replacements::apply(rm, &reps)
        }
        _ => Err(unsupported(doc, "transformer")),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GenConfig {
    #[serde(default)]
    metadata: Value,
    #[serde(flatten)]
    args: Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IamPolicy {
    cloud: String,
    kubernetes_service: IamK8sService,
    service_account: IamServiceAccount,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IamK8sService {
    #[serde(default)]
    namespace: String,
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct IamServiceAccount {
    name: String,
    project_id: String,
}

/// `IAMPolicyGenerator` (GKE workload identity): a ServiceAccount bound to a Google one.
fn iam_policy(doc: &Value) -> Result<Resource> {
    let c: IamPolicy = parse(doc)?;
    if c.cloud != "gke" {
        return Err(Error::Build(format!(
            "IAMPolicyGenerator: cloud '{}' is not supported, only 'gke'",
            c.cloud
        )));
    }
    let mut md = serde_json::Map::new();
    let mut ann = serde_json::Map::new();
    ann.insert(
        "iam.gke.io/gcp-service-account".into(),
        Value::String(format!(
            "{}@{}.iam.gserviceaccount.com",
            c.service_account.name, c.service_account.project_id
        )),
    );
    md.insert("annotations".into(), Value::Object(ann));
    md.insert("name".into(), Value::String(c.kubernetes_service.name));
    if !c.kubernetes_service.namespace.is_empty() {
        md.insert(
            "namespace".into(),
            Value::String(c.kubernetes_service.namespace),
        );
    }
    let mut obj = serde_json::Map::new();
    obj.insert("apiVersion".into(), Value::String("v1".into()));
    obj.insert("kind".into(), Value::String("ServiceAccount".into()));
    obj.insert("metadata".into(), Value::Object(md));
    Ok(Resource::new(Value::Object(obj)))
}

/// Runs one builtin generator configuration.
pub fn generate(_t: &Target<'_, '_>, doc: &Value, read: &FileReader<'_>) -> Result<Vec<Resource>> {
    let kind = kind_of(doc);
    if kind == "IAMPolicyGenerator" && is_builtin(doc) {
        return Ok(vec![iam_policy(doc)?]);
    }
    if !is_builtin(doc) || (kind != "ConfigMapGenerator" && kind != "SecretGenerator") {
        return Err(unsupported(doc, "generator"));
    }
    let c: GenConfig = parse(doc)?;
    let mut args_v = c.args;
    if let Value::Object(m) = &mut args_v {
        // Plugin configs are read leniently, as kustomize does: unknown fields are ignored.
        const KNOWN: &[&str] = &[
            "name",
            "namespace",
            "behavior",
            "literals",
            "files",
            "envs",
            "env",
            "options",
            "type",
        ];
        m.retain(|k, _| KNOWN.contains(&k.as_str()));
        for field in ["name", "namespace"] {
            if let Some(n) = c.metadata.get(field)
                && !m.contains_key(field)
            {
                m.insert(field.into(), n.clone());
            }
        }
    }
    let args: GeneratorArgs = serde_json::from_value(args_v)
        .map_err(|e| Error::Build(format!("invalid {kind} configuration: {e}")))?;
    let opts: GeneratorOptions = args.options.clone().unwrap_or_default();
    let r = if kind == "ConfigMapGenerator" {
        generators::configmap::generate(&args, &opts, read)?
    } else {
        generators::secret::generate(&args, &opts, read)?
    };
    Ok(vec![r])
}
