//! Value validation of custom resources against their CRD's structural schema (types, formats,
//! enums, bounds, required fields, `x-kubernetes-validations` CEL rules with `oldSelf`), giving
//! the field errors the real apiextensions server gives.

mod cel_rules;

use cel_rules::{eval_rule, has_rules, rule_message};
use serde_json::{Map, Value, json};

use crate::resources::ResourceDef;
use crate::status::ApiError;
use crate::util::name_of;

/// One field error: `(reason, message, field)` as `ApiError::invalid` takes it.
type Cause = (String, String, String);

/// Validates `obj` (after pruning and defaulting) against the kind's schema. On updates `old`
/// is the stored object: CEL transition rules see it as `oldSelf`, and values that did not
/// change are not re-validated (validation ratcheting, on by default since Kubernetes 1.30).
pub fn validate(def: &ResourceDef, obj: &Value, old: Option<&Value>) -> Result<(), ApiError> {
    let Some(schema) = &def.schema else {
        return Ok(());
    };
    let mut causes = vec![];
    let mut rule_causes = vec![];
    let root = Node {
        schema,
        value: obj,
        old,
        path: String::new(),
    };
    root.check(&mut causes, &mut rule_causes);
    // Like the real server, the CEL rules do not run after a type, enum, required or size
    // error (they may rely on the shape); a field-less cause then says they were skipped.
    let blocking = causes.iter().any(|(r, _, _)| {
        matches!(
            r.as_str(),
            "FieldValueNotSupported"
                | "FieldValueRequired"
                | "FieldValueTooLong"
                | "FieldValueTooMany"
                | "FieldValueTypeInvalid"
        )
    });
    if blocking && has_rules(schema) {
        causes.push((
            "FieldValueInvalid".into(),
            "Invalid value: \"null\": some validation rules were not checked because the object was invalid; correct the existing errors to complete validation".into(),
            "<nil>".into(),
        ));
    } else {
        causes.extend(rule_causes);
    }
    if causes.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid(
        &def.kind,
        &def.group,
        name_of(obj),
        causes,
    ))
}

struct Node<'a> {
    schema: &'a Value,
    value: &'a Value,
    old: Option<&'a Value>,
    /// Field path without a leading dot (`spec.interval`, `spec.items[0]`); empty at the root.
    path: String,
}

impl<'a> Node<'a> {
    fn child(
        &self,
        schema: &'a Value,
        value: &'a Value,
        old: Option<&'a Value>,
        seg: &str,
    ) -> Self {
        let path = if seg.starts_with('[') || self.path.is_empty() {
            format!("{}{seg}", self.path)
        } else {
            format!("{}.{seg}", self.path)
        };
        Node {
            schema,
            value,
            old,
            path,
        }
    }

