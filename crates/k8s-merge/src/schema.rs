//! Type information (merge keys, patch strategies, list/map types) for built-in kinds and CRDs.

mod crd;
mod table;

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::Value;

/// Errors raised while loading a schema table or registering a CRD schema.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The schema table or OpenAPI document is malformed.
    #[error("invalid schema: {0}")]
    Invalid(String),
}

/// Index of a node in a [`Schema`].
pub(crate) type NodeId = usize;

const UNTYPED: NodeId = 0;
const SCALAR: NodeId = 1;

/// How an `array` field is merged (`x-kubernetes-list-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ListType {
    /// The list is replaced as a whole (the default).
    #[default]
    Atomic,
    /// A list of unique scalars, merged as a set.
    Set,
    /// An associative list whose items are identified by `x-kubernetes-list-map-keys`.
    Map,
}

/// How an `object` is merged (`x-kubernetes-map-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapType {
    /// Fields are merged and owned one by one (the default; `granular`/`separable`).
    #[default]
    Granular,
    /// The object is replaced and owned as a whole.
    Atomic,
}

/// The strategic-merge-patch strategy of a field (`x-kubernetes-patch-strategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PatchStrategy {
    /// `merge`: lists are merged (by the merge key, or as sets of scalars).
    pub merge: bool,
    /// `replace`: the value is replaced as a whole.
    pub replace: bool,
    /// `retainKeys`: patches may carry `$retainKeys` to clear unlisted fields.
    pub retain_keys: bool,
}

impl PatchStrategy {
    /// Parses a comma-separated strategy such as `"merge,retainKeys"`; unknown words are ignored.
    pub fn parse(s: &str) -> Self {
        let mut out = Self::default();
        for word in s.split(',').map(str::trim) {
            match word {
                "merge" => out.merge = true,
                "replace" => out.replace = true,
                "retainKeys" => out.retain_keys = true,
                _ => {}
            }
        }
        out
    }
}

/// The shape of a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeKind {
    /// No schema: maps merge field by field, lists are atomic (JSON merge patch in SMP).
    Untyped,
    /// A string, number, boolean, quantity, time or int-or-string.
    Scalar,
    /// An object: a struct with declared fields and/or a map of values.
    Map,
    /// An array.
    List,
}

/// Per-field annotations that live on the property rather than on its type.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldMeta {
    pub(crate) strategy: PatchStrategy,
    pub(crate) merge_key: Option<String>,
    pub(crate) atomic: bool,
    pub(crate) default_empty: bool,
    pub(crate) required: bool,
}

/// A field: its type node plus property annotations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub(crate) node: NodeId,
    pub(crate) meta: FieldMeta,
}

impl Field {
    fn plain(node: NodeId) -> Self {
        Self {
            node,
            meta: FieldMeta::default(),
        }
    }
}

/// A node of the type graph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Untyped,
    Scalar,
    Map {
        name: Option<String>,
        fields: HashMap<String, Field>,
        rest: Option<Field>,
        atomic: bool,
    },
    List {
        items: NodeId,
        list_type: ListType,
        keys: Vec<String>,
        key_defaults: Vec<Value>,
    },
}

/// A set of types: the built-in Kubernetes kinds and any registered CRD schemas.
#[derive(Debug, Clone)]
pub struct Schema {
    nodes: Vec<Node>,
    defs: HashMap<String, NodeId>,
    kinds: HashMap<(String, String), NodeId>,
}

impl Default for Schema {
    fn default() -> Self {
        Self::new()
    }
}

static BUILTIN_TABLE: &str = include_str!("generated/schema_table.json");
static BUILTIN: LazyLock<Schema> =
    LazyLock::new(|| Schema::from_table_json(BUILTIN_TABLE).unwrap_or_default());
static EMPTY: LazyLock<Schema> = LazyLock::new(Schema::new);

impl Schema {
    /// An empty schema (every lookup fails; everything is untyped).
    pub fn new() -> Self {
        Self {
            nodes: vec![Node::Untyped, Node::Scalar],
            defs: HashMap::new(),
            kinds: HashMap::new(),
        }
    }

