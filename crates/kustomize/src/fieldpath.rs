//! Dotted field paths as used by vars and replacements (`spec.containers.[name=app].image`).

use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Splits `a.b[c=d].e` / `a.b.[c=d].e` into segments; dots inside brackets are kept.
pub fn split(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '[' => {
                if depth == 0 && !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                depth += 1;
                cur.push(c);
            }
            ']' => {
                depth -= 1;
                cur.push(c);
                if depth == 0 {
                    out.push(std::mem::take(&mut cur));
                }
            }
            '.' if depth == 0 => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn bracket(seg: &str) -> Option<&str> {
    seg.strip_prefix('[').and_then(|s| s.strip_suffix(']'))
}

fn elem_matches(v: &Value, cond: &str) -> bool {
    match cond.split_once('=') {
        Some((k, want)) => v
            .get(k)
            .map(crate::resource::scalar_to_string)
            .is_some_and(|x| x == want),
        None => false,
    }
}

/// All values at `segs` under `v`.
pub fn get_all<'a>(v: &'a Value, segs: &[String], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = segs.split_first() else {
        out.push(v);
        return;
    };
    match v {
        Value::Array(items) => {
            if first == "*" {
                for it in items {
                    get_all(it, rest, out);
                }
            } else if let Some(cond) = bracket(first) {
                if let Ok(i) = cond.parse::<usize>() {
                    if let Some(it) = items.get(i) {
                        get_all(it, rest, out);
                    }
                } else {
                    for it in items.iter().filter(|it| elem_matches(it, cond)) {
                        get_all(it, rest, out);
                    }
                }
            } else if let Some(it) = first.parse::<usize>().ok().and_then(|i| items.get(i)) {
                get_all(it, rest, out);
            }
        }
        Value::Object(m) => {
            if first == "*" {
                for x in m.values() {
                    get_all(x, rest, out);
                }
            } else if let Some(x) = m.get(first.as_str()) {
                get_all(x, rest, out);
            }
        }
        _ => {}
    }
}

/// The single value at `path`, if present.
pub fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut out = Vec::new();
    get_all(v, &split(path), &mut out);
    out.into_iter().next()
}

/// Calls `f` on every value at `segs`; with `create`, missing map fields are created
/// (and missing `[k=v]` list elements appended).
pub fn set_all(
    v: &mut Value,
    segs: &[String],
    create: bool,
    f: &mut dyn FnMut(&mut Value) -> Result<()>,
) -> Result<()> {
    let Some((first, rest)) = segs.split_first() else {
        return f(v);
    };
    if v.is_null() && create {
        *v = if bracket(first).is_some() {
            Value::Array(Vec::new())
        } else {
            Value::Object(Map::new())
        };
    }
    match v {
        Value::Array(items) => {
            if first == "*" {
                for it in items.iter_mut() {
                    set_all(it, rest, create, f)?;
                }
                return Ok(());
            }
            let cond = bracket(first).unwrap_or(first);
            if let Ok(i) = cond.parse::<usize>() {
                if let Some(it) = items.get_mut(i) {
                    set_all(it, rest, create, f)?;
                }
                return Ok(());
            }
            let mut found = false;
            for it in items.iter_mut().filter(|it| elem_matches(it, cond)) {
                found = true;
                set_all(it, rest, create, f)?;
            }
            if !found
                && create
                && let Some((k, val)) = cond.split_once('=')
            {
                let mut m = Map::new();
                m.insert(k.to_string(), Value::String(val.to_string()));
                items.push(Value::Object(m));
                if let Some(last) = items.last_mut() {
                    set_all(last, rest, create, f)?;
                }
            }
            Ok(())
        }
        Value::Object(m) => {
            if first == "*" {
                for x in m.values_mut() {
                    set_all(x, rest, create, f)?;
                }
                return Ok(());
            }
            if !m.contains_key(first.as_str()) {
                if !create {
                    return Ok(());
                }
                m.insert(first.clone(), Value::Null);
            }
            match m.get_mut(first.as_str()) {
                Some(x) => set_all(x, rest, create, f),
                None => Ok(()),
            }
        }
        _ => {
            if create {
                Err(Error::Build(format!(
                    "cannot create field '{first}' inside a scalar"
                )))
            } else {
                Ok(())
            }
        }
    }
}
