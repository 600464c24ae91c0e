"""Drives an MCP server over stdio (or streamable HTTP) with the official MCP
Python SDK's client, for Ward's gateway tests.

usage: client.py MODE STEPS_JSON [--approve NAME | --decline] -- COMMAND ARGS...  (stdio)
       client.py MODE STEPS_JSON [--approve NAME | --decline]
                 [--bearer TOKEN | --oauth CLIENT_ID ISSUER] --url URL  (streamable HTTP)

MODE is the SDK's connect mode ("auto" probes `server/discover`, "legacy"
does the initialize handshake). STEPS_JSON is a list of steps:
["list"] or ["call", TOOL, ARGUMENTS]. Prints one JSON line per step:
{"tools": [names]}, {"result": CallToolResult as JSON} or
{"error": {"code", "message", "data"}}, plus "elicited": [messages] when the
server asked the user something during the step.

With --approve NAME the client declares the elicitation capability and its
user accepts every form, answering `approve: true` and their name in a
string field named `approver`; with --decline the user declines. Without
either, the client has no elicitation capability. With --bearer TOKEN every
HTTP request carries `Authorization: Bearer TOKEN` (the SDK's HTTP client
with a default header). With --oauth CLIENT_ID ISSUER the SDK's own OAuth
support gets the token: on the server's 401 it reads the Protected Resource
Metadata, discovers the authorization server ISSUER and asks its token
endpoint (client credentials, secret "secret", scope "mcp:tools"). Over stdio, WARD_MCP_TOKEN is passed to the command
(the SDK passes it only a safe subset of the environment).
"""

import asyncio
import json
import os
import sys

from mcp import Client, StdioServerParameters
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp_types import ElicitResult

ELICITED = []


class MemoryStorage:
    """The SDK's TokenStorage, in memory (one run)."""

    def __init__(self):
        self.tokens = None
        self.client_info = None

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


def error_of(exc):
    err = getattr(exc, "error", None)
    if err is not None:
        dump = err.model_dump() if hasattr(err, "model_dump") else dict(err)
        return {"code": dump.get("code"), "message": dump.get("message"), "data": dump.get("data")}
    return {"code": None, "message": f"{type(exc).__name__}: {exc}", "data": None}


async def main():
    mode, steps = sys.argv[1], json.loads(sys.argv[2])
    rest = sys.argv[3:]
    answer = None
    if rest[0] == "--approve":
        answer, rest = rest[1], rest[2:]
    elif rest[0] == "--decline":
        answer, rest = False, rest[1:]
    bearer = oauth = None
    if rest[0] == "--bearer":
        bearer, rest = rest[1], rest[2:]
    elif rest[0] == "--oauth":
        oauth, rest = (rest[1], rest[2]), rest[3:]
    if rest[0] == "--url":
        server = rest[1]
        if bearer is not None:
            http = create_mcp_http_client(headers={"Authorization": f"Bearer {bearer}"})
            server = streamable_http_client(rest[1], http_client=http)
        elif oauth is not None:
            provider = ClientCredentialsOAuthProvider(
                server_url=rest[1],
                storage=MemoryStorage(),
                client_id=oauth[0],
                client_secret="secret",
                scope="mcp:tools",
                issuer=oauth[1],
            )
            server = streamable_http_client(rest[1], http_client=create_mcp_http_client(auth=provider))
    else:
        # The SDK passes the server only a safe subset of the environment;
        # the gateway's token (stdio with --identity) is passed on.
        env = {k: v for k, v in os.environ.items() if k == "WARD_MCP_TOKEN"}
        server = StdioServerParameters(command=rest[1], args=rest[2:], env=env)

    async def elicit(context, params):
        ELICITED.append(params.message)
        if answer is False:
            return ElicitResult(action="decline")
        schema = params.requested_schema or {}
        content = {}
        for name, field in (schema.get("properties") or {}).items():
            content[name] = True if field.get("type") == "boolean" else answer
        return ElicitResult(action="accept", content=content)

    options = {"elicitation_callback": elicit} if answer is not None else {}
    async with Client(server, mode=mode, read_timeout_seconds=30, **options) as client:
        for step in steps:
            try:
                if step[0] == "list":
                    tools = await client.list_tools()
                    out = {"tools": [t.name for t in tools.tools]}
                else:
                    result = await client.call_tool(step[1], step[2])
                    out = {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True)}
            except Exception as exc:  # noqa: BLE001 - reported to the test
                out = {"error": error_of(exc)}
            if ELICITED:
                out["elicited"] = list(ELICITED)
                ELICITED.clear()
            print(json.dumps(out), flush=True)


asyncio.run(main())
