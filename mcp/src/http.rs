//! The proxy in front of a streamable-HTTP MCP server.

use std::sync::Arc;
use std::time::Duration;

use crate::gate::Gate;

/// Where to listen and what to guard.
#[derive(Debug, Clone)]
pub struct Options {
    pub upstream: String,
    pub listen: String,
    pub timeout: Duration,
}

/// Serves until the process ends.
pub async fn serve(
    _gate: Arc<Gate>,
    _options: Options,
    _ready: Option<tokio::sync::oneshot::Sender<std::net::SocketAddr>>,
) -> Result<(), String> {
    Err("not yet".to_string())
}
