//! Reading and checking a `GenerateContentRequest` the way the Gemini API does, and keeping
//! what the simulator needs: word counts, the marked text of the last user turn, the offered
//! functions and the function-calling mode, and the output settings.
//!
//! Google's JSON parser accepts both spellings of a field (`maxOutputTokens` and
//! `max_output_tokens`) and refuses any other name; so does this one.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::errors::{self, GoogleError};
use super::schema::{self, At};
use crate::tokens::count_words;

const MARKER: &str = "[[sim:";

const TOP: &[&str] = &["model", "contents", "tools", "tool_config", "safety_settings", "system_instruction", "generation_config", "cached_content"];
const CONTENT: &[&str] = &["role", "parts"];
const PART: &[&str] = &[
    "text",
    "inline_data",
    "file_data",
    "function_call",
    "function_response",
    "executable_code",
    "code_execution_result",
    "thought",
    "thought_signature",
    "video_metadata",
    "part_metadata",
    "media_resolution",
];
/// The members of a part's `data` oneof: exactly one must be set.
const DATA: &[&str] = &["text", "inline_data", "file_data", "function_call", "function_response", "executable_code", "code_execution_result"];
const BLOB: &[&str] = &["mime_type", "data"];
const FILE_DATA: &[&str] = &["mime_type", "file_uri"];
const FUNCTION_CALL: &[&str] = &["id", "name", "args"];
const FUNCTION_RESPONSE: &[&str] = &["id", "name", "response", "will_continue", "scheduling", "parts"];
const TOOL: &[&str] = &["function_declarations", "google_search_retrieval", "code_execution", "google_search", "url_context", "computer_use", "file_search", "google_maps"];
const FUNCTION_DECLARATION: &[&str] = &["name", "description", "parameters", "parameters_json_schema", "response", "response_json_schema", "behavior"];
const TOOL_CONFIG: &[&str] = &["function_calling_config", "retrieval_config"];
const FUNCTION_CALLING_CONFIG: &[&str] = &["mode", "allowed_function_names"];
const MODES: &[&str] = &["MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"];
const GENERATION_CONFIG: &[&str] = &[
    "stop_sequences",
    "response_mime_type",
    "response_schema",
    "response_json_schema",
    "response_modalities",
    "candidate_count",
    "max_output_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "presence_penalty",
    "frequency_penalty",
    "response_logprobs",
    "logprobs",
    "enable_enhanced_civic_answers",
    "speech_config",
    "thinking_config",
    "image_config",
    "media_resolution",
];
const THINKING_CONFIG: &[&str] = &["include_thoughts", "thinking_budget", "thinking_level"];
const MIME_TYPES: &[&str] = &["text/plain", "application/json", "application/xml", "application/yaml", "text/x.enum"];

/// What the simulator keeps of a valid request.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    /// Words of each content's text parts, the system instruction included.
    pub words: Vec<u64>,
    /// Text of the last `user` turn, when it holds a `[[sim:` marker.
    pub marked: Option<String>,
    pub functions: Vec<String>,
    pub mode: Option<String>,
    pub allowed: Vec<String>,
    pub max_output_tokens: Option<u64>,
    pub candidate_count: Option<u64>,
}

/// `maxOutputTokens` → `max_output_tokens`.
pub(crate) fn snake(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for c in name.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn camel(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = false;
    for c in name.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.push(c.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// A field under either spelling; `name` is given in snake_case.
pub(crate) fn get<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    obj.get(name).or_else(|| obj.get(&camel(name))).filter(|v| !v.is_null())
}

fn check_keys(obj: &Map<String, Value>, allowed: &[&str], at: &str) -> Result<(), GoogleError> {
    match obj.keys().find(|k| !allowed.contains(&snake(k).as_str())) {
        Some(k) => Err(errors::unknown_field(k, at)),
        None => Ok(()),
    }
}

fn object<'a>(v: &'a Value, at: &str, proto: &str) -> Result<&'a Map<String, Value>, GoogleError> {
    v.as_object().ok_or_else(|| errors::invalid_value(at, &format!("(type.googleapis.com/google.ai.generativelanguage.v1beta.{proto}), {v}")))
}

