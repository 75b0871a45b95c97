//! The FieldsV1 JSON encoding of field sets (`f:name`, `k:{...}`, `v:...`, `i:N`, `.`).

use serde_json::{Map, Value};

use super::fieldset::{FieldSet, PathElement};

/// Errors decoding a FieldsV1 document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsV1Error {
    /// The document (or a nested level) is not a JSON object.
    #[error("FieldsV1 must be a JSON object at {0}")]
    NotAnObject(String),
    /// A key that is not `.`, `f:`, `k:`, `v:` or `i:`.
    #[error("invalid FieldsV1 key {0:?}")]
    BadKey(String),
}

/// Encodes a path element as a FieldsV1 key.
pub fn encode_element(pe: &PathElement) -> String {
    match pe {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(fields) => {
            let mut m = Map::new();
            for (k, v) in fields {
                m.insert(k.clone(), v.clone());
            }
            format!("k:{}", Value::Object(m))
        }
        PathElement::Value(v) => format!("v:{v}"),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

/// Decodes a FieldsV1 key (other than `.`) into a path element.
pub fn decode_element(key: &str) -> Result<PathElement, FieldsV1Error> {
    let bad = || FieldsV1Error::BadKey(key.to_string());
    let (prefix, rest) = key.split_once(':').ok_or_else(bad)?;
    match prefix {
        "f" => Ok(PathElement::Field(rest.to_string())),
        "k" => {
            let v: Value = serde_json::from_str(rest).map_err(|_| bad())?;
            let Value::Object(m) = v else {
                return Err(bad());
            };
            let mut fields: Vec<(String, Value)> = m.into_iter().collect();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            Ok(PathElement::Key(fields))
        }
        "v" => Ok(PathElement::Value(
            serde_json::from_str(rest).map_err(|_| bad())?,
        )),
        "i" => Ok(PathElement::Index(rest.parse().map_err(|_| bad())?)),
        _ => Err(bad()),
    }
}

/// Encodes a field set as a FieldsV1 document, keys in structured-merge-diff's order.
pub fn encode(set: &FieldSet) -> Value {
    let mut out = Map::new();
    let mut elements: Vec<&PathElement> = set.members().collect();
    elements.extend(
        set.children()
            .filter(|(_, c)| !c.is_empty())
            .map(|(pe, _)| pe),
    );
    elements.sort();
    elements.dedup();
    for pe in elements {
        let value = match set.child(pe).filter(|c| !c.is_empty()) {
            Some(child) => {
                let mut inner = Map::new();
                if set.has_member(pe) {
                    inner.insert(".".to_string(), Value::Object(Map::new()));
                }
                if let Value::Object(m) = encode(child) {
                    inner.extend(m);
                }
                Value::Object(inner)
            }
            None => Value::Object(Map::new()),
        };
        out.insert(encode_element(pe), value);
    }
    Value::Object(out)
}

/// Decodes a FieldsV1 document into a field set.
pub fn decode(value: &Value) -> Result<FieldSet, FieldsV1Error> {
    let mut set = FieldSet::new();
    decode_into(value, &mut set, "")?;
    Ok(set)
}

fn decode_into(value: &Value, set: &mut FieldSet, at: &str) -> Result<(), FieldsV1Error> {
    let Value::Object(m) = value else {
        return Err(FieldsV1Error::NotAnObject(at.to_string()));
    };
    for (key, child) in m {
        if key == "." {
            continue;
        }
        let pe = decode_element(key)?;
        let Value::Object(cm) = child else {
            return Err(FieldsV1Error::NotAnObject(format!("{at}/{key}")));
        };
        if cm.is_empty() || cm.contains_key(".") {
            set.insert_member(pe.clone());
        }
        if cm.keys().any(|k| k != ".") {
            decode_into(child, set.child_mut(pe), &format!("{at}/{key}"))?;
        }
    }
    Ok(())
}
