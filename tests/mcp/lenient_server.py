"""A lenient MCP server for Ward's gateway tests: it runs a tool for any
message that looks like a tool call, whatever its framing, as careless
servers do.

- `tools/call` runs the tool whether it comes as a request or as a
  notification (no `id`), alone or inside a batch;
- method names are matched loosely: case, surrounding spaces, `.` for
  `/` and a trailing `/` are ignored (`Tools/Call`, `tools.call`,
  `tools/call/` all run the tool);
- duplicate keys in a message: the FIRST one wins (Python's json keeps the
  last; this server uses `object_pairs_hook` to keep the first), the
  opposite of serde_json.

Every message received is appended as one JSON line to the file named by
`$LENIENT_LOG`, and every tool run as `{"ran": NAME, "arguments": {…}}`,
so a test can tell exactly what reached the server and what ran.

usage: lenient_server.py              (newline-delimited JSON-RPC on stdio)
       lenient_server.py --http PORT  (POST /mcp, one JSON body per request)
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = os.environ.get("LENIENT_LOG")

TOOLS = [
    {"name": n, "inputSchema": {"type": "object"}}
    for n in ["lookup_customer", "read_restricted_record", "send_email", "delete_customer", "crash", "hang"]
]


def log(entry):
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")


def first_wins(pairs):
    out = {}
    for k, v in pairs:
        out.setdefault(k, v)
    return out


def normalize(method):
    return method.strip().lower().replace(".", "/").rstrip("/")


def handle(message):
    """The answer to one message, or None (notifications, responses)."""
    if not isinstance(message, dict):
        return None
    log({"received": message})
    method = message.get("method")
    if not isinstance(method, str):
        return None
    name = normalize(method)
    has_id = "id" in message
    msg_id = message.get("id")
    params = message.get("params") or {}
    if name == "tools/call":
        tool = params.get("name")
        log({"ran": tool, "arguments": params.get("arguments")})
        result = {"content": [{"type": "text", "text": f"ran {tool}"}]}
    elif name == "initialize":
        result = {
            "protocolVersion": params.get("protocolVersion", "2025-06-18"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "lenient", "version": "1"},
        }
    elif name == "tools/list":
        result = {"tools": TOOLS}
    else:
        result = {}
    if not has_id:
        return None
    return {"jsonrpc": "2.0", "id": msg_id, "result": result}


def handle_text(text):
    message = json.loads(text, object_pairs_hook=first_wins)
    if isinstance(message, list):
        answers = [a for a in (handle(m) for m in message) if a is not None]
        return answers or None
    return handle(message)


def stdio():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer = handle_text(line)
        except ValueError:
            continue
        if answer is not None:
            sys.stdout.write(json.dumps(answer) + "\n")
            sys.stdout.flush()


class Handler(BaseHTTPRequestHandler):
    def _any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if body:
            try:
                answer = handle_text(body.decode("utf-8"))
            except ValueError:
                answer = None
        else:
            answer = None
        if answer is None:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_POST = _any
    do_PUT = _any
    do_PATCH = _any
    do_GET = _any
    do_DELETE = _any

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        ThreadingHTTPServer(("127.0.0.1", int(sys.argv[2])), Handler).serve_forever()
    else:
        stdio()
