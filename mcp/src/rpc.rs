//! JSON-RPC 2.0 messages as the proxy sees them.

use serde_json::{Value as Json, json};

/// Error codes the gateway answers with (JSON-RPC's implementation-defined
/// server-error range, -32000 to -32099, plus the standard ones).
pub mod code {
    /// The message is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The message is JSON but not a JSON-RPC message.
    pub const INVALID_REQUEST: i64 = -32600;
    /// `tools/call` without a tool name, or with arguments that are not an object.
    pub const INVALID_PARAMS: i64 = -32602;
    /// The policy denied the call (or a mask could not be applied to its result).
    pub const DENIED: i64 = -32001;
    /// The policy requires a human approval the gateway cannot obtain.
    pub const APPROVAL_REQUIRED: i64 = -32002;
    /// The method is not one the gateway passes.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// The server did not answer in time.
    pub const TIMEOUT: i64 = -32003;
    /// The server is not running (it exited, or could not be reached).
    pub const SERVER_GONE: i64 = -32004;
    /// The gateway could not do its part (audit log unwritable, malformed answer from the server).
    pub const GATEWAY: i64 = -32005;
}

/// What a message is.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind<'a> {
    /// A request: it has a method and an id, and expects a response.
    Request { id: &'a Json, method: &'a str },
    /// A notification: a method without an id.
    Notification { method: &'a str },
    /// A response (a result or an error) to the request with this id.
    Response { id: &'a Json },
    /// Not a JSON-RPC message.
    Invalid(&'static str),
}

/// Classifies one JSON-RPC message (not a batch).
pub fn classify(message: &Json) -> Kind<'_> {
    let Some(obj) = message.as_object() else { return Kind::Invalid("a JSON-RPC message is an object") };
    match (obj.get("method"), obj.get("id")) {
        (Some(Json::String(method)), Some(id)) if !id.is_null() => Kind::Request { id, method },
        (Some(Json::String(method)), None) => Kind::Notification { method },
        (Some(Json::String(_)), Some(_)) => Kind::Invalid("a request id may not be null"),
        (Some(_), _) => Kind::Invalid("`method` must be a string"),
        (None, Some(id)) if obj.contains_key("result") || obj.contains_key("error") => Kind::Response { id },
        (None, _) => Kind::Invalid("neither a request, a notification nor a response"),
    }
}

/// Requests a client sends to a server (MCP 2025-06-18, 2025-11-25 and the
/// 2026 draft) that the gateway passes on. `tools/call` is decided; anything
/// not here is refused: the gateway cannot tell whether it runs a tool.
pub const CLIENT_REQUESTS: &[&str] = &[
    "initialize",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/templates/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
];

/// What the gateway makes of a method a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `tools/call`: decided.
    ToolsCall,
    /// `tools/list`: its answer is filtered.
    ToolsList,
    /// `initialize`: passed; the client's capabilities are noted.
    Initialize,
    /// A method the gateway knows runs no tool (or allowed by the operator): passed.
    Passed,
    /// A method that imitates `tools/call` (`Tools/Call`, `tools.call`,
    /// `notifications/tools/call`): a lenient server could run a tool for it.
    Imitation,
    /// Any other method: the gateway cannot tell what it does.
    Unknown,
}

/// Whether `method` could be taken for `tools/call` by a careless server:
/// once lower-cased and stripped of everything but letters and digits, it
/// names a tool and an act of running one.
pub fn imitates_tools_call(method: &str) -> bool {
    let plain: String = method.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect();
    plain.contains("tool") && ["call", "run", "exec", "invoke"].iter().any(|verb| plain.contains(verb))
}

/// Classifies a method the client sent; `notification` for a message
/// without an id. `allowed`: methods the operator lets through besides the
/// known ones (`--allow-method`).
pub fn client_method(method: &str, notification: bool, allowed: &[String]) -> Method {
    match method {
        "tools/call" => return Method::ToolsCall,
        "tools/list" => return Method::ToolsList,
        "initialize" => return Method::Initialize,
        _ => {}
    }
    if imitates_tools_call(method) {
        return Method::Imitation;
    }
    let known = if notification {
        // Notifications are MCP's `notifications/…`; none of them runs a tool.
        method.starts_with("notifications/")
    } else {
        CLIENT_REQUESTS.contains(&method)
    };
    if known || allowed.iter().any(|m| m == method) { Method::Passed } else { Method::Unknown }
}

/// A key for a request id: ids `1` and `"1"` are different requests.
pub fn id_key(id: &Json) -> String {
    id.to_string()
}

/// An error object.
pub fn error_object(code: i64, message: impl Into<String>, data: Option<Json>) -> Json {
    let mut error = json!({"code": code, "message": message.into()});
    if let (Some(data), Some(obj)) = (data, error.as_object_mut()) {
        obj.insert("data".into(), data);
    }
    error
}

/// An error response to the request with `id`.
pub fn error_response(id: &Json, error: Json) -> Json {
    json!({"jsonrpc": "2.0", "id": id, "error": error})
}

/// A notification telling the server the client no longer waits for `id`.
pub fn cancelled(id: &Json, reason: &str) -> Json {
    json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": id, "reason": reason}})
}

/// One line of output: compact JSON has no raw newline in it.
pub fn line(message: &Json) -> String {
    serde_json::to_string(message).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_messages() {
        let req = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
        assert!(matches!(classify(&req), Kind::Request { method: "tools/list", .. }));
        let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        assert_eq!(classify(&note), Kind::Notification { method: "notifications/initialized" });
        let resp = json!({"jsonrpc": "2.0", "id": "a", "error": {"code": 1, "message": "x"}});
        assert!(matches!(classify(&resp), Kind::Response { .. }));
        assert!(matches!(classify(&json!([1])), Kind::Invalid(_)));
        assert!(matches!(classify(&json!({"id": null, "method": "x"})), Kind::Invalid(_)));
        assert!(matches!(classify(&json!({"id": 1})), Kind::Invalid(_)));
        assert_ne!(id_key(&json!(1)), id_key(&json!("1")));
    }

    #[test]
    fn methods_that_imitate_tools_call_are_told_apart() {
        for m in [
            "Tools/Call",
            "tools.call",
            "tools/call/",
            " tools/call",
            "tools/execute",
            "notifications/tools/call",
            "callTool",
            "tools_run",
        ] {
            assert_eq!(client_method(m, false, &[]), Method::Imitation, "{m}");
        }
        assert_eq!(client_method("tools/call", true, &[]), Method::ToolsCall);
        assert_eq!(client_method("server/discover", false, &[]), Method::Passed);
        assert_eq!(client_method("notifications/tools/list_changed", true, &[]), Method::Passed);
        assert_eq!(client_method("vendor/x", false, &[]), Method::Unknown);
        assert_eq!(client_method("vendor/x", false, &["vendor/x".to_string()]), Method::Passed);
        assert_eq!(client_method("vendor/x", true, &[]), Method::Unknown);
    }
}