    /// The built-in Kubernetes v1.36 kinds, from the generated table (parsed once).
    pub fn builtin() -> &'static Schema {
        &BUILTIN
    }

    /// Parses a table in the layout written by `gen-schema-table`.
    pub fn from_table_json(text: &str) -> Result<Self, SchemaError> {
        table::load(text)
    }

    /// The root type of `kind` in `api_version` (e.g. `"apps/v1"`, `"Deployment"`).
    pub fn lookup(&self, api_version: &str, kind: &str) -> Option<TypeRef<'_>> {
        let node = *self
            .kinds
            .get(&(api_version.to_string(), kind.to_string()))?;
        Some(TypeRef::new(self, node, None))
    }

    /// Like [`Schema::lookup`], falling back to [`TypeRef::untyped`] for unknown kinds.
    pub fn lookup_or_untyped(&self, api_version: &str, kind: &str) -> TypeRef<'_> {
        self.lookup(api_version, kind)
            .unwrap_or_else(|| TypeRef::new(self, UNTYPED, None))
    }

    /// The root type of an object, from its `apiVersion` and `kind` fields (untyped if unknown).
    pub fn type_of(&self, object: &Value) -> TypeRef<'_> {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        self.lookup_or_untyped(api_version, kind)
    }

    /// A named OpenAPI definition, e.g. `"io.k8s.api.core.v1.PodSpec"`.
    pub fn definition(&self, name: &str) -> Option<TypeRef<'_>> {
        let node = *self.defs.get(name)?;
        Some(TypeRef::new(self, node, None))
    }

    /// Every registered `(apiVersion, kind)`, in no particular order.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.kinds.keys().map(|(a, k)| (a.as_str(), k.as_str()))
    }

    /// Registers `kind` in `api_version` with a CRD's structural OpenAPI v3 schema
    /// (`spec.versions[].schema.openAPIV3Schema`), honouring `x-kubernetes-list-type`,
    /// `x-kubernetes-list-map-keys`, `x-kubernetes-map-type`, `x-kubernetes-preserve-unknown-fields`,
    /// `x-kubernetes-int-or-string` and `x-kubernetes-embedded-resource`. `metadata` at the root is
    /// typed as `ObjectMeta` when this schema has that definition (as [`Schema::builtin`] does).
    pub fn register_openapi_v3(
        &mut self,
        api_version: &str,
        kind: &str,
        schema: &Value,
    ) -> Result<(), SchemaError> {
        let root = crd::convert(self, schema, true)?;
        self.kinds
            .insert((api_version.to_string(), kind.to_string()), root);
        Ok(())
    }

    /// Registers every served version of a `CustomResourceDefinition` object (apiextensions.k8s.io/v1)
    /// that carries a schema; returns the `(apiVersion, kind)` pairs registered.
    pub fn register_crd(&mut self, crd: &Value) -> Result<Vec<(String, String)>, SchemaError> {
        let group = crd
            .pointer("/spec/group")
            .and_then(Value::as_str)
            .ok_or_else(|| SchemaError::Invalid("CRD has no spec.group".into()))?;
        let kind = crd
            .pointer("/spec/names/kind")
            .and_then(Value::as_str)
            .ok_or_else(|| SchemaError::Invalid("CRD has no spec.names.kind".into()))?;
        let versions = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .ok_or_else(|| SchemaError::Invalid("CRD has no spec.versions".into()))?;
        let mut out = Vec::new();
        for version in versions {
            let Some(name) = version.get("name").and_then(Value::as_str) else {
                continue;
            };
            let api_version = format!("{group}/{name}");
            let schema = version
                .pointer("/schema/openAPIV3Schema")
                .or_else(|| crd.pointer("/spec/validation/openAPIV3Schema"));
            match schema {
                Some(schema) => self.register_openapi_v3(&api_version, kind, schema)?,
                None => {
                    let root = crd::convert(
                        self,
                        &serde_json::json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true}),
                        true,
                    )?;
                    self.kinds
                        .insert((api_version.clone(), kind.to_string()), root);
                }
            }
            out.push((api_version, kind.to_string()));
        }
        Ok(out)
    }

    pub(crate) fn push(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    pub(crate) fn node(&self, id: NodeId) -> &Node {
        self.nodes.get(id).unwrap_or(&Node::Untyped)
    }
}

/// A position in a [`Schema`]'s type graph: the type of a value, plus the annotations of the field
/// holding it. Cheap to copy.
#[derive(Clone, Copy)]
pub struct TypeRef<'s> {
    schema: &'s Schema,
    node: NodeId,
    meta: Option<&'s FieldMeta>,
}

impl std::fmt::Debug for TypeRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TypeRef")
            .field("kind", &self.kind())
            .field("name", &self.name())
            .field("meta", &self.meta)
            .finish()
    }
}

impl<'s> TypeRef<'s> {
    fn new(schema: &'s Schema, node: NodeId, meta: Option<&'s FieldMeta>) -> Self {
        Self { schema, node, meta }
    }

