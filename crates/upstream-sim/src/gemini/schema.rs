//! Gemini's `Schema` rules (tool parameters and `responseSchema`): only the OpenAPI subset's
//! fields, a known `type`, `properties` only on objects, `items` only on arrays, `enum` only on
//! strings, `required` naming defined properties, and — for function parameters — an object
//! must have properties.
//!
//! Two paths are kept because Google words the two kinds of error differently: JSON parse
//! errors name map entries by position (`parameters.properties[1].value.items`), validation
//! errors by key (`parameters.properties[city].items`).

use serde_json::{Map, Value};

use super::errors::{self, GoogleError};
use super::request::{get, snake};

const FIELDS: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "max_items",
    "min_items",
    "properties",
    "required",
    "min_properties",
    "max_properties",
    "min_length",
    "max_length",
    "pattern",
    "example",
    "any_of",
    "property_ordering",
    "default",
    "items",
    "minimum",
    "maximum",
];

const TYPES: &[&str] = &["TYPE_UNSPECIFIED", "STRING", "NUMBER", "INTEGER", "BOOLEAN", "ARRAY", "OBJECT", "NULL"];

/// Deeper schemas are refused rather than walked.
const MAX_DEPTH: usize = 64;

/// Where a schema sits, in both of Google's spellings.
#[derive(Clone)]
pub(crate) struct At {
    pub json: String,
    pub field: String,
}

impl At {
    pub(crate) fn new(path: &str) -> At {
        At { json: path.to_owned(), field: path.to_owned() }
    }

    fn child(&self, json: &str, field: &str) -> At {
        At { json: format!("{}.{json}", self.json), field: format!("{}.{field}", self.field) }
    }
}

/// Checks `schema`; `params` is true for a function declaration's `parameters`.
pub(crate) fn check(schema: &Value, at: &At, params: bool) -> Result<(), GoogleError> {
    check_node(schema, at, params, 0)
}

fn rule(at: &At, what: &str) -> GoogleError {
    errors::invalid_argument(format!("* GenerateContentRequest.{}{what}\n", at.field))
}

fn check_node(schema: &Value, at: &At, params: bool, depth: usize) -> Result<(), GoogleError> {
    if depth > MAX_DEPTH {
        return Err(rule(at, ": schema nesting is too deep"));
    }
    let Value::Object(obj) = schema else {
        return Err(errors::invalid_value(&at.json, &format!("(type.googleapis.com/google.ai.generativelanguage.v1beta.Schema), {schema}")));
    };
    for key in obj.keys() {
        if !FIELDS.contains(&snake(key).as_str()) {
            return Err(errors::unknown_field(key, &at.json));
        }
    }
    let ty = match get(obj, "type") {
        None => None,
        Some(Value::String(t)) if TYPES.iter().any(|k| k.eq_ignore_ascii_case(t)) => Some(t.to_ascii_uppercase()),
        Some(other) => return Err(errors::invalid_value(&format!("{}.type", at.json), &format!("(type.googleapis.com/google.ai.generativelanguage.v1beta.Type), {other}"))),
    };
    let is = |t: &str| ty.as_deref().is_none_or(|ty| ty == t);
    let properties = get(obj, "properties");
    if params && ty.as_deref() == Some("OBJECT") && properties.and_then(Value::as_object).is_none_or(Map::is_empty) {
        return Err(rule(at, ".properties: should be non-empty for OBJECT type"));
    }
    if let Some(props) = properties {
        if !is("OBJECT") {
            return Err(rule(at, ".properties: only allowed for OBJECT type"));
        }
        let Value::Object(props) = props else {
            return Err(errors::invalid_value(&format!("{}.properties", at.json), &format!("{props}")));
        };
        for (i, (name, sub)) in props.iter().enumerate() {
            check_node(sub, &at.child(&format!("properties[{i}].value"), &format!("properties[{name}]")), false, depth + 1)?;
        }
    }
    if let Some(required) = get(obj, "required") {
        let names = required.as_array().filter(|r| r.iter().all(Value::is_string));
        let Some(names) = names else {
            return Err(errors::invalid_value(&format!("{}.required", at.json), &format!("{required}")));
        };
        for (i, name) in names.iter().enumerate() {
            let defined = name.as_str().is_some_and(|n| properties.and_then(|p| p.get(n)).is_some());
            if !defined {
                return Err(rule(at, &format!(".required[{i}]: property is not defined")));
            }
        }
    }
    if let Some(items) = get(obj, "items") {
        if !is("ARRAY") {
            return Err(rule(at, ".items: only allowed for ARRAY type"));
        }
        check_node(items, &at.child("items", "items"), false, depth + 1)?;
    }
    if let Some(values) = get(obj, "enum") {
        if !is("STRING") {
            return Err(rule(at, ".enum: only allowed for STRING type"));
        }
        if !values.as_array().is_some_and(|v| v.iter().all(Value::is_string)) {
            return Err(errors::invalid_value(&format!("{}.enum", at.json), &format!("{values}")));
        }
    }
    if let Some(branches) = get(obj, "any_of") {
        let Value::Array(branches) = branches else {
            return Err(errors::invalid_value(&format!("{}.any_of", at.json), &format!("{branches}")));
        };
        for (i, b) in branches.iter().enumerate() {
            check_node(b, &at.child(&format!("any_of[{i}]"), &format!("any_of[{i}]")), false, depth + 1)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn message(schema: Value, params: bool) -> Option<String> {
        check(&schema, &At::new("tools[0].function_declarations[0].parameters"), params).err().map(|e| e.message)
    }

    #[test]
    fn googles_subset_passes() {
        let s = json!({"type": "OBJECT", "properties": {"a": {"type": "string", "enum": ["x"]}, "b": {"type": "ARRAY", "items": {"type": "INTEGER"}}}, "required": ["a"]});
        assert_eq!(message(s, true), None);
    }

    #[test]
    fn json_schema_extras_are_unknown_names() {
        let s = json!({"type": "object", "properties": {"city": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string", "additionalProperties": false}}}});
        assert_eq!(
            message(s, true).as_deref(),
            Some("Invalid JSON payload received. Unknown name \"additionalProperties\" at 'tools[0].function_declarations[0].parameters.properties[1].value.items': Cannot find field.")
        );
    }

    #[test]
    fn empty_object_parameters_and_misplaced_members() {
        assert_eq!(
            message(json!({"type": "object", "properties": {}}), true).as_deref(),
            Some("* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties: should be non-empty for OBJECT type\n")
        );
        assert!(message(json!({"type": "object"}), false).is_none());
        assert_eq!(
            message(json!({"type": "OBJECT", "properties": {"d": {"type": "STRING", "properties": {"x": {"type": "STRING"}}}}}), true).as_deref(),
            Some("* GenerateContentRequest.tools[0].function_declarations[0].parameters.properties[d].properties: only allowed for OBJECT type\n")
        );
        assert!(message(json!({"type": "OBJECT", "properties": {"a": {"type": "STRING"}}, "required": ["b"]}), true).is_some());
        assert!(message(json!({"type": "blob"}), false).is_some());
    }
}
