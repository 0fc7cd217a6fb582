//! A small JSON Schema (draft 2020-12) checker for the event schemas in
//! `docs/events/`: the subset those schemas use. A keyword it does not know
//! fails the check loudly, so a schema can never pass by using something
//! this checker silently ignores.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `docs/events/` of this checkout.
pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/events")
}

/// The schema of `event_type` (`docs/events/<type>.schema.json`), if there is one.
pub fn event_schema(event_type: &str) -> Option<Value> {
    let text =
        std::fs::read_to_string(events_dir().join(format!("{event_type}.schema.json"))).ok()?;
    Some(serde_json::from_str(&text).unwrap_or_else(|e| panic!("{event_type}: not JSON: {e}")))
}

/// Every violation of `schema` by `value` (empty: valid).
pub fn violations(schema: &Value, value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    check(schema, schema, value, "$", &mut out);
    out
}

/// Panics with the violations unless `value` is valid.
pub fn assert_valid(schema: &Value, value: &Value) {
    let v = violations(schema, value);
    assert!(v.is_empty(), "{} violates {}: {v:?}", value, schema["$id"]);
}

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        other => panic!("unknown type {other:?}"),
    }
}

fn check(root: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let Some(schema) = schema.as_object() else {
        match schema.as_bool() {
            Some(true) => return,
            Some(false) => {
                out.push(format!("{at}: nothing is allowed here"));
                return;
            }
            None => panic!("{at}: a schema is an object or a boolean"),
        }
    };
    for (keyword, arg) in schema {
        match keyword.as_str() {
            "$schema" | "$id" | "title" | "description" | "$defs" | "examples" | "$comment" => {}
            "$ref" => check(root, resolve(root, arg, at), v, at, out),
            "type" | "const" | "enum" => check_value(keyword, arg, v, at, out),
            "required" | "properties" | "additionalProperties" | "items" => {
                check_members(root, schema, keyword, arg, v, at, out)
            }
            "minimum" | "minLength" | "maxLength" | "pattern" | "format" => {
                check_scalar(keyword, arg, v, at, out)
            }
            "allOf" | "anyOf" | "oneOf" => check_combination(root, keyword, arg, v, at, out),
            other => panic!("{at}: the checker does not know the keyword {other:?}"),
        }
    }
}

/// The schema a local `$ref` (`#/…`) points at.
fn resolve<'a>(root: &'a Value, arg: &Value, at: &str) -> &'a Value {
    let path = arg
        .as_str()
        .and_then(|r| r.strip_prefix("#/"))
        .unwrap_or_else(|| panic!("{at}: only local $ref: {arg}"));
    path.split('/')
        .try_fold(root, |node, part| node.get(part))
        .unwrap_or_else(|| panic!("{at}: unresolved $ref {arg}"))
}

/// `type`, `const` and `enum`: what the value itself may be.
fn check_value(keyword: &str, arg: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    match keyword {
        "type" => {
            let ok = match arg {
                Value::String(t) => type_matches(t, v),
                Value::Array(ts) => ts.iter().any(|t| type_matches(t.as_str().unwrap(), v)),
                _ => panic!("{at}: bad type {arg}"),
            };
            if !ok {
                out.push(format!("{at}: {v} is not of type {arg}"));
            }
        }
        "const" => {
            if v != arg {
                out.push(format!("{at}: {v} is not {arg}"));
            }
        }
        _ => {
            if !arg.as_array().unwrap().contains(v) {
                out.push(format!("{at}: {v} is not one of {arg}"));
            }
        }
    }
}

