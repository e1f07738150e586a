//! JSON Schema (what OpenAI clients send for tool parameters and `json_schema` outputs) to the
//! OpenAPI subset Gemini's `Schema` accepts for `parameters` and `responseSchema`.
//!
//! Gemini refuses a request whose schema holds a field it does not know (`Unknown name
//! "additionalProperties"`), so the translation keeps only what `Schema` has and rewrites what
//! it can express another way:
//!
//! - kept: `type` (upper-cased), `description`, `title`, `nullable`, `enum` (strings only),
//!   `format` (only those Gemini accepts for the type), `properties`, `required` (only names
//!   that are properties), `items`, `anyOf`, `minItems`/`maxItems`, `minLength`/`maxLength`,
//!   `minProperties`/`maxProperties`, `minimum`/`maximum`, `pattern`, `default`, `example`,
//!   `propertyOrdering`;
//! - rewritten: `type: [T, "null"]` → `type: T, nullable: true` (several non-null types become
//!   `anyOf`); `oneOf` → `anyOf`; a `{"type":"null"}` branch of `anyOf` → `nullable`; `const`
//!   (string) → a one-value `enum`; `examples` → `example` (the first); local `$ref`s into
//!   `$defs`/`definitions` are inlined; `allOf` members are merged;
//! - dropped: everything else — `additionalProperties`, `$schema`, `$id`, `$comment`,
//!   `patternProperties`, `not`, `if`/`then`/`else`, `multipleOf`, `exclusiveMinimum`/
//!   `exclusiveMaximum`, `uniqueItems`, `strict`, non-string enums, empty `properties` (Gemini
//!   rejects an empty one), `properties`/`required` on a non-object and `items` on a non-array
//!   schema (Gemini refuses both). A recursive `$ref`, which Gemini cannot express, and anything
//!   nested deeper than [`MAX_DEPTH`] become an unconstrained string. A free-form object nested
//!   inside parameters stays `{"type":"OBJECT"}`.

use serde_json::{Map, Value};

/// Deeper schemas are cut here (Gemini caps nesting well below this anyway).
pub const MAX_DEPTH: usize = 32;

/// The Gemini form of `schema`.
pub fn to_gemini(schema: &Value) -> Value {
    let defs = definitions(schema);
    let mut refs = Vec::new();
    convert(schema, &defs, &mut refs, 0)
}

