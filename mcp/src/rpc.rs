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
}