fn array<'a>(v: &'a Value, at: &str) -> Result<&'a Vec<Value>, GoogleError> {
    v.as_array().ok_or_else(|| errors::invalid_value(at, &format!("Starting an array on a scalar field: {v}")))
}

fn count(v: Option<&Value>, at: &str) -> Result<Option<u64>, GoogleError> {
    match v {
        None => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
        // Google's JSON takes int32 fields as strings too.
        Some(Value::String(s)) if s.parse::<u64>().is_ok() => Ok(s.parse().ok()),
        Some(other) => Err(errors::invalid_value(at, &format!("(TYPE_INT32), {other}"))),
    }
}

/// Checks the whole request and keeps what the simulator uses.
pub(crate) fn parse(body: &Value) -> Result<Parsed, GoogleError> {
    let top = object(body, "", "GenerateContentRequest")?;
    check_keys(top, TOP, "")?;
    let mut parsed = Parsed::default();

    let contents = match get(top, "contents") {
        Some(c) => array(c, "contents")?,
        None => return Err(errors::invalid_argument("* GenerateContentRequest.contents: contents is not specified\n")),
    };
    if contents.is_empty() {
        return Err(errors::invalid_argument("* GenerateContentRequest.contents: contents is not specified\n"));
    }
    for (i, c) in contents.iter().enumerate() {
        let at = format!("contents[{i}]");
        let (words, text, role) = content(c, &at, true)?;
        parsed.words.push(words);
        if role == "user" {
            parsed.marked = text;
        }
    }
    if let Some(system) = get(top, "system_instruction") {
        let (words, _, _) = content(system, "system_instruction", false)?;
        parsed.words.push(words);
    }

    if let Some(tools) = get(top, "tools") {
        for (i, tool) in array(tools, "tools")?.iter().enumerate() {
            let at = format!("tools[{i}]");
            let tool = object(tool, &at, "Tool")?;
            check_keys(tool, TOOL, &at)?;
            let Some(decls) = get(tool, "function_declarations") else { continue };
            for (j, decl) in array(decls, &format!("{at}.function_declarations"))?.iter().enumerate() {
                let at = format!("{at}.function_declarations[{j}]");
                let decl = object(decl, &at, "FunctionDeclaration")?;
                check_keys(decl, FUNCTION_DECLARATION, &at)?;
                let name = get(decl, "name").and_then(Value::as_str).unwrap_or("");
                if name.is_empty() {
                    return Err(errors::invalid_argument(format!("* GenerateContentRequest.{at}.name: Name cannot be empty.\n")));
                }
                if let Some(params) = get(decl, "parameters") {
                    schema::check(params, &At::new(&format!("{at}.parameters")), true)?;
                }
                parsed.functions.push(name.to_owned());
            }
        }
    }

    if let Some(config) = get(top, "tool_config") {
        let config = object(config, "tool_config", "ToolConfig")?;
        check_keys(config, TOOL_CONFIG, "tool_config")?;
        if let Some(fcc) = get(config, "function_calling_config") {
            let at = "tool_config.function_calling_config";
            let fcc = object(fcc, at, "FunctionCallingConfig")?;
            check_keys(fcc, FUNCTION_CALLING_CONFIG, at)?;
            if let Some(mode) = get(fcc, "mode") {
                match mode.as_str() {
                    Some(m) if MODES.contains(&m) => parsed.mode = Some(m.to_owned()),
                    _ => return Err(errors::invalid_value(&format!("{at}.mode"), &format!("(type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionCallingConfig.Mode), {mode}"))),
                }
            }
            if let Some(names) = get(fcc, "allowed_function_names") {
                parsed.allowed = array(names, &format!("{at}.allowed_function_names"))?.iter().filter_map(Value::as_str).map(str::to_owned).collect();
            }
        }
    }

    if let Some(config) = get(top, "generation_config") {
        let at = "generation_config";
        let config = object(config, at, "GenerationConfig")?;
        check_keys(config, GENERATION_CONFIG, at)?;
        if let Some(thinking) = get(config, "thinking_config") {
            check_keys(object(thinking, "generation_config.thinking_config", "ThinkingConfig")?, THINKING_CONFIG, "generation_config.thinking_config")?;
        }
        if let Some(mime) = get(config, "response_mime_type") {
            if !mime.as_str().is_some_and(|m| MIME_TYPES.contains(&m)) {
                return Err(errors::invalid_argument(
                    "* GenerateContentRequest.generation_config.response_mime_type: allowed mimetypes are `text/plain`, `application/json`, `application/xml`, `application/yaml` and `text/x.enum`.\n",
                ));
            }
        }
        if let Some(s) = get(config, "response_schema") {
            schema::check(s, &At::new("generation_config.response_schema"), false)?;
        }
        parsed.max_output_tokens = count(get(config, "max_output_tokens"), "generation_config.max_output_tokens")?;
        parsed.candidate_count = count(get(config, "candidate_count"), "generation_config.candidate_count")?;
    }
    Ok(parsed)
}