/// `required`, `properties`, `additionalProperties` (of an object) and
/// `items` (of an array): what the members may be.
fn check_members(
    root: &Value,
    schema: &serde_json::Map<String, Value>,
    keyword: &str,
    arg: &Value,
    v: &Value,
    at: &str,
    out: &mut Vec<String>,
) {
    match (keyword, v) {
        ("required", Value::Object(o)) => {
            for key in arg.as_array().unwrap() {
                if !o.contains_key(key.as_str().unwrap()) {
                    out.push(format!("{at}: {key} is missing"));
                }
            }
        }
        ("properties", Value::Object(o)) => {
            for (key, sub) in arg.as_object().unwrap() {
                if let Some(value) = o.get(key) {
                    check(root, sub, value, &format!("{at}.{key}"), out);
                }
            }
        }
        ("additionalProperties", Value::Object(o)) => {
            let known = schema.get("properties").and_then(Value::as_object);
            for (key, value) in o {
                if !known.is_some_and(|k| k.contains_key(key)) {
                    check(root, arg, value, &format!("{at}.{key}"), out);
                }
            }
        }
        ("items", Value::Array(a)) => {
            for (i, value) in a.iter().enumerate() {
                check(root, arg, value, &format!("{at}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// `minimum` (of a number) and `minLength`, `maxLength`, `pattern`,
/// `format` (of a string).
fn check_scalar(keyword: &str, arg: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    if keyword == "minimum" {
        if let (Some(n), Some(min)) = (v.as_f64(), arg.as_f64()) {
            if n < min {
                out.push(format!("{at}: {n} < {min}"));
            }
        }
        return;
    }
    let Some(s) = v.as_str() else { return };
    match keyword {
        "minLength" | "maxLength" => {
            let len = s.chars().count() as u64;
            let bound = arg.as_u64().unwrap();
            if (keyword == "minLength" && len < bound) || (keyword == "maxLength" && len > bound) {
                out.push(format!("{at}: length {len} breaks {keyword} {bound}"));
            }
        }
        "pattern" => {
            let re = regex::Regex::new(arg.as_str().unwrap())
                .unwrap_or_else(|e| panic!("{at}: bad pattern {arg}: {e}"));
            if !re.is_match(s) {
                out.push(format!("{at}: {s:?} does not match {arg}"));
            }
        }
        _ => {
            let ok = match arg.as_str().unwrap() {
                "date-time" => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
                "uuid" => uuid::Uuid::parse_str(s).is_ok() && s.len() == 36,
                other => panic!("{at}: unknown format {other:?}"),
            };
            if !ok {
                out.push(format!("{at}: {s:?} is not a {arg}"));
            }
        }
    }
}

/// `allOf`, `anyOf`, `oneOf`: how many of the subschemas must pass.
fn check_combination(
    root: &Value,
    keyword: &str,
    arg: &Value,
    v: &Value,
    at: &str,
    out: &mut Vec<String>,
) {
    let results: Vec<Vec<String>> = arg
        .as_array()
        .unwrap()
        .iter()
        .map(|sub| {
            let mut o = Vec::new();
            check(root, sub, v, at, &mut o);
            o
        })
        .collect();
    let passing = results.iter().filter(|r| r.is_empty()).count();
    let ok = match keyword {
        "allOf" => passing == results.len(),
        "anyOf" => passing >= 1,
        _ => passing == 1,
    };
    if !ok {
        out.push(format!(
            "{at}: {keyword} fails ({passing} of {} pass): {:?}",
            results.len(),
            results.concat()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_checker_refuses_what_each_keyword_forbids() {
        let schema = json!({
            "type": "object",
            "required": ["a"],
            "properties": {
                "a": { "type": "integer", "minimum": 1 },
                "b": { "anyOf": [{ "const": "x" }, { "pattern": "^y+$", "maxLength": 3 }] },
                "c": { "type": "string", "format": "date-time" }
            },
            "additionalProperties": false
        });
        assert!(
            violations(
                &schema,
                &json!({ "a": 1, "b": "yy", "c": "2026-01-01T00:00:00Z" })
            )
            .is_empty()
        );
        for bad in [
            json!({}),
            json!({ "a": 0 }),
            json!({ "a": "1" }),
            json!({ "a": 1, "b": "yyyy" }),
            json!({ "a": 1, "b": "z" }),
            json!({ "a": 1, "c": "yesterday" }),
            json!({ "a": 1, "d": true }),
        ] {
            assert!(!violations(&schema, &bad).is_empty(), "{bad}");
        }
    }
}
