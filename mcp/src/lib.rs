//! Ward's MCP gateway.
//!
//! `ward mcp-proxy` sits between an MCP client (the agent) and an MCP server
//! (its tools): `tools/list` answers show only the tools the agent may call,
//! every `tools/call` is decided by the policy and refused or forwarded, and
//! results are masked before the agent sees them. Everything else passes
//! through unchanged. `ward mcp-schema` writes a Ward schema from a server's
//! tool descriptions. See docs/mcp.md.
//!
//! - [`gate`]: the policy side — the mapping of a tool call to a Ward
//!   request, the `tools/list` filter, masking and audit. Transport-free.
//! - [`stdio`]: the proxy over newline-delimited JSON-RPC (a child process).
//! - [`http`]: the proxy in front of a streamable-HTTP server.
//! - [`auth`]: `--identity`: the agent from a verified bearer token (OAuth
//!   resource server, RFC 9728 metadata).
//! - [`schema`]: tool descriptions → Ward schema.
//! - [`json`]: JSON as the gateway reads the client's messages (no key twice).
//! - [`cli`]: the `ward` subcommands.

pub mod auth;
pub mod cli;
pub mod gate;
pub mod http;
pub mod json;
pub mod rpc;
pub mod schema;
pub mod stdio;
