//! Encodes an OpenAPI v2 JSON document as gnostic's `openapi.v2.Document` protobuf message
//! (what kubectl < 1.27 asks `/openapi/v2` for), written from the published field numbers.

use serde_json::{Map, Value};

/// Protobuf wire-format writer for one message.
#[derive(Default)]
struct Msg(Vec<u8>);

impl Msg {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    fn tag(&mut self, field: u32, wire: u8) {
        self.varint((u64::from(field) << 3) | u64::from(wire));
    }

    fn bytes(&mut self, field: u32, b: &[u8]) {
        self.tag(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    /// proto3 leaves empty strings out.
    fn string(&mut self, field: u32, s: &str) {
        if !s.is_empty() {
            self.bytes(field, s.as_bytes());
        }
    }

    fn msg(&mut self, field: u32, m: Msg) {
        self.bytes(field, &m.0);
    }

    fn bool(&mut self, field: u32, b: bool) {
        if b {
            self.tag(field, 0);
            self.varint(1);
        }
    }

    fn int64(&mut self, field: u32, v: i64) {
        if v != 0 {
            self.tag(field, 0);
            self.varint(v as u64);
        }
    }

    fn double(&mut self, field: u32, v: f64) {
        if v != 0.0 {
            self.tag(field, 1);
            self.0.extend_from_slice(&v.to_le_bytes());
        }
    }

    fn str_field(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        if let Some(s) = obj.get(key).and_then(Value::as_str) {
            self.string(field, s);
        }
    }

    fn strings(&mut self, field: u32, obj: &Map<String, Value>, key: &str) {
        for s in obj.get(key).and_then(Value::as_array).into_iter().flatten() {
            if let Some(s) = s.as_str() {
                self.bytes(field, s.as_bytes());
            }
        }
    }
}

/// `Any { yaml = 2 }`: JSON is valid YAML, which is how gnostic readers parse it.
fn any(v: &Value) -> Msg {
    let mut m = Msg::default();
    m.string(2, &v.to_string());
    m
}

/// `repeated NamedAny vendor_extension` for every `x-` key.
fn vendor_extensions(m: &mut Msg, field: u32, obj: &Map<String, Value>) {
    for (k, v) in obj.iter().filter(|(k, _)| k.starts_with("x-")) {
        let mut named = Msg::default();
        named.string(1, k);
        named.msg(2, any(v));
        m.msg(field, named);
    }
}

/// Encodes the whole document.
pub fn document(doc: &Value) -> Vec<u8> {
    let empty = Map::new();
    let obj = doc.as_object().unwrap_or(&empty);
    let mut m = Msg::default();
    m.str_field(1, obj, "swagger");
    if let Some(info) = obj.get("info").and_then(Value::as_object) {
        let mut i = Msg::default();
        i.str_field(1, info, "title");
        i.str_field(2, info, "version");
        m.msg(2, i);
    }
    if let Some(paths) = obj.get("paths").and_then(Value::as_object) {
        let mut p = Msg::default();
        for (name, item) in paths {
            let mut named = Msg::default();
            named.string(1, name);
            named.msg(2, path_item(item));
            p.msg(2, named);
        }
        m.msg(8, p);
    }
    if let Some(defs) = obj.get("definitions").and_then(Value::as_object) {
        m.msg(9, named_schemas(defs));
    }
    m.0
}

/// `Definitions` / `Properties`: `repeated NamedSchema additional_properties = 1`.
fn named_schemas(map: &Map<String, Value>) -> Msg {
    let mut d = Msg::default();
    for (name, s) in map {
        let mut named = Msg::default();
        named.string(1, name);
        named.msg(2, schema(s));
        d.msg(1, named);
    }
    d
}

fn schema(v: &Value) -> Msg {
    let empty = Map::new();
    let s = v.as_object().unwrap_or(&empty);
    let mut m = Msg::default();
    m.str_field(1, s, "$ref");
    m.str_field(2, s, "format");
    m.str_field(3, s, "title");
    m.str_field(4, s, "description");
    if let Some(d) = s.get("default") {
        m.msg(5, any(d));
    }
    let num = |k: &str| s.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let int = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
    let flag = |k: &str| s.get(k).and_then(Value::as_bool).unwrap_or(false);
    m.double(6, num("multipleOf"));
    m.double(7, num("maximum"));
    m.bool(8, flag("exclusiveMaximum"));
    m.double(9, num("minimum"));
    m.bool(10, flag("exclusiveMinimum"));
    m.int64(11, int("maxLength"));
    m.int64(12, int("minLength"));
    m.str_field(13, s, "pattern");
    m.int64(14, int("maxItems"));
    m.int64(15, int("minItems"));
    m.bool(16, flag("uniqueItems"));
    m.int64(17, int("maxProperties"));
    m.int64(18, int("minProperties"));
    m.strings(19, s, "required");
    for e in s
        .get("enum")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(20, any(e));
    }
    match s.get("additionalProperties") {
        Some(Value::Bool(b)) => {
            let mut a = Msg::default();
            // proto3 oneof members are written even when false.
            a.tag(2, 0);
            a.varint(u64::from(*b));
            m.msg(21, a);
        }
        Some(sub @ Value::Object(_)) => {
            let mut a = Msg::default();
            a.msg(1, schema(sub));
            m.msg(21, a);
        }
        _ => {}
    }
    match s.get("type") {
        Some(Value::String(t)) => {
            let mut t2 = Msg::default();
            t2.string(1, t);
            m.msg(22, t2);
        }
        Some(Value::Array(ts)) => {
            let mut t2 = Msg::default();
            for t in ts.iter().filter_map(Value::as_str) {
                t2.bytes(1, t.as_bytes());
            }
            m.msg(22, t2);
        }
        _ => {}
    }
    match s.get("items") {
        Some(Value::Array(items)) => {
            let mut it = Msg::default();
            items.iter().for_each(|x| it.msg(1, schema(x)));
            m.msg(23, it);
        }
        Some(item @ Value::Object(_)) => {
            let mut it = Msg::default();
            it.msg(1, schema(item));
            m.msg(23, it);
        }
        _ => {}
    }
    for a in s
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(24, schema(a));
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        m.msg(25, named_schemas(props));
    }
    m.bool(27, flag("readOnly"));
    vendor_extensions(&mut m, 31, s);
    m
}

