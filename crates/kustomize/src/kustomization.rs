//! The typed `kustomization.yaml` file; unknown fields are errors naming the file and field.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};

/// File names recognised as a kustomization, in kustomize's order of preference.
pub const KUSTOMIZATION_FILE_NAMES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// A kustomization (or component) file.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Kustomization {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub metadata: Option<Value>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub openapi: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name_prefix: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name_suffix: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub namespace: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub common_labels: StringMap,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub labels: Vec<Label>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub common_annotations: StringMap,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub patches_strategic_merge: Vec<String>,
    #[serde(
        default,
        rename = "patchesJson6902",
        deserialize_with = "crate::kustomization::nullable"
    )]
    pub patches_json6902: Vec<Patch>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub patches: Vec<Patch>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub images: Vec<Image>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub image_tags: Vec<Image>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub replacements: Vec<Value>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub replicas: Vec<Replica>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub vars: Vec<Var>,
    pub sort_options: Option<SortOptions>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub resources: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub components: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub crds: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub bases: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub config_map_generator: Vec<GeneratorArgs>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub secret_generator: Vec<GeneratorArgs>,
    pub helm_globals: Option<Value>,
    pub helm_charts: Option<Value>,
    pub helm_chart_inflation_generator: Option<Value>,
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub configurations: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub generators: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub transformers: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub validators: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub build_metadata: Vec<String>,
}

/// A string-to-string map whose values may be written as YAML numbers or booleans.
pub type StringMap = BTreeMap<String, ScalarString>;

/// A scalar read as a string, whatever its YAML type (`8080` reads as `"8080"`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScalarString(pub String);

impl<'de> Deserialize<'de> for ScalarString {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Ok(ScalarString(match v {
            Value::String(s) => s,
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            other => {
                return Err(serde::de::Error::custom(format!(
                    "expected a scalar, got {other}"
                )));
            }
        }))
    }
}

/// An entry of `labels`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Label {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub pairs: StringMap,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub include_selectors: bool,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub include_templates: bool,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub fields: Vec<Value>,
}

/// A patch (`patches` or `patchesJson6902` entry).
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    pub path: Option<String>,
    pub patch: Option<String>,
    pub target: Option<Selector>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub options: BTreeMap<String, bool>,
}

/// A patch target selector.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Selector {
    pub group: Option<String>,
    pub version: Option<String>,
    pub kind: Option<String>,
    pub name: Option<String>,
    pub namespace: Option<String>,
    pub label_selector: Option<String>,
    pub annotation_selector: Option<String>,
}

/// An `images` entry.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Image {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name: String,
    pub new_name: Option<String>,
    pub new_tag: Option<ScalarString>,
    pub digest: Option<String>,
    pub tag_suffix: Option<String>,
}

/// A `replicas` entry.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// A `vars` entry.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub fieldref: Option<FieldRef>,
}

/// The object a var refers to.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjRef {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub kind: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub namespace: String,
    #[serde(
        default,
        alias = "apiversion",
        deserialize_with = "crate::kustomization::nullable"
    )]
    pub api_version: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub group: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub version: String,
}

/// The field a var reads.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    #[serde(
        default,
        alias = "fieldpath",
        deserialize_with = "crate::kustomization::nullable"
    )]
    pub field_path: String,
}

/// `sortOptions`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SortOptions {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub order: String,
    pub legacy_sort_options: Option<LegacySortOptions>,
}

/// `sortOptions.legacySortOptions`.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LegacySortOptions {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub order_first: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub order_last: Vec<String>,
}

/// A `configMapGenerator` or `secretGenerator` entry.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorArgs {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub namespace: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub behavior: String,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub literals: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub files: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub envs: Vec<String>,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub env: String,
    pub options: Option<GeneratorOptions>,
    #[serde(rename = "type")]
    pub type_: Option<String>,
}

/// `generatorOptions` (or a generator's `options`).
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GeneratorOptions {
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub labels: StringMap,
    #[serde(default, deserialize_with = "crate::kustomization::nullable")]
    pub annotations: StringMap,
    pub disable_name_suffix_hash: Option<bool>,
    pub immutable: Option<bool>,
}

/// Deserializes a field whose YAML value may be `null`, reading `null` as the default.
pub fn nullable<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Every top-level field, as kustomize spells it (Go matches them case-insensitively).
const FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "openapi",
    "namePrefix",
    "nameSuffix",
    "namespace",
    "commonLabels",
    "labels",
    "commonAnnotations",
    "patchesStrategicMerge",
    "patchesJson6902",
    "patches",
    "images",
    "imageTags",
    "replacements",
    "replicas",
    "vars",
    "sortOptions",
    "resources",
    "components",
    "crds",
    "bases",
    "configMapGenerator",
    "secretGenerator",
    "helmGlobals",
    "helmCharts",
    "helmChartInflationGenerator",
    "generatorOptions",
    "configurations",
    "generators",
    "transformers",
    "validators",
    "buildMetadata",
];

fn canonical_keys(value: Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let canon = FIELDS
                        .iter()
                        .find(|f| f.eq_ignore_ascii_case(&k))
                        .map_or(k, |f| (*f).to_string());
                    (canon, v)
                })
                .collect(),
        ),
        other => other,
    }
}

/// The first top-level field that fails to deserialize on its own (to name it in errors).
fn culprit_field(value: &Value) -> Option<String> {
    let Value::Object(m) = value else {
        return None;
    };
    m.iter().find_map(|(k, v)| {
        let mut one = serde_json::Map::new();
        one.insert(k.clone(), v.clone());
        serde_json::from_value::<Kustomization>(Value::Object(one))
            .is_err()
            .then(|| k.clone())
    })
}

impl Kustomization {
    /// Reads a kustomization from its parsed YAML; `path` names the file in errors.
    pub fn from_value(path: &str, value: Value) -> Result<Self> {
        if value.is_null() {
            return Ok(Self::default());
        }
        if !value.is_object() {
            return Err(Error::Kustomization {
                path: path.to_string(),
                message: "expected a mapping at the top level".to_string(),
            });
        }
        let value = canonical_keys(value);
        serde_json::from_value::<Self>(value.clone()).map_err(|e| Error::Kustomization {
            path: path.to_string(),
            message: match culprit_field(&value) {
                Some(field) => format!("field `{field}`: {e}"),
                None => e.to_string(),
            },
        })
    }

    /// Whether this file is a `kind: Component`.
    pub fn is_component(&self) -> bool {
        self.kind.as_deref() == Some("Component")
    }
}
