"""LangChain agents: one middleware that guards every tool call.

    from langchain.agents import create_agent
    from ward.integrations.langchain import WardMiddleware

    agent = create_agent(model, tools, middleware=[WardMiddleware(
        resources={"lookup_customer": lambda args: ("Customer", args["customer_id"])},
    )])
    with ward.acting_as(("Agent", "helpdesk_bot"), engine=engine, session=thread_id):
        agent.invoke({"messages": [...]})

Each tool call is decided before the tool node runs it (the tool's name is
the action, as the MCP gateway names it). A refusal becomes the tool's
message to the model (status ``error``) and the tool is not run; on an allow
the masks on ``context.…`` rewrite the call's arguments, and once the tool
returned a message that is not an error, the call enters flow history and
the message's content is masked. A tool without a resource in ``resources``
(and no ``default_resource``) is refused: nothing runs unguarded.
"""

from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Mapping, Optional, Sequence

from langchain.agents.middleware import AgentMiddleware
from langchain_core.messages import ToolMessage

from ..errors import WardError
from ..guard import Call, ContextSpec, EntityRef, ResourceSpec, ToolGuard
from .._ward import Engine, action_name

__all__ = ["WardMiddleware"]

log = logging.getLogger("ward")


class WardMiddleware(AgentMiddleware):
    """Decides, masks and records every tool call of a LangChain agent."""

    def __init__(
        self,
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
        super().__init__()
        self.resources = dict(resources or {})
        self.default_resource = default_resource
        self.actions = dict(actions or {})
        self._guards = {
            name: ToolGuard(
                resource=spec,
                principal=principal,
                engine=engine,
                context=context,
                session=session,
                on_behalf_of=on_behalf_of,
            )
            for name, spec in {**self.resources, None: default_resource}.items()
        }

    def _before(self, request: Any) -> "tuple[Optional[Call], Any]":
        """The decided call and the request to run, or (None, the refusal message)."""
        tool_call = request.tool_call
        name = tool_call["name"]
        tool_guard = self._guards.get(name) or self._guards[None]
        action = self.actions.get(name) or action_name(name)
        try:
            if tool_guard.resource is None:
                raise WardError(f"`{name}`: no resource for this tool (give resources= or default_resource=)")
            call = tool_guard.before(action, tool_call.get("args") or {})
        except WardError as e:
            return None, ToolMessage(content=str(e), tool_call_id=tool_call["id"], name=name, status="error")
        if call.arguments != (tool_call.get("args") or {}):
            request = request.override(tool_call={**tool_call, "args": call.arguments})
        return call, request

    def _after(self, call: Call, result: Any) -> Any:
        if not isinstance(result, ToolMessage) or result.status == "error":
            # Not carried out: nothing is recorded. Detectors still apply to what it says.
            if isinstance(result, ToolMessage):
                return self._masked(call, result, record=False)
            return result
        return self._masked(call, result, record=True)

    def _masked(self, call: Call, message: ToolMessage, *, record: bool) -> ToolMessage:
        try:
            if record:
                for error in call.engine.record(call.decision):
                    log.warning("ward: `%s` ran but could not be recorded for flow rules: %s", call.action, error)
            content = call.engine.mask(call.decision, message.content, part="result")
        except WardError as e:
            return ToolMessage(content=str(e), tool_call_id=message.tool_call_id, name=message.name, status="error")
        return message.model_copy(update={"content": content})

    def wrap_tool_call(self, request: Any, handler: Callable[[Any], Any]) -> Any:
        call, next_request = self._before(request)
        if call is None:
            return next_request
        return self._after(call, handler(next_request))

    async def awrap_tool_call(self, request: Any, handler: Callable[[Any], Awaitable[Any]]) -> Any:
        call, next_request = self._before(request)
        if call is None:
            return next_request
        return self._after(call, await handler(next_request))