/// `$defs` and `definitions` of the root, merged.
fn definitions(root: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    for key in ["definitions", "$defs"] {
        if let Some(Value::Object(m)) = root.get(key) {
            out.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    out
}

fn fallback() -> Value {
    let mut m = Map::new();
    m.insert("type".to_owned(), Value::String("STRING".to_owned()));
    Value::Object(m)
}

/// `refs` is the chain of `$ref` names being inlined, to spot recursion.
fn convert(node: &Value, defs: &Map<String, Value>, refs: &mut Vec<String>, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return fallback();
    }
    let Value::Object(obj) = node else {
        // `true`, `false` or garbage: nothing Gemini can express.
        return fallback();
    };
    if let Some(Value::String(reference)) = obj.get("$ref") {
        let name = reference.strip_prefix("#/$defs/").or_else(|| reference.strip_prefix("#/definitions/"));
        let Some(name) = name else { return fallback() };
        let Some(target) = defs.get(name) else { return fallback() };
        if refs.iter().any(|r| r == name) {
            return fallback();
        }
        refs.push(name.to_owned());
        let mut out = convert(target, defs, refs, depth + 1);
        refs.pop();
        // A description next to the `$ref` describes this use of it.
        if let (Value::Object(out), Some(d @ Value::String(_))) = (&mut out, obj.get("description")) {
            out.insert("description".to_owned(), d.clone());
        }
        return out;
    }

    let mut out = Map::new();
    let mut nullable = obj.get("nullable").and_then(Value::as_bool).unwrap_or(false);

    // type
    let mut types: Vec<String> = match obj.get("type") {
        Some(Value::String(t)) => vec![t.clone()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    };
    if types.iter().any(|t| t == "null") {
        nullable = true;
        types.retain(|t| t != "null");
    }
    let mut ty = match types.as_slice() {
        [one] => Some(one.to_ascii_uppercase()),
        _ => None,
    };
    if types.len() > 1 {
        let branches = types.iter().map(|t| Value::Object(Map::from_iter([("type".to_owned(), Value::String(t.to_ascii_uppercase()))])));
        out.insert("anyOf".to_owned(), Value::Array(branches.collect()));
    }

    // enum / const (Gemini enums are strings of a STRING schema)
    let enum_values: Option<Vec<Value>> = match (obj.get("enum"), obj.get("const")) {
        (Some(Value::Array(values)), _) if !values.is_empty() && values.iter().all(Value::is_string) => Some(values.clone()),
        (_, Some(c @ Value::String(_))) => Some(vec![c.clone()]),
        _ => None,
    };
    if let Some(values) = enum_values {
        if ty.as_deref().is_none_or(|t| t == "STRING") {
            ty = Some("STRING".to_owned());
            out.insert("enum".to_owned(), Value::Array(values));
        }
    }

    // object
    let mut properties = Map::new();
    if let Some(Value::Object(props)) = obj.get("properties") {
        for (name, sub) in props {
            properties.insert(name.clone(), convert(sub, defs, refs, depth + 1));
        }
    }
    let mut required: Vec<Value> = match obj.get("required") {
        Some(Value::Array(r)) => r.iter().filter(|n| n.as_str().is_some_and(|n| properties.contains_key(n))).cloned().collect(),
        _ => Vec::new(),
    };

    // allOf: merge the members into this node.
    if let Some(Value::Array(members)) = obj.get("allOf") {
        for member in members {
            if let Value::Object(m) = convert(member, defs, refs, depth + 1) {
                merge_member(&mut out, &mut properties, &mut required, &mut ty, m);
            }
        }
    }

    // anyOf / oneOf
    let branches = obj.get("anyOf").or_else(|| obj.get("oneOf"));
    if let Some(Value::Array(branches)) = branches {
        let mut converted = Vec::new();
        for b in branches {
            if b.get("type").and_then(Value::as_str) == Some("null") {
                nullable = true;
                continue;
            }
            converted.push(convert(b, defs, refs, depth + 1));
        }
        match converted.len() {
            0 => {}
            1 => {
                if let Some(Value::Object(m)) = converted.pop() {
                    merge_member(&mut out, &mut properties, &mut required, &mut ty, m);
                }
            }
            _ => {
                out.insert("anyOf".to_owned(), Value::Array(converted));
            }
        }
    }

    if ty.is_none() && !out.contains_key("anyOf") {
        if !properties.is_empty() {
            ty = Some("OBJECT".to_owned());
        } else if obj.contains_key("items") {
            ty = Some("ARRAY".to_owned());
        }
    }
    if let Some(t) = &ty {
        out.insert("type".to_owned(), Value::String(t.clone()));
    }
    if nullable {
        out.insert("nullable".to_owned(), Value::Bool(true));
    }
    for key in ["description", "title", "pattern"] {
        if let Some(v @ Value::String(_)) = obj.get(key) {
            out.entry(key.to_owned()).or_insert_with(|| v.clone());
        }
    }
    if let Some(Value::String(format)) = obj.get("format") {
        if format_allowed(ty.as_deref(), format) {
            out.insert("format".to_owned(), Value::String(format.clone()));
        }
    }
    for key in ["minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties", "minimum", "maximum"] {
        if let Some(v @ Value::Number(_)) = obj.get(key) {
            out.insert(key.to_owned(), v.clone());
        }
    }
    if let Some(v) = obj.get("default") {
        out.insert("default".to_owned(), v.clone());
    }
    match (obj.get("example"), obj.get("examples")) {
        (Some(v), _) => {
            out.insert("example".to_owned(), v.clone());
        }
        (None, Some(Value::Array(vs))) if !vs.is_empty() => {
            out.insert("example".to_owned(), vs[0].clone());
        }
        _ => {}
    }
    if let Some(Value::Array(order)) = obj.get("propertyOrdering") {
        if order.iter().all(Value::is_string) {
            out.insert("propertyOrdering".to_owned(), Value::Array(order.clone()));
        }
    }
    // Gemini refuses `properties` and `items` on a schema of another type.
    if ty.as_deref().is_some_and(|t| t != "OBJECT") {
        properties.clear();
        required.clear();
    }
    let items = obj.get("items").filter(|_| ty.as_deref().is_none_or(|t| t == "ARRAY"));
    match items {
        Some(items @ Value::Object(_)) => {
            out.insert("items".to_owned(), convert(items, defs, refs, depth + 1));
        }
        // Tuple form: Gemini has one item schema; the first is the best guess.
        Some(Value::Array(items)) if !items.is_empty() => {
            out.insert("items".to_owned(), convert(&items[0], defs, refs, depth + 1));
        }
        _ => {}
    }
    if !properties.is_empty() {
        out.insert("properties".to_owned(), Value::Object(properties));
    }
    if !required.is_empty() {
        out.insert("required".to_owned(), Value::Array(required));
    }
    Value::Object(out)
}

/// Folds a converted `allOf` member (or the only branch of an `anyOf`) into the node.
fn merge_member(out: &mut Map<String, Value>, properties: &mut Map<String, Value>, required: &mut Vec<Value>, ty: &mut Option<String>, mut member: Map<String, Value>) {
    if let Some(Value::Object(props)) = member.remove("properties") {
        for (k, v) in props {
            properties.entry(k).or_insert(v);
        }
    }
    if let Some(Value::Array(req)) = member.remove("required") {
        for r in req {
            if !required.contains(&r) {
                required.push(r);
            }
        }
    }
    if let Some(Value::String(t)) = member.remove("type") {
        ty.get_or_insert(t);
    }
    for (k, v) in member {
        out.entry(k).or_insert(v);
    }
}

/// The formats Gemini accepts, per type; others are refused with a 400, so they are dropped.
fn format_allowed(ty: Option<&str>, format: &str) -> bool {
    match ty {
        Some("STRING") => matches!(format, "enum" | "date-time"),
        Some("NUMBER") => matches!(format, "float" | "double"),
        Some("INTEGER") => matches!(format, "int32" | "int64"),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn openai_strict_schema_becomes_gemini_subset() {
        let schema = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
                "when": {"type": "string", "format": "date-time"},
                "email": {"type": "string", "format": "email"},
                "tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}
            },
            "required": ["city", "unit", "ghost"],
            "additionalProperties": false
        });
        let out = to_gemini(&schema);
        assert_eq!(
            out,
            json!({
                "type": "OBJECT",
                "properties": {
                    "city": {"type": "STRING", "description": "City name"},
                    "unit": {"type": "STRING", "enum": ["c", "f"], "nullable": true},
                    "when": {"type": "STRING", "format": "date-time"},
                    "email": {"type": "STRING"},
                    "tags": {"type": "ARRAY", "items": {"type": "STRING"}}
                },
                "required": ["city", "unit"]
            })
        );
    }

    #[test]
    fn refs_are_inlined_and_recursion_is_cut() {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/A"}, "n": {"$ref": "#/definitions/Node"}},
            "$defs": {"A": {"type": "integer", "const": 3}},
            "definitions": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/definitions/Node"}}}}
        });
        let out = to_gemini(&schema);
        assert_eq!(out["properties"]["a"], json!({"type": "INTEGER"}));
        assert_eq!(out["properties"]["n"]["properties"]["next"], json!({"type": "STRING"}));
    }

    #[test]
    fn any_of_with_null_becomes_nullable_and_one_of_becomes_any_of() {
        let out = to_gemini(&json!({"anyOf": [{"type": "number"}, {"type": "null"}]}));
        assert_eq!(out, json!({"type": "NUMBER", "nullable": true}));
        let out = to_gemini(&json!({"oneOf": [{"type": "number"}, {"type": "string"}]}));
        assert_eq!(out, json!({"anyOf": [{"type": "NUMBER"}, {"type": "STRING"}]}));
    }

    #[test]
    fn all_of_members_merge() {
        let out = to_gemini(&json!({"allOf": [
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            {"properties": {"b": {"type": "boolean"}}}
        ]}));
        assert_eq!(out["type"], "OBJECT");
        assert_eq!(out["properties"]["b"]["type"], "BOOLEAN");
        assert_eq!(out["required"], json!(["a"]));
    }

    #[test]
    fn members_of_the_wrong_type_are_dropped() {
        let out = to_gemini(&json!({"type": "string", "properties": {"a": {"type": "string"}}, "required": ["a"], "items": {"type": "string"}}));
        assert_eq!(out, json!({"type": "STRING"}));
    }

    #[test]
    fn deep_nesting_is_cut() {
        let mut s = json!({"type": "string"});
        for _ in 0..100 {
            s = json!({"type": "array", "items": s});
        }
        let out = to_gemini(&s);
        let mut depth = 0;
        let mut node = &out;
        while let Some(items) = node.get("items") {
            node = items;
            depth += 1;
        }
        assert!(depth <= MAX_DEPTH + 1);
    }
}