    /// The type of values without a schema (CRDs without schema, unknown kinds).
    pub fn untyped() -> TypeRef<'static> {
        TypeRef::new(&EMPTY, UNTYPED, None)
    }

    /// The shape of this type.
    pub fn kind(&self) -> TypeKind {
        match self.schema.node(self.node) {
            Node::Untyped => TypeKind::Untyped,
            Node::Scalar => TypeKind::Scalar,
            Node::Map { .. } => TypeKind::Map,
            Node::List { .. } => TypeKind::List,
        }
    }

    /// The OpenAPI definition name, for named object types.
    pub fn name(&self) -> Option<&'s str> {
        match self.schema.node(self.node) {
            Node::Map { name, .. } => name.as_deref(),
            _ => None,
        }
    }

    /// The type of field `name` of an object (or of a map's values); untyped when unknown.
    pub fn field(&self, name: &str) -> TypeRef<'s> {
        match self.schema.node(self.node) {
            Node::Map { fields, rest, .. } => match fields.get(name).or(rest.as_ref()) {
                Some(f) => TypeRef::new(self.schema, f.node, Some(&f.meta)),
                None => TypeRef::new(self.schema, UNTYPED, None),
            },
            Node::Scalar => TypeRef::new(self.schema, SCALAR, None),
            _ => TypeRef::new(self.schema, UNTYPED, None),
        }
    }

    /// Whether `name` is a declared (named) field of this object type.
    pub fn has_field(&self, name: &str) -> bool {
        matches!(self.schema.node(self.node), Node::Map { fields, .. } if fields.contains_key(name))
    }

    /// The type of a list's items; untyped for non-lists.
    pub fn items(&self) -> TypeRef<'s> {
        match self.schema.node(self.node) {
            Node::List { items, .. } => TypeRef::new(self.schema, *items, None),
            _ => TypeRef::new(self.schema, UNTYPED, None),
        }
    }

    /// Follows field names from this type; list types are stepped through to their items.
    pub fn walk<'p>(&self, path: impl IntoIterator<Item = &'p str>) -> TypeRef<'s> {
        let mut cur = *self;
        for seg in path {
            if cur.kind() == TypeKind::List {
                cur = cur.items();
            }
            cur = cur.field(seg);
        }
        cur
    }

    /// The server-side-apply list type. Lists without `x-kubernetes-list-type` but with patch
    /// strategy `merge` are associative on the merge key (or sets of scalars), as in
    /// structured-merge-diff's OpenAPI conversion; other lists are atomic.
    pub fn list_type(&self) -> ListType {
        match self.schema.node(self.node) {
            Node::List { list_type, .. } => *list_type,
            _ => ListType::Atomic,
        }
    }

    /// The keys of an associative list (`x-kubernetes-list-map-keys`, or the patch merge key).
    pub fn list_map_keys(&self) -> &'s [String] {
        match self.schema.node(self.node) {
            Node::List { keys, .. } => keys,
            _ => &[],
        }
    }

    /// Defaults of [`TypeRef::list_map_keys`] (same order; `null` when the key has no default).
    pub fn list_map_key_defaults(&self) -> &'s [Value] {
        match self.schema.node(self.node) {
            Node::List { key_defaults, .. } => key_defaults,
            _ => &[],
        }
    }

    /// The map type: atomic when the type or the field holding it says `x-kubernetes-map-type: atomic`.
    pub fn map_type(&self) -> MapType {
        let field_atomic = self.meta.is_some_and(|m| m.atomic);
        match self.schema.node(self.node) {
            Node::Map { atomic, .. } if *atomic || field_atomic => MapType::Atomic,
            _ => MapType::Granular,
        }
    }

    /// Whether the value is owned and replaced as a whole by server-side apply (scalars, atomic
    /// lists and atomic maps).
    pub fn is_atomic(&self) -> bool {
        match self.kind() {
            TypeKind::Scalar => true,
            TypeKind::Untyped => false,
            TypeKind::Map => self.map_type() == MapType::Atomic,
            TypeKind::List => self.list_type() == ListType::Atomic,
        }
    }

    /// The strategic-merge-patch strategy of the field holding this value.
    pub fn patch_strategy(&self) -> PatchStrategy {
        self.meta.map(|m| m.strategy).unwrap_or_default()
    }

    /// The strategic-merge-patch merge key of the list field holding this value.
    pub fn patch_merge_key(&self) -> Option<&'s str> {
        self.meta.and_then(|m| m.merge_key.as_deref())
    }

    /// Whether the field holding this value is a non-pointer struct in Go (OpenAPI `default: {}`),
    /// so a Go object always carries it, at least as `{}`.
    pub fn is_default_empty(&self) -> bool {
        self.meta.is_some_and(|m| m.default_empty)
    }

    /// Whether the field holding this value is in its parent's `required` list (in Go, such
    /// fields are serialised even when zero, e.g. `containers: null`).
    pub fn is_required(&self) -> bool {
        self.meta.is_some_and(|m| m.required)
    }

    /// Whether this is the untyped type.
    pub fn is_untyped(&self) -> bool {
        self.kind() == TypeKind::Untyped
    }
}
