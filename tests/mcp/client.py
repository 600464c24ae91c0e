"""Drives an MCP server over stdio (or streamable HTTP) with the official MCP
Python SDK's client, for Ward's gateway tests.

usage: client.py MODE STEPS_JSON -- COMMAND ARGS...     (stdio)
       client.py MODE STEPS_JSON --url URL              (streamable HTTP)

MODE is the SDK's connect mode ("auto" probes `server/discover`, "legacy"
does the initialize handshake). STEPS_JSON is a list of steps:
["list"] or ["call", TOOL, ARGUMENTS]. Prints one JSON line per step:
{"tools": [names]}, {"result": CallToolResult as JSON} or
{"error": {"code", "message", "data"}}.
"""

import asyncio
import json
import sys

from mcp import Client, StdioServerParameters


def error_of(exc):
    err = getattr(exc, "error", None)
    if err is not None:
        dump = err.model_dump() if hasattr(err, "model_dump") else dict(err)
        return {"code": dump.get("code"), "message": dump.get("message"), "data": dump.get("data")}
    return {"code": None, "message": f"{type(exc).__name__}: {exc}", "data": None}


async def main():
    mode, steps = sys.argv[1], json.loads(sys.argv[2])
    rest = sys.argv[3:]
    if rest[0] == "--url":
        server = rest[1]
    else:
        server = StdioServerParameters(command=rest[1], args=rest[2:])
    async with Client(server, mode=mode, read_timeout_seconds=30) as client:
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
            print(json.dumps(out), flush=True)


asyncio.run(main())
