"""The MCP Python SDK, in-process (Client(server), no network): a guarded
client session in front of an MCPServer, and guarded server-side tools."""

from __future__ import annotations

import asyncio
import json
from typing import TypedDict

import pytest
from mcp import Client
from mcp.server.mcpserver import MCPServer

import ward
from ward.integrations.mcp import GuardedClient, guarded_tool

from conftest import BOT, POLICY

RECORDS = {
    "c-1": {"name": "Maria Anders", "ssn": "536-22-8145", "notes": "Prefers mail to maria.anders@northwind.example"},
    "c-2": {"name": "Jordan Ortiz", "notes": "Renewal under negotiation"},
    "c-3": {"name": "Lena Vogel", "notes": ""},
}


def crm_server(ran: list) -> MCPServer:
    server = MCPServer("crm")

    @server.tool()
    def lookup_customer(customer_id: str) -> dict:
        """Look a customer up."""
        ran.append(("lookup_customer", customer_id))
        return RECORDS[customer_id]

    @server.tool(name="send-email")
    def send_email(customer: str, to: str, body: str) -> str:
        """Send an email."""
        ran.append(("send_email", to, body))
        return "sent"

    @server.tool(structured_output=True)
    def lookup_structured(customer_id: str) -> Record:
        """Look a customer up (structured result)."""
        ran.append(("lookup_structured", customer_id))
        return Record(**RECORDS[customer_id])

    return server


class Record(TypedDict, total=False):
    name: str
    ssn: str
    notes: str


RESOURCES = {
    "lookup_structured": lambda a: ("Customer", a["customer_id"]),
    "lookup_customer": lambda a: ("Customer", a["customer_id"]),
    "send-email": lambda a: ("Customer", a["customer"]),
}


def text(result) -> str:
    return "".join(c.text for c in result.content)


def test_the_client_sends_only_allowed_calls_and_sees_masked_results(engine):
    ran: list = []

    async def run():
        async with Client(crm_server(ran)) as client:
            tools = GuardedClient(client, resources=RESOURCES, actions={"lookup_structured": "lookup_customer"})
            with ward.acting_as(BOT, engine=engine, session="mcp-1"):
                first = await tools.call_tool("lookup_customer", {"customer_id": "c-1"})
                with pytest.raises(ward.Denied, match="no permit applies"):
                    await tools.call_tool("lookup_customer", {"customer_id": "c-3"})
                await tools.call_tool("lookup_customer", {"customer_id": "c-2"})
                with pytest.raises(ward.Denied, match="No mail outside the company"):
                    await tools.call_tool("send-email", {"customer": "c-2", "to": "j.ortiz@contoso.example", "body": "hi"})
                sent = await tools.call_tool("send-email", {"customer": "c-1", "to": "desk@helpdesk.example", "body": "card 4111 1111 1111 1111"})
                with pytest.raises(ward.WardError, match="no resource"):
                    await tools.call_tool("unknown_tool", {})
                listed = await tools.list_tools()  # everything else is the client's
                structured = await tools.call_tool("lookup_structured", {"customer_id": "c-1"})
            return first, sent, listed, structured

    first, sent, listed, structured = asyncio.run(run())
    assert structured.structured_content == {
        "name": "Maria Anders",
        "ssn": "[REDACTED]",
        "notes": "Prefers mail to [REDACTED:email]",
    }
    assert "536-22-8145" not in structured.model_dump_json()
    record = json.loads(text(first))
    assert record["ssn"] == "[REDACTED]" and record["notes"] == "Prefers mail to [REDACTED:email]"
    assert "536-22-8145" not in first.model_dump_json()
    assert text(sent) == "sent"
    assert ran == [
        ("lookup_customer", "c-1"),
        ("lookup_customer", "c-2"),
        ("send_email", "desk@helpdesk.example", "card ****1111"),
        ("lookup_structured", "c-1"),
    ]
    assert {t.name for t in listed.tools} == {"lookup_customer", "send-email", "lookup_structured"}


def test_server_side_tools_refuse_with_a_reason_the_model_can_read():
    engine = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm")
    ran: list = []
    server = MCPServer("crm")

    @guarded_tool(server, resource=lambda a: ("Customer", a["customer_id"]), principal=BOT, engine=engine)
    def lookup_customer(customer_id: str) -> dict:
        """Look a customer up."""
        ran.append(customer_id)
        return RECORDS[customer_id]

    @guarded_tool(server, name="delete-customer", resource=lambda a: ("Customer", a["customer_id"]), principal=BOT, engine=engine)
    async def delete_customer(customer_id: str, reason: str) -> str:
        """Delete a customer."""
        ran.append(("delete", customer_id))
        return "deleted"

    async def run():
        async with Client(server) as client:
            ok = await client.call_tool("lookup_customer", {"customer_id": "c-1"})
            denied = await client.call_tool("lookup_customer", {"customer_id": "c-3"})
            approval = await client.call_tool("delete-customer", {"customer_id": "c-1", "reason": "GDPR"})
            return ok, denied, approval

    ok, denied, approval = asyncio.run(run())
    assert not ok.is_error and json.loads(text(ok))["ssn"] == "[REDACTED]"
    assert denied.is_error and "ward: `lookup_customer` denied: no permit applies" in text(denied)
    assert approval.is_error and "needs a human approval" in text(approval) and "require_approval" in text(approval)
    assert ran == ["c-1"]
