"""A small CRM MCP server for Ward's gateway tests (official MCP Python SDK).

Tools: a customer lookup whose answer holds personal data, a restricted
record read, an e-mail sender, and two misbehaving tools (one that makes the
server exit, one that never answers). Run with `--http PORT` for the
streamable-HTTP transport; stdio otherwise.
"""

import os
import sys
import time

try:  # mcp 2.x
    from mcp.server.mcpserver import MCPServer
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as MCPServer

server = MCPServer("crm-demo")

CUSTOMERS = {
    "c-17": {
        "id": "c-17",
        "name": "Ana Lima",
        "email": "ana.lima@example.com",
        "phone": "+1 415 555 0142",
        "ssn": "123-45-6789",
        "tier": "vip",
    },
    "c-18": {
        "id": "c-18",
        "name": "Bo Chen",
        "email": "bo.chen@example.org",
        "phone": "+44 20 7946 0958",
        "ssn": "234-56-7890",
        "tier": "standard",
    },
}

SENT = []


@server.tool()
def lookup_customer(customer_id: str) -> dict:
    """Look up a customer by id: name, e-mail, phone, SSN and tier."""
    customer = CUSTOMERS.get(customer_id)
    if customer is None:
        raise ValueError(f"no customer {customer_id}")
    return customer


@server.tool()
def read_restricted_record(record_id: str, purpose: str = "support") -> str:
    """Read a restricted case record (legal holds, fraud notes)."""
    return f"record {record_id} ({purpose}): fraud investigation, contact ana.lima@example.com"


@server.tool()
def send_email(to: str, subject: str, body: str, cc: list[str] | None = None) -> str:
    """Send an e-mail to anyone, inside or outside the company."""
    SENT.append({"to": to, "subject": subject})
    return f"sent to {to}"


@server.tool()
def delete_customer(customer_id: str, reason: str) -> str:
    """Delete a customer record for good."""
    return f"deleted {customer_id}"


@server.tool()
def crash() -> str:
    """Makes the server exit without answering (for tests)."""
    sys.stdout.flush()
    os._exit(3)


@server.tool()
def hang(seconds: int = 3600) -> str:
    """Never answers in time (for tests)."""
    time.sleep(seconds)
    return "late"


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
