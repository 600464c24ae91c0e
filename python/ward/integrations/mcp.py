"""The MCP Python SDK: a guarded client session, and guarded server tools.

Client side — every ``call_tool`` decided before it reaches the server:

    from mcp import Client
    from ward.integrations.mcp import GuardedClient

    async with Client(server) as client:
        tools = GuardedClient(client, resources={"lookup_customer": lambda a: ("Customer", a["customer_id"])})
        with ward.acting_as(("Agent", "helpdesk_bot"), engine=engine, session=session_id):
            result = await tools.call_tool("lookup_customer", {"customer_id": "c-1"})

A refused call raises :class:`ward.Denied` (or ``ApprovalRequired``,
``RequestError``) and is never sent; an allowed one is sent with its
``context.…`` masks applied to the arguments; a result that is not an error
enters flow history, and its structured content and text (JSON text as JSON)
are masked before the caller sees them, as ``ward mcp-proxy`` does. Binary
content cannot be inspected, so a result with images or audio and masks to
apply is withheld (``MaskError``).

Server side — ``guarded_tool`` registers a function as a tool of an
``MCPServer`` with :func:`ward.guard` around it; a refusal is the call's
error result, with the reason for the model to read.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping, Optional, Sequence

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, EmbeddedResource, TextContent

from ..errors import MaskError, WardError
from ..guard import Call, ContextSpec, EntityRef, ResourceSpec, ToolGuard, guard
from .._ward import Engine, action_name

__all__ = ["GuardedClient", "guarded_tool"]

log = logging.getLogger("ward")


class GuardedClient:
    """Wraps an MCP ``Client`` (or ``ClientSession``): ``call_tool`` is guarded,
    everything else is the wrapped object's. A tool's action is its name as
    the gateway maps it (``send-email`` → ``send_email``) unless ``actions``
    names another."""

    def __init__(
        self,
        client: Any,
        *,
        resources: Optional[Mapping[str, ResourceSpec]] = None,
        default_resource: Optional[ResourceSpec] = None,
        actions: Optional[Mapping[str, str]] = None,
        principal: Optional[EntityRef] = None,
        engine: Optional[Engine] = None,
        context: ContextSpec = None,
        session: Optional[str] = None,
        on_behalf_of: Optional[Sequence[EntityRef]] = None,
    ) -> None:
        self._client = client
        self._actions = dict(actions or {})
        options = dict(principal=principal, engine=engine, context=context, session=session, on_behalf_of=on_behalf_of)
        self._guards = {name: ToolGuard(resource=spec, **options) for name, spec in (resources or {}).items()}
        self._default = ToolGuard(resource=default_resource, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    async def call_tool(self, name: str, arguments: Optional[Mapping[str, Any]] = None, *args: Any, **kwargs: Any) -> CallToolResult:
        tool_guard = self._guards.get(name, self._default)
        if tool_guard.resource is None:
            raise WardError(f"`{name}`: no resource for this tool (give resources= or default_resource=)")
        call = tool_guard.before(self._actions.get(name) or action_name(name), dict(arguments or {}))
        result = await self._client.call_tool(name, call.arguments, *args, **kwargs)
        if not result.is_error:
            for error in call.engine.record(call.decision):
                log.warning("ward: `%s` ran but could not be recorded for flow rules: %s", name, error)
        return mask_result(call, result)


def mask_result(call: Call, result: CallToolResult) -> CallToolResult:
    """``result`` with the decision's result masks applied (an error result
    too: it can echo data), or ``MaskError`` when they cannot be."""
    engine, decision = call.engine, call.decision
    if not any(not p.startswith("context.") for m in decision.masks for p in m.paths):
        return result
    update: dict = {}
    if result.structured_content is not None:
        update["structured_content"] = engine.mask(decision, result.structured_content)
    content = []
    for item in result.content:
        if isinstance(item, TextContent):
            item = item.model_copy(update={"text": engine.mask(decision, item.text)})
        elif isinstance(item, EmbeddedResource) and isinstance(getattr(item.resource, "text", None), str):
            resource = item.resource.model_copy(update={"text": engine.mask(decision, item.resource.text)})
            item = item.model_copy(update={"resource": resource})
        else:
            raise MaskError(f"{getattr(item, 'type', type(item).__name__)} content cannot be masked", decision)
        content.append(item)
    update["content"] = content
    return result.model_copy(update=update)


def guarded_tool(
    server: MCPServer,
    *,
    resource: ResourceSpec,
    name: Optional[str] = None,
    action: Optional[str] = None,
    principal: Optional[EntityRef] = None,
    engine: Optional[Engine] = None,
    context: ContextSpec = None,
    session: Optional[str] = None,
    on_behalf_of: Optional[Sequence[EntityRef]] = None,
    **tool_options: Any,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``@server.tool()`` with Ward deciding every call: the action is the
    tool's name (as the gateway maps it) unless given."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        tool_name = name or fn.__name__
        guarded = guard(
            action or action_name(tool_name),
            resource=resource,
            principal=principal,
            engine=engine,
            context=context,
            session=session,
            on_behalf_of=on_behalf_of,
        )(fn)
        reported = _report(guarded)
        server.tool(name=tool_name, **tool_options)(reported)
        return reported

    return register


def _report(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Ward's refusals as ``ToolError``: the SDK hides the text of other
    exceptions from the client, and the model needs to read why."""
    import functools
    import inspect

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def reporting_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except WardError as e:
                raise ToolError(str(e)) from e

        return reporting_async

    @functools.wraps(fn)
    def reporting(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except WardError as e:
            raise ToolError(str(e)) from e

    return reporting
