"""The MCP Python SDK: a server whose tools Ward guards, and a client whose
calls Ward guards: python examples/python/mcp_helpdesk.py

The client connects to the server in-process; over stdio or HTTP nothing
changes but the transport.
"""

import asyncio

from mcp import Client
from mcp.server.mcpserver import MCPServer

import ward
from _shared import BOT, CRM, engine
from ward.integrations.mcp import GuardedClient, guarded_tool

policy = engine()
server = MCPServer("crm")


# Server side: the server itself refuses what the policy does not allow.
@guarded_tool(server, resource=lambda args: ("Customer", args["customer_id"]), principal=BOT, engine=policy)
def lookup_customer(customer_id: str) -> dict:
    """Look a customer up by id."""
    return CRM[customer_id]


@server.tool(name="send-email")
def send_email(customer: str, to: str, body: str) -> str:
    """Email someone about a customer."""
    print(f"    (the server sends: {body!r})")
    return "sent"


async def main() -> None:
    async with Client(server) as client:
        # Client side: calls are decided before they leave, results masked when they arrive.
        tools = GuardedClient(client, resources={"send-email": lambda args: ("Customer", args["customer"])})
        with ward.acting_as(BOT, engine=policy, session="mcp-session-1"):
            record = await client.call_tool("lookup_customer", {"customer_id": "c-1"})
            print("lookup_customer c-1 ->", record.content[0].text)
            denied = await client.call_tool("lookup_customer", {"customer_id": "c-3"})
            print("lookup_customer c-3 ->", denied.content[0].text)
            sent = await tools.call_tool("send-email", {"customer": "c-1", "to": "desk@helpdesk.example", "body": "card 4111 1111 1111 1111"})
            print("send-email ->", sent.content[0].text)


asyncio.run(main())