fn path_item(v: &Value) -> Msg {
    let empty = Map::new();
    let p = v.as_object().unwrap_or(&empty);
    let mut m = Msg::default();
    for (field, method) in [
        (2, "get"),
        (3, "put"),
        (4, "post"),
        (5, "delete"),
        (8, "patch"),
    ] {
        if let Some(op) = p.get(method).and_then(Value::as_object) {
            m.msg(field, operation(op));
        }
    }
    for param in p
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(9, parameters_item(param));
    }
    vendor_extensions(&mut m, 10, p);
    m
}

fn operation(op: &Map<String, Value>) -> Msg {
    let mut m = Msg::default();
    m.strings(1, op, "tags");
    m.str_field(3, op, "description");
    m.str_field(5, op, "operationId");
    m.strings(6, op, "produces");
    m.strings(7, op, "consumes");
    for param in op
        .get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        m.msg(8, parameters_item(param));
    }
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        let mut rs = Msg::default();
        for (code, r) in responses {
            let mut resp = Msg::default();
            resp.str_field(1, r.as_object().unwrap_or(&Map::new()), "description");
            if let Some(sch) = r.get("schema") {
                let mut item = Msg::default();
                item.msg(1, schema(sch));
                resp.msg(2, item);
            }
            let mut value = Msg::default();
            value.msg(1, resp);
            let mut named = Msg::default();
            named.string(1, code);
            named.msg(2, value);
            rs.msg(1, named);
        }
        m.msg(9, rs);
    }
    vendor_extensions(&mut m, 13, op);
    m
}

/// `ParametersItem { Parameter parameter = 1 }` for body, query and path parameters.
fn parameters_item(v: &Value) -> Msg {
    let empty = Map::new();
    let p = v.as_object().unwrap_or(&empty);
    let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
    let mut param = Msg::default();
    match p.get("in").and_then(Value::as_str).unwrap_or("") {
        "body" => {
            let mut b = Msg::default();
            b.str_field(1, p, "description");
            b.str_field(2, p, "name");
            b.string(3, "body");
            b.bool(4, required);
            if let Some(s) = p.get("schema") {
                b.msg(5, schema(s));
            }
            param.msg(1, b);
        }
        place => {
            // Query (field 3) and path (field 4) sub-schemas share their first fields; the
            // type sits at 6 for query and 5 for path parameters.
            let (oneof, type_field) = if place == "path" { (4, 5) } else { (3, 6) };
            let mut q = Msg::default();
            q.bool(1, required);
            q.string(2, place);
            q.str_field(3, p, "description");
            q.str_field(4, p, "name");
            q.str_field(type_field, p, "type");
            let mut nb = Msg::default();
            nb.msg(oneof, q);
            param.msg(2, nb);
        }
    }
    let mut item = Msg::default();
    item.msg(1, param);
    item
}
