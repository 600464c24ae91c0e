# The official MCP Python SDK, for tests/mcp.rs. Exports WARD_MCP_VENV.
ward_venv mcp-venv "mcp==2.3.0"
WARD_MCP_VENV="$WARD_TOOLS_DIR/mcp-venv"
export WARD_MCP_VENV
