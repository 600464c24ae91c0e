"""The OpenAI Agents SDK: function tools guarded by Ward.

    from ward.integrations.openai_agents import ward_tool

    @ward_tool(resource=lambda args: ("Customer", args["customer_id"]))
    def lookup_customer(customer_id: str) -> dict: ...

    agent = Agent(name="helpdesk", tools=[lookup_customer])
    with ward.acting_as(("Agent", "helpdesk_bot"), engine=engine, session=conversation_id):
        await Runner.run(agent, "…")

``ward_tool`` is ``function_tool`` over :func:`ward.guard`: the SDK's own
tool pipeline (schema, argument validation, timeouts) runs unchanged and
Ward decides inside it, so the function never runs on a deny, its result is
masked before the model sees it, and only a call that returned counts as
having happened for flow rules. A refusal reaches the model as the tool's
output, in words it can act on (``tool_error``).

Why not the SDK's tool guardrails: an output guardrail can reject a result
but cannot rewrite it, so masks could not be applied; deciding in the tool
keeps decide, mask and record in one place.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

from agents import FunctionTool, RunContextWrapper, function_tool

from ..errors import WardError
from ..guard import ContextSpec, EntityRef, ResourceSpec, guard
from .._ward import Engine

__all__ = ["ward_tool", "tool_error"]


def tool_error(ctx: RunContextWrapper[Any], error: Exception) -> str:
    """The tool output the model sees when a call fails: Ward's refusals
    verbatim (why, and what would allow it), other errors as the SDK says them."""
    if isinstance(error, WardError):
        return str(error)
    return f"An error occurred while running the tool. Please try again. Error: {error}"


def ward_tool(
    fn: Optional[Callable[..., Any]] = None,
    *,
    resource: ResourceSpec,
    action: Optional[str] = None,
    principal: Optional[EntityRef] = None,
    engine: Optional[Engine] = None,
    context: ContextSpec = None,
    session: Optional[str] = None,
    on_behalf_of: Optional[Sequence[EntityRef]] = None,
    **function_tool_options: Any,
) -> Any:
    """A ``FunctionTool`` whose every call Ward decides, masks and records.
    ``function_tool_options`` go to the SDK's ``function_tool`` (``name_override``,
    ``description_override``, …); the action defaults to the function's name."""

    def make(f: Callable[..., Any]) -> FunctionTool:
        guarded = guard(
            action,
            resource=resource,
            principal=principal,
            engine=engine,
            context=context,
            session=session,
            on_behalf_of=on_behalf_of,
        )(f)
        function_tool_options.setdefault("failure_error_function", tool_error)
        return function_tool(guarded, **function_tool_options)

    return make(fn) if fn is not None else make
