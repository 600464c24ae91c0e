//! `ward mcp-schema`: a Ward schema from an MCP server's tool descriptions.
//!
//! Each tool becomes an action (named by [`action_name`]) taken by an
//! `Agent` on the server's resource (`McpServer`), whose `with { … }`
//! arguments come from the tool's `inputSchema`: `string` → `String`,
//! `integer` → `Int`, `number` → `Decimal`, `boolean` → `Bool`, `array` →
//! `Set<T>`, `object` with `properties` → a record; an argument that is not
//! `required`, or may be `null`, is optional (`?`). What has no Ward type
//! (untyped values, unions, objects without properties, names that are not
//! words) is reported and left out: calls that pass it are refused until the
//! policy author declares it.

use std::time::Duration;

use serde_json::{Value as Json, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::gate::{action_name, is_reserved, is_word};

/// The schema text and what could not be mapped.
#[derive(Debug, Clone, PartialEq)]
pub struct Generated {
    pub text: String,
    /// One line per argument or tool left out, with the reason.
    pub unmapped: Vec<String>,
}

const MAX_DEPTH: usize = 16;

/// Maps a JSON Schema to a Ward type; `Ok((type, nullable))`.
fn ward_type(schema: &Json, root: &Json, depth: usize) -> Result<(String, bool), String> {
    if depth > MAX_DEPTH {
        return Err("nested too deeply".to_string());
    }
    let Some(obj) = schema.as_object() else { return Err("not a schema object".to_string()) };
    if let Some(Json::String(reference)) = obj.get("$ref") {
        let target = reference
            .strip_prefix("#/")
            .map(|path| path.split('/').try_fold(root, |v, seg| v.get(seg)))
            .and_then(|v| v)
            .ok_or_else(|| format!("reference `{reference}` cannot be resolved"))?;
        return ward_type(target, root, depth + 1);
    }
    for union in ["anyOf", "oneOf"] {
        if let Some(Json::Array(options)) = obj.get(union) {
            let non_null: Vec<&Json> =
                options.iter().filter(|o| o.get("type").and_then(Json::as_str) != Some("null")).collect();
            return match non_null.as_slice() {
                [one] => ward_type(one, root, depth + 1).map(|(t, _)| (t, non_null.len() < options.len())),
                _ => Err(format!("`{union}` of several types has no Ward type")),
            };
        }
    }
    let (ty, nullable) = match obj.get("type") {
        Some(Json::String(t)) => (t.as_str(), false),
        Some(Json::Array(types)) => {
            let non_null: Vec<&str> = types.iter().filter_map(Json::as_str).filter(|t| *t != "null").collect();
            match non_null.as_slice() {
                [one] => (*one, non_null.len() < types.len()),
                _ => return Err("a value of several types has no Ward type".to_string()),
            }
        }
        None if obj.get("enum").and_then(Json::as_array).is_some_and(|e| e.iter().all(Json::is_string)) => {
            ("string", false)
        }
        None if obj.get("const").is_some_and(Json::is_string) => ("string", false),
        None => return Err("no `type` (any value) has no Ward type".to_string()),
        Some(_) => return Err("`type` is neither a string nor a list".to_string()),
    };
    let mapped = match ty {
        "string" => "String".to_string(),
        "integer" => "Int".to_string(),
        "number" => "Decimal".to_string(),
        "boolean" => "Bool".to_string(),
        "array" => {
            let items = obj.get("items").ok_or("an array without `items`")?;
            let (inner, _) = ward_type(items, root, depth + 1).map_err(|e| format!("its items: {e}"))?;
            format!("Set<{inner}>")
        }
        "object" => record(obj, root, depth)?,
        other => return Err(format!("type `{other}` has no Ward type")),
    };
    Ok((mapped, nullable))
}

fn record(obj: &serde_json::Map<String, Json>, root: &Json, depth: usize) -> Result<String, String> {
    let Some(Json::Object(props)) = obj.get("properties") else {
        return Err("an object without `properties` has no Ward type".to_string());
    };
    if props.is_empty() {
        return Err("an object without `properties` has no Ward type".to_string());
    }
    let required = required(obj);
    let mut fields = Vec::new();
    // Sorted by name: the output must not depend on the JSON map's order
    // (serde_json's `preserve_order` feature changes it).
    let mut props: Vec<_> = props.iter().collect();
    props.sort_by(|a, b| a.0.cmp(b.0));
    for (name, schema) in props {
        if !is_word(name) {
            return Err(format!("field `{name}` is not a Ward name"));
        }
        let (ty, nullable) = ward_type(schema, root, depth + 1).map_err(|e| format!("field `{name}`: {e}"))?;
        let optional = nullable || !required.contains(&name.as_str());
        fields.push(format!("{name}{}: {ty}", if optional { "?" } else { "" }));
    }
    Ok(format!("{{ {} }}", fields.join(", ")))
}

fn required(obj: &serde_json::Map<String, Json>) -> Vec<&str> {
    obj.get("required")
        .and_then(Json::as_array)
        .map(|r| r.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default()
}

fn doc_lines(text: &str, indent: &str) -> String {
    let mut out = String::new();
    for line in text.lines().map(str::trim_end).take_while(|l| !l.trim().is_empty()).take(8) {
        out.push_str(&format!("{indent}/// {}\n", line.trim()));
    }
    out
}

/// The schema for `tools` (the `tools` list of `tools/list` results) of the
/// server named `server`.
pub fn generate(server: &str, tools: &[Json]) -> Generated {
    let mut name = action_name(server).to_lowercase();
    if is_reserved(&name) {
        name.push('_');
    }
    let mut unmapped = Vec::new();
    let mut actions = Vec::new();
    let mut seen: Vec<(String, String)> = Vec::new();
    for tool in tools {
        let Some(tool_name) = tool.get("name").and_then(Json::as_str) else {
            unmapped.push("a tool without a name".to_string());
            continue;
        };
        let action = action_name(tool_name);
        if let Some((_, other)) = seen.iter().find(|(a, _)| *a == action) {
            unmapped.push(format!("tool `{tool_name}`: its action name `{action}` is also tool `{other}`'s; left out"));
            continue;
        }
        seen.push((action.clone(), tool_name.to_string()));
        let input = tool.get("inputSchema").cloned().unwrap_or_else(|| json!({}));
        let required = input.as_object().map(required).unwrap_or_default();
        let mut fields = Vec::new();
        if let Some(Json::Object(props)) = input.get("properties") {
            // Sorted by name, whatever the map's order (see `record`).
            let mut props: Vec<_> = props.iter().collect();
            props.sort_by(|a, b| a.0.cmp(b.0));
            for (arg, schema) in props {
                if !is_word(arg) {
                    unmapped.push(format!("tool `{tool_name}`, argument `{arg}`: not a Ward name"));
                    continue;
                }
                match ward_type(schema, &input, 0) {
                    Ok((ty, nullable)) => {
                        let optional = nullable || !required.contains(&arg.as_str());
                        fields.push(format!("{arg}{}: {ty}", if optional { "?" } else { "" }));
                    }
                    Err(why) => unmapped.push(format!("tool `{tool_name}`, argument `{arg}`: {why}")),
                }
            }
        }
        let mut text = String::new();
        if let Some(description) = tool.get("description").and_then(Json::as_str) {
            text.push_str(&doc_lines(description, "  "));
        }
        if action != tool_name {
            text.push_str(&format!("  // MCP tool `{tool_name}`\n"));
        }
        let with = if fields.is_empty() { String::new() } else { format!(" with {{ {} }}", fields.join(", ")) };
        text.push_str(&format!("  action {action} by Agent on McpServer{with}\n"));
        actions.push(text);
    }
    let mut out = String::new();
    out.push_str(&format!(
        "// Generated by `ward mcp-schema` from the MCP server \"{}\" ({} tools).\n",
        server.replace(['\n', '\r'], " "),
        tools.len()
    ));
    out.push_str("// A starting point: see docs/mcp.md for the mapping and `@resource_from`.\n");
    for line in &unmapped {
        out.push_str(&format!("// not mapped: {line}\n"));
    }
    out.push_str(&format!("schema {name} {{\n"));
    out.push_str("  /// The agent behind the MCP client (`ward mcp-proxy --agent`).\n  entity Agent\n");
    out.push_str("  /// The MCP server (`ward mcp-proxy --resource`).\n  entity McpServer\n");
    out.push_str("  /// Supplied by the gateway: the MCP session of the call.\n  context { mcp_session: String }\n");
    for a in &actions {
        out.push('\n');
        out.push_str(a);
    }
    out.push_str("}\n");
    Generated { text: out, unmapped }
}

/// Starts `command`, initializes an MCP session over stdio, lists every
/// tool (following `nextCursor`) and returns the server's name and tools.
pub async fn fetch_tools(command: &[String], timeout: Duration) -> Result<(String, Vec<Json>), String> {
    let (mut child, mut input, output) = crate::stdio::spawn_server(command)?;
    let mut lines = BufReader::new(output).lines();
    let work = async {
        let init = json!({"protocolVersion": "2025-06-18", "capabilities": {},
                          "clientInfo": {"name": "ward-mcp-schema", "version": env!("CARGO_PKG_VERSION")}});
        let init = request(&mut input, &mut lines, 1, "initialize", init).await?;
        let name = init.pointer("/serverInfo/name").and_then(Json::as_str).unwrap_or("mcp_server").to_string();
        send(&mut input, &json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await?;
        let mut tools = Vec::new();
        let mut cursor: Option<Json> = None;
        for id in 2..1000 {
            let params = match &cursor {
                Some(c) => json!({"cursor": c}),
                None => json!({}),
            };
            let page = request(&mut input, &mut lines, id, "tools/list", params).await?;
            if let Some(Json::Array(items)) = page.get("tools") {
                tools.extend(items.iter().cloned());
            }
            match page.get("nextCursor") {
                Some(c) if !c.is_null() => cursor = Some(c.clone()),
                _ => break,
            }
        }
        Ok::<_, String>((name, tools))
    };
    let result = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| format!("the server did not answer within {} s", timeout.as_secs()))?;
    let _ = child.start_kill();
    result
}

async fn send(input: &mut tokio::process::ChildStdin, message: &Json) -> Result<(), String> {
    let line = format!("{}\n", crate::rpc::line(message));
    input.write_all(line.as_bytes()).await.map_err(|e| format!("cannot write to the server: {e}"))?;
    input.flush().await.map_err(|e| format!("cannot write to the server: {e}"))
}

/// Sends a request and waits for its response, skipping the server's own
/// requests and notifications.
async fn request(
    input: &mut tokio::process::ChildStdin,
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    id: u64,
    method: &str,
    params: Json,
) -> Result<Json, String> {
    send(input, &json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})).await?;
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| format!("cannot read the server: {e}"))?
            .ok_or_else(|| format!("the server exited before answering `{method}`"))?;
        let Ok(reply) = serde_json::from_str::<Json>(&line) else { continue };
        if reply.get("id") != Some(&json!(id)) || reply.get("method").is_some() {
            continue;
        }
        if let Some(error) = reply.get("error") {
            return Err(format!("the server refused `{method}`: {error}"));
        }
        return Ok(reply.get("result").cloned().unwrap_or(Json::Null));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn maps_json_schema_types() {
        let tools = vec![json!({
            "name": "send-email",
            "description": "Send an e-mail.\nTo anyone.",
            "inputSchema": {
                "type": "object",
                "properties": {
                    "to": {"type": "string"},
                    "cc": {"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]},
                    "count": {"type": "integer"},
                    "amount": {"type": ["number", "null"]},
                    "urgent": {"type": "boolean"},
                    "address": {"$ref": "#/$defs/Address"},
                    "anything": {},
                    "user-id": {"type": "string"}
                },
                "required": ["to", "count", "address"],
                "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
            }
        })];
        let g = generate("crm demo", &tools);
        assert!(g.text.contains("schema crm_demo {"), "{}", g.text);
        assert!(
            g.text.contains(
                "action send_email by Agent on McpServer with { address: { city: String }, amount?: Decimal, cc?: Set<String>, count: Int, to: String, urgent?: Bool }"
            ),
            "{}",
            g.text
        );
        assert!(g.text.contains("  /// Send an e-mail.\n  /// To anyone.\n"), "{}", g.text);
        assert_eq!(g.unmapped.len(), 2, "{:?}", g.unmapped);
        assert!(g.unmapped[0].contains("`anything`"));
        assert!(g.unmapped[1].contains("`user-id`"));
    }

    #[test]
    fn colliding_names_are_reported() {
        let tools = vec![json!({"name": "a-b"}), json!({"name": "a_b"}), json!({"inputSchema": {}})];
        let g = generate("x", &tools);
        assert!(g.text.contains("action a_b by Agent on McpServer\n"));
        assert_eq!(g.unmapped.len(), 2);
    }
}
