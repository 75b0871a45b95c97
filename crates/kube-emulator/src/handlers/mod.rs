//! Resource handlers: reads (get, list, watch) and writes (create, update, patch, delete).

pub mod read;
pub mod review;
pub mod scale;
pub mod write;

use serde_json::{Value, json};

use crate::resources::ResourceDef;
use crate::status::{ApiError, Subject};
use crate::util::{Body, json_response};

/// The resource a request addresses.
pub struct Target {
    /// The resource definition (group, version, plural, ...).
    pub def: ResourceDef,
    /// Namespace from the URL.
    pub namespace: Option<String>,
    /// Object name from the URL.
    pub name: Option<String>,
    /// Subresource (`status`, `finalize`).
    pub sub: Option<String>,
}

impl Target {
    /// Subject for error messages.
    pub fn subject<'a>(&'a self, name: &'a str) -> Subject<'a> {
        Subject {
            group: &self.def.group,
            resource: &self.def.plural,
            name,
        }
    }

    /// Namespace as stored ("" for cluster scoped).
    pub fn ns(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }
}

/// Sets `apiVersion` (and `kind`) to the served version of `def`.
pub fn present(def: &ResourceDef, obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(m) = out.as_object_mut() {
        m.insert("apiVersion".into(), json!(def.api_version()));
        m.insert("kind".into(), json!(def.kind));
    }
    out
}

/// Whether a stored object matches list or watch selectors. Stored objects lack `apiVersion`
/// and `kind`; they are presented (a copy) only when a field selector reads those, since
/// lists and every watcher test every object of a kind.
pub fn selected(selectors: &crate::selectors::Selectors, def: &ResourceDef, obj: &Value) -> bool {
    if selectors.fields.reads_type_fields() {
        selectors.matches(&present(def, obj))
    } else {
        selectors.matches(obj)
    }
}

/// A JSON response for an object.
pub fn object_response(code: u16, def: &ResourceDef, obj: &Value) -> http::Response<Body> {
    json_response(code, &present(def, obj))
}

/// Result type of handlers.
pub type HandlerResult = Result<http::Response<Body>, ApiError>;