    fn s(&self, key: &str) -> Option<&'a Value> {
        self.schema.get(key)
    }

    /// The field path as the real server prints it (`spec.items[0].name`).
    fn field(&self) -> String {
        self.path.clone()
    }

    fn invalid(&self, causes: &mut Vec<Cause>, detail: String) {
        causes.push((
            "FieldValueInvalid".into(),
            format!("Invalid value: {}: {detail}", go_value(self.value)),
            self.field(),
        ));
    }

    fn check(&self, causes: &mut Vec<Cause>, rules: &mut Vec<Cause>) {
        // Ratcheting: an unchanged value was accepted before and stays accepted.
        if self.old == Some(self.value) {
            return;
        }
        let root = self.path.is_empty();
        if self.value.is_null() {
            if self.s("nullable") != Some(&json!(true)) && !root {
                self.type_error(causes, "null");
            }
            return;
        }
        if !self.check_type(causes) {
            return;
        }
        self.check_enum(causes);
        match self.value {
            Value::String(s) => self.check_string(causes, s),
            Value::Number(n) => self.check_number(causes, n.as_f64().unwrap_or(0.0)),
            Value::Array(items) => self.check_array(causes, rules, items),
            Value::Object(map) => self.check_object(causes, rules, map, root),
            _ => {}
        }
        self.check_rules(rules);
    }

    fn type_error(&self, causes: &mut Vec<Cause>, actual: &str) {
        let want = if self.s("x-kubernetes-int-or-string") == Some(&json!(true)) {
            "integer,string".to_string()
        } else {
            self.s("type")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        causes.push((
            "FieldValueTypeInvalid".into(),
            format!(
                "Invalid value: \"{actual}\": {} in body must be of type {want}: \"{actual}\"",
                self.field()
            ),
            self.field(),
        ));
    }

    /// False when the value has the wrong type (nothing else is checked then).
    fn check_type(&self, causes: &mut Vec<Cause>) -> bool {
        let actual = json_type(self.value);
        let ok = if self.s("x-kubernetes-int-or-string") == Some(&json!(true)) {
            matches!(actual, "integer" | "string")
        } else {
            match self.s("type").and_then(Value::as_str) {
                None | Some("") => true,
                Some("number") => matches!(actual, "integer" | "number"),
                Some(t) => t == actual,
            }
        };
        if !ok {
            self.type_error(causes, actual);
            return false;
        }
        let Some(format) = self.s("format").and_then(Value::as_str) else {
            return true;
        };
        let valid = match (format, self.value) {
            ("int-or-string", v) => v.is_string() || json_type(v) == "integer",
            ("date-time", Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            ("date", Value::String(s)) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            _ => true,
        };
        if !valid {
            causes.push((
                "FieldValueTypeInvalid".into(),
                format!(
                    "Invalid value: {}: {} in body must be of type {format}: {}",
                    go_value(self.value),
                    self.field(),
                    go_value(self.value)
                ),
                self.field(),
            ));
        }
        valid
    }

    fn check_enum(&self, causes: &mut Vec<Cause>) {
        let Some(allowed) = self.s("enum").and_then(Value::as_array) else {
            return;
        };
        if allowed.contains(self.value) {
            return;
        }
        let list: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => format!("\"{s}\""),
                other => format!("\"{other}\""),
            })
            .collect();
        causes.push((
            "FieldValueNotSupported".into(),
            format!(
                "Unsupported value: {}: supported values: {}",
                go_value(self.value),
                list.join(", ")
            ),
            self.field(),
        ));
    }

    fn check_string(&self, causes: &mut Vec<Cause>, s: &str) {
        let chars = s.chars().count() as u64;
        if let Some(max) = self.s("maxLength").and_then(Value::as_u64)
            && chars > max
        {
            causes.push((
                "FieldValueTooLong".into(),
                format!("Too long: may not be more than {max} bytes"),
                self.field(),
            ));
        }
        if let Some(min) = self.s("minLength").and_then(Value::as_u64)
            && chars < min
        {
            let f = self.field();
            self.invalid(
                causes,
                format!("{f} in body should be at least {min} chars long"),
            );
        }
        if let Some(p) = self.s("pattern").and_then(Value::as_str) {
            match regex::Regex::new(p) {
                Ok(re) if re.is_match(s) => {}
                Ok(_) => {
                    let f = self.field();
                    self.invalid(causes, format!("{f} in body should match '{p}'"));
                }
                Err(e) => self.invalid(
                    causes,
                    format!("the schema's pattern '{p}' does not compile: {e}"),
                ),
            }
        }
    }

    fn check_number(&self, causes: &mut Vec<Cause>, n: f64) {
        let f = self.field();
        let excl = |k: &str| self.s(k) == Some(&json!(true));
        if let Some(max) = self.s("maximum").and_then(Value::as_f64) {
            if excl("exclusiveMaximum") && n >= max {
                self.invalid(
                    causes,
                    format!("{f} in body should be less than {}", num(max)),
                );
            } else if n > max {
                self.invalid(
                    causes,
                    format!("{f} in body should be less than or equal to {}", num(max)),
                );
            }
        }
        if let Some(min) = self.s("minimum").and_then(Value::as_f64) {
            if excl("exclusiveMinimum") && n <= min {
                self.invalid(
                    causes,
                    format!("{f} in body should be greater than {}", num(min)),
                );
            } else if n < min {
                self.invalid(
                    causes,
                    format!(
                        "{f} in body should be greater than or equal to {}",
                        num(min)
                    ),
                );
            }
        }
        if let Some(m) = self.s("multipleOf").and_then(Value::as_f64)
            && m != 0.0
            && (n / m).fract() != 0.0
        {
            self.invalid(
                causes,
                format!("{f} in body should be a multiple of {}", num(m)),
            );
        }
    }

    fn check_array(&self, causes: &mut Vec<Cause>, rules: &mut Vec<Cause>, items: &'a [Value]) {
        let n = items.len() as u64;
        if let Some(max) = self.s("maxItems").and_then(Value::as_u64)
            && n > max
        {
            causes.push((
                "FieldValueTooMany".into(),
                format!("Too many: {n}: must have at most {max} items"),
                self.field(),
            ));
        }
        if let Some(min) = self.s("minItems").and_then(Value::as_u64)
            && n < min
        {
            // The real server reports the item count as the invalid value.
            let f = self.field();
            causes.push((
                "FieldValueInvalid".into(),
                format!("Invalid value: {n}: {f} in body should have at least {min} items"),
                f,
            ));
        }
        let Some(item_schema) = self.s("items") else {
            return;
        };
        let old_items = self.old.and_then(Value::as_array);
        for (i, item) in items.iter().enumerate() {
            let old = old_items.and_then(|o| correlate_item(self.schema, o, item));
            self.child(item_schema, item, old, &format!("[{i}]"))
                .check(causes, rules);
        }
    }

    fn check_object(
        &self,
        causes: &mut Vec<Cause>,
        rules: &mut Vec<Cause>,
        map: &'a Map<String, Value>,
        root: bool,
    ) {
        let props = self.s("properties").and_then(Value::as_object);
        let n = map.len() as u64;
        if let Some(max) = self.s("maxProperties").and_then(Value::as_u64)
            && n > max
        {
            causes.push((
                "FieldValueTooMany".into(),
                format!("Too many: {n}: must have at most {max} items"),
                self.field(),
            ));
        }
        if let Some(min) = self.s("minProperties").and_then(Value::as_u64)
            && n < min
        {
            let f = self.field();
            self.invalid(
                causes,
                format!("{f} in body should have at least {min} properties"),
            );
        }
        for r in self
            .s("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(r) = r.as_str()
                && !map.contains_key(r)
            {
                let seg = self.child(self.schema, self.value, None, r);
                causes.push((
                    "FieldValueRequired".into(),
                    "Required value".into(),
                    seg.field(),
                ));
            }
        }
        let additional = self.s("additionalProperties").filter(|a| a.is_object());
        for (k, v) in map {
            if root && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            let Some(sub) = props.and_then(|p| p.get(k)).or(additional) else {
                continue;
            };
            let old = self.old.and_then(|o| o.get(k));
            self.child(sub, v, old, k).check(causes, rules);
        }
    }

    /// `x-kubernetes-validations`: CEL rules with `self` (and `oldSelf` on updates).
    fn check_rules(&self, causes: &mut Vec<Cause>) {
        for rule in self
            .s("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(expr) = rule.get("rule").and_then(Value::as_str) else {
                continue;
            };
            let transition = expr.contains("oldSelf");
            if transition && self.old.is_none() {
                continue;
            }
            let (reason, field) = self.rule_target(rule);
            let verdict = eval_rule(expr, self.value, self.old);
            let message = match verdict {
                Ok(true) => continue,
                Ok(false) => rule_message(rule, expr, self.value, self.old),
                Err(e) => e,
            };
            let ty = self
                .s("type")
                .and_then(Value::as_str)
                .unwrap_or_else(|| json_type(self.value));
            let body = match reason.as_str() {
                "FieldValueRequired" => format!("Required value: {message}"),
                "FieldValueForbidden" => format!("Forbidden: {message}"),
                "FieldValueDuplicate" => format!("Duplicate value: {message}"),
                _ => format!("Invalid value: \"{ty}\": {message}"),
            };
            causes.push((reason, body, field));
        }
    }

    fn rule_target(&self, rule: &Value) -> (String, String) {
        let reason = rule
            .get("reason")
            .and_then(Value::as_str)
            .unwrap_or("FieldValueInvalid")
            .to_string();
        let field = match rule.get("fieldPath").and_then(Value::as_str) {
            Some(fp) if !fp.is_empty() => {
                let rel = fp.trim_start_matches('.');
                if self.path.is_empty() {
                    rel.to_string()
                } else {
                    format!("{}.{rel}", self.path)
                }
            }
            _ => self.field(),
        };
        (reason, field)
    }
}