/// One `Content`: its text words, its text when marked, and its role (`user` when absent).
fn content(c: &Value, at: &str, check_role: bool) -> Result<(u64, Option<String>, String), GoogleError> {
    let c = object(c, at, "Content")?;
    check_keys(c, CONTENT, at)?;
    let role = get(c, "role").and_then(Value::as_str).unwrap_or("user").to_owned();
    if check_role && role != "user" && role != "model" {
        return Err(errors::invalid_argument("Please use a valid role: user, model."));
    }
    let parts = match get(c, "parts") {
        Some(p) => array(p, &format!("{at}.parts"))?.as_slice(),
        None => &[],
    };
    if parts.is_empty() {
        return Err(errors::invalid_argument(format!("* GenerateContentRequest.{at}.parts: contents.parts must not be empty.\n")));
    }
    let mut words = 0;
    let mut marked: Option<String> = None;
    for (k, p) in parts.iter().enumerate() {
        let at = format!("{at}.parts[{k}]");
        let p = object(p, &at, "Part")?;
        check_keys(p, PART, &at)?;
        let set: Vec<&str> = DATA.iter().copied().filter(|f| get(p, f).is_some()).collect();
        match set.as_slice() {
            [] => return Err(errors::invalid_argument(format!("* GenerateContentRequest.{at}.data: required oneof field 'data' must have one initialized field\n"))),
            [_] => {}
            [_, second, ..] => {
                return Err(errors::invalid_argument(format!("Invalid JSON payload received. Oneof field 'data' is already set. Cannot set '{}'", camel(second))));
            }
        }
        if let Some(text) = get(p, "text") {
            let text = text.as_str().ok_or_else(|| errors::invalid_value(&format!("{at}.text"), &format!("(TYPE_STRING), {text}")))?;
            words += count_words(text);
            if text.contains(MARKER) {
                match &mut marked {
                    Some(m) => {
                        m.push(' ');
                        m.push_str(text);
                    }
                    None => marked = Some(text.to_owned()),
                }
            }
        }
        if let Some(blob) = get(p, "inline_data") {
            let at = format!("{at}.inline_data");
            let blob = object(blob, &at, "Blob")?;
            check_keys(blob, BLOB, &at)?;
            let data = get(blob, "data").and_then(Value::as_str).unwrap_or("");
            let decodes = base64::engine::general_purpose::STANDARD.decode(data).is_ok() || base64::engine::general_purpose::URL_SAFE.decode(data).is_ok();
            if !decodes {
                let shown: String = data.chars().take(40).collect();
                return Err(errors::invalid_value(&format!("{at}.data"), &format!("(TYPE_BYTES), Base64 decoding failed for \"{shown}\"")));
            }
            if get(blob, "mime_type").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(errors::invalid_argument(format!("* GenerateContentRequest.{at}.mime_type: mime_type must be specified\n")));
            }
        }
        if let Some(file) = get(p, "file_data") {
            let at = format!("{at}.file_data");
            let file = object(file, &at, "FileData")?;
            check_keys(file, FILE_DATA, &at)?;
            if get(file, "file_uri").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(errors::invalid_argument(format!("* GenerateContentRequest.{at}.file_uri: file_uri must be specified\n")));
            }
        }
        if let Some(call) = get(p, "function_call") {
            let at = format!("{at}.function_call");
            let call = object(call, &at, "FunctionCall")?;
            check_keys(call, FUNCTION_CALL, &at)?;
            if let Some(args) = get(call, "args") {
                object(args, &format!("{at}.args"), "Struct")?;
            }
        }
        if let Some(response) = get(p, "function_response") {
            let at = format!("{at}.function_response");
            let response = object(response, &at, "FunctionResponse")?;
            check_keys(response, FUNCTION_RESPONSE, &at)?;
            if get(response, "name").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(errors::invalid_argument(format!("* GenerateContentRequest.{at}.name: Name cannot be empty.\n")));
            }
            if let Some(r) = get(response, "response") {
                object(r, &format!("{at}.response"), "Struct")?;
            }
        }
    }
    Ok((words, marked, role))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn err(body: Value) -> String {
        parse(&body).err().map(|e| e.message).unwrap_or_default()
    }

    #[test]
    fn reads_words_marks_tools_and_settings() {
        let p = parse(&json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hi [[sim:tool]] there"}, {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}]},
                {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "skip_thought_signature_validator"}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": 1}}}]}
            ],
            "systemInstruction": {"parts": [{"text": "Be brief."}]},
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {"a": {"type": "INTEGER"}}}}]}],
            "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["f"]}},
            "generation_config": {"maxOutputTokens": 5, "candidateCount": "2", "responseMimeType": "application/json"}
        }))
        .unwrap();
        assert_eq!(p.words, vec![3, 0, 0, 2]);
        assert_eq!(p.marked, None, "the last user turn holds no marker");
        assert_eq!(p.functions, vec!["f"]);
        assert_eq!(p.mode.as_deref(), Some("ANY"));
        assert_eq!(p.allowed, vec!["f"]);
        assert_eq!((p.max_output_tokens, p.candidate_count), (Some(5), Some(2)));
    }

    #[test]
    fn refuses_what_google_refuses() {
        assert_eq!(err(json!({"contents": [{"parts": [{"text": "x"}]}], "messages": []})), "Invalid JSON payload received. Unknown name \"messages\": Cannot find field.");
        assert_eq!(
            err(json!({"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"max_tokens": 3}})),
            "Invalid JSON payload received. Unknown name \"max_tokens\" at 'generation_config': Cannot find field."
        );
        assert_eq!(err(json!({"contents": []})), "* GenerateContentRequest.contents: contents is not specified\n");
        assert_eq!(err(json!({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]})), "Please use a valid role: user, model.");
        assert_eq!(err(json!({"contents": [{"role": "user", "parts": []}]})), "* GenerateContentRequest.contents[0].parts: contents.parts must not be empty.\n");
        assert!(err(json!({"contents": [{"parts": [{"text": "x", "functionCall": {"name": "f"}}]}]})).contains("Oneof"));
        assert!(err(json!({"contents": [{"parts": [{"inlineData": {"mimeType": "image/png", "data": "not base64!"}}]}]})).contains("Base64 decoding failed"));
        assert!(err(json!({"contents": [{"parts": [{"text": "x"}]}], "toolConfig": {"functionCallingConfig": {"mode": "any"}}})).starts_with("Invalid value at 'tool_config.function_calling_config.mode'"));
        assert!(err(json!({"contents": [{"parts": [{"image_url": {"url": "x"}}]}]})).contains("Unknown name \"image_url\" at 'contents[0].parts[0]'"));
    }
}