/// The old list item an item corresponds to: by map keys for `x-kubernetes-list-type: map`,
/// by value for sets; other lists do not correlate (transition rules are skipped there).
fn correlate_item<'v>(schema: &Value, old: &'v [Value], item: &Value) -> Option<&'v Value> {
    match schema.get("x-kubernetes-list-type").and_then(Value::as_str) {
        Some("map") => {
            let keys: Vec<&str> = schema
                .get("x-kubernetes-list-map-keys")
                .and_then(Value::as_array)?
                .iter()
                .filter_map(Value::as_str)
                .collect();
            old.iter()
                .find(|o| keys.iter().all(|k| o.get(k) == item.get(k)))
        }
        Some("set") => old.iter().find(|o| *o == item),
        _ => None,
    }
}

/// The OpenAPI type name of a JSON value (`integer` for integral numbers).
fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A value as Go's field errors print it: strings quoted, numbers and bools bare.
fn go_value(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        Value::Number(_) | Value::Bool(_) => v.to_string(),
        Value::Null => "\"null\"".into(),
        Value::Array(_) => "\"array\"".into(),
        Value::Object(_) => "\"object\"".into(),
    }
}

/// A bound as Go's `%v` prints a float64 (no trailing `.0`).
fn num(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{}", f as i64)
    } else {
        f.to_string()
    }
}
