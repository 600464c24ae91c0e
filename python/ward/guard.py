"""Guards: decide → run → record → mask → audit, around any tool call.

A guarded call is decided before the tool runs. A deny raises
:class:`~ward.Denied` (``approval_required`` raises
:class:`~ward.ApprovalRequired`) and the tool is never called. On an allow
the masks on ``context.…`` rewrite the arguments the tool receives, the tool
runs, its success enters the flow history of the session (``previously …``
conditions), and the decision's other masks are applied to what it returns.
The engine's audit log, if it has one, records every decision.

Who is asking comes from :func:`acting_as` (a context manager, so it follows
threads started with ``contextvars`` and asyncio tasks) or
:func:`configure` (process-wide defaults), unless the guard names it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import threading
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, TypeVar, Union

from ._ward import Decision, Engine
from .errors import ApprovalRequired, Denied, RequestError, WardError

__all__ = ["Scope", "acting_as", "configure", "current_scope", "guard", "ToolGuard", "Call"]

log = logging.getLogger("ward")

EntityRef = Union[str, tuple, Mapping[str, Any]]
Arguments = Dict[str, Any]
F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Scope:
    """Who is asking, on whose behalf, in which session, with which facts.

    ``context`` holds facts the application vouches for (``mfa``, ``ip``,
    approvals): they fill the context fields the action declares, and a tool
    argument may not carry the same name (an LLM must not be able to claim
    them).
    """

    engine: Optional[Engine] = None
    principal: Optional[EntityRef] = None
    session: Optional[str] = None
    on_behalf_of: Optional[Sequence[EntityRef]] = None
    context: Mapping[str, Any] = field(default_factory=dict)


_scope: contextvars.ContextVar[Optional[Scope]] = contextvars.ContextVar("ward_scope", default=None)
_default = Scope()
_default_lock = threading.Lock()


def configure(
    engine: Optional[Engine] = None,
    *,
    principal: Optional[EntityRef] = None,
    session: Optional[str] = None,
    on_behalf_of: Optional[Sequence[EntityRef]] = None,
    context: Optional[Mapping[str, Any]] = None,
) -> None:
    """Sets process-wide defaults, used where no :func:`acting_as` scope is active."""
    global _default
    with _default_lock:
        _default = Scope(engine, principal, session, on_behalf_of, dict(context or {}))


def current_scope() -> Scope:
    """The innermost :func:`acting_as` scope, else the :func:`configure` defaults."""
    return _scope.get() or _default


@contextlib.contextmanager
def acting_as(
    principal: EntityRef,
    *,
    engine: Optional[Engine] = None,
    session: Optional[str] = None,
    on_behalf_of: Optional[Sequence[EntityRef]] = None,
    context: Optional[Mapping[str, Any]] = None,
) -> Iterator[Scope]:
    """Guarded calls inside this block are made by ``principal``. What is not
    given (the engine, the session) is inherited from the enclosing scope."""
    outer = current_scope()
    scope = Scope(
        engine=engine if engine is not None else outer.engine,
        principal=principal,
        session=session if session is not None else outer.session,
        on_behalf_of=on_behalf_of if on_behalf_of is not None else outer.on_behalf_of,
        context={**outer.context, **(context or {})},
    )
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)


@dataclass
class Call:
    """A decided call: the decision, and the arguments the tool may receive
    (rewritten by the masks on ``context.…``)."""

    decision: Decision
    action: str
    arguments: Arguments
    engine: Engine


ResourceSpec = Union[EntityRef, Callable[[Arguments], EntityRef]]
ContextSpec = Union[Mapping[str, Any], Callable[[Arguments], Mapping[str, Any]], None]


class ToolGuard:
    """The guard's procedure, for integrations that call tools their own way.

    ``before(action, arguments)`` decides (raising on anything but an allow)
    and returns a :class:`Call`; run the tool with ``call.arguments``; then
    ``after(call, result)`` records the success and returns the result masked.
    """

    def __init__(
        self,
        *,
        resource: Optional[ResourceSpec] = None,
        principal: Optional[EntityRef] = None,
        engine: Optional[Engine] = None,
        context: ContextSpec = None,
        session: Optional[str] = None,
        on_behalf_of: Optional[Sequence[EntityRef]] = None,
        mask_result: bool = True,
    ) -> None:
        self.resource = resource
        self.principal = principal
        self.engine = engine
        self.context = context
        self.session = session
        self.on_behalf_of = on_behalf_of
        self.mask_result = mask_result
        self._fields: Dict[tuple, frozenset] = {}

    def scope(self) -> Scope:
        """The scope a call is decided in: the guard's own settings over the current scope."""
        outer = current_scope()
        return replace(
            outer,
            engine=self.engine if self.engine is not None else outer.engine,
            principal=self.principal if self.principal is not None else outer.principal,
            session=self.session if self.session is not None else outer.session,
            on_behalf_of=self.on_behalf_of if self.on_behalf_of is not None else outer.on_behalf_of,
        )

    def _declared(self, engine: Engine, action: str) -> frozenset:
        key = (id(engine), engine.policy, action)
        fields = self._fields.get(key)
        if fields is None:
            try:
                fields = frozenset(engine.context_fields(action))
            except ValueError as e:
                raise RequestError(f"action: {e}", "action") from None
            self._fields[key] = fields
        return fields

    def before(self, action: str, arguments: Mapping[str, Any], *, resource: Optional[EntityRef] = None) -> Call:
        scope = self.scope()
        if scope.engine is None:
            raise WardError(f"`{action}`: no Ward engine; pass engine= or call inside ward.acting_as(engine=…)")
        if scope.principal is None:
            raise WardError(f"`{action}`: no principal; pass principal= or call inside ward.acting_as(…)")
        engine = scope.engine
        args = dict(arguments)
        if resource is None:
            spec = self.resource
            if spec is None:
                raise WardError(f"`{action}`: the guard names no resource (resource=…)")
            resource = spec(args) if callable(spec) else spec
        declared = self._declared(engine, action)
        context: Dict[str, Any] = {}
        for name, value in scope.context.items():
            if name in declared:
                if name in args:
                    raise RequestError(
                        f"argument `{name}` of `{action}` has the name of a field the application supplies; "
                        "it is not accepted from the caller",
                        f"context.{name}",
                    )
                context[name] = value
        for name, value in args.items():
            if name in declared and value is not None:
                context[name] = value
        if self.context is not None:
            extra = self.context(args) if callable(self.context) else self.context
            context.update(extra)
        decision = engine.decide(
            scope.principal,
            action,
            resource,
            context,
            on_behalf_of=scope.on_behalf_of,
            session=scope.session,
            record=False,
        )
        if not decision:
            if decision.effect == "approval_required":
                raise ApprovalRequired(decision, action)
            raise Denied(decision, action)
        if any(p.startswith("context.") for m in decision.masks for p in m.paths):
            passed = {k: v for k, v in args.items() if k in context}
            masked = engine.mask(decision, passed, part="arguments")
            for k in passed:
                args[k] = masked.get(k)
        return Call(decision, action, args, engine)

    def after(self, call: Call, result: Any) -> Any:
        for error in call.engine.record(call.decision):
            log.warning("ward: `%s` ran but could not be recorded for flow rules: %s", call.action, error)
        # Before masking: result flows read what the tool returned.
        for error in call.engine.record_result(call.decision, result)["errors"]:
            log.warning("ward: the result of `%s` could not be recorded for flow rules: %s", call.action, error)
        if not self.mask_result:
            return result
        return call.engine.mask(call.decision, result, part="result")


def guard(
    action: Optional[str] = None,
    *,
    resource: ResourceSpec,
    principal: Optional[EntityRef] = None,
    engine: Optional[Engine] = None,
    context: ContextSpec = None,
    session: Optional[str] = None,
    on_behalf_of: Optional[Sequence[EntityRef]] = None,
    mask_result: bool = True,
) -> Callable[[F], F]:
    """Guards a callable (sync or async) with the policy.

    ``action`` defaults to the function's name. ``resource`` is an entity
    (``("Customer", "c-17")``, ``'Customer::"c-17"'``) or a function of the
    call's arguments (a dict by parameter name) returning one. The context
    is built from the arguments the action declares (``with { … }``), the
    scope's facts, and ``context`` (a dict, or a function of the arguments).
    """

    tool_guard = ToolGuard(
        resource=resource,
        principal=principal,
        engine=engine,
        context=context,
        session=session,
        on_behalf_of=on_behalf_of,
        mask_result=mask_result,
    )

    def decorate(fn: F) -> F:
        name = action or fn.__name__
        signature = inspect.signature(fn)

        def bind(args: tuple, kwargs: dict) -> inspect.BoundArguments:
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            return bound

        def rebind(bound: inspect.BoundArguments, arguments: Arguments) -> inspect.BoundArguments:
            for k in bound.arguments:
                if k in arguments:
                    bound.arguments[k] = arguments[k]
            return bound

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def guarded_async(*args: Any, **kwargs: Any) -> Any:
                bound = bind(args, kwargs)
                call = tool_guard.before(name, bound.arguments)
                bound = rebind(bound, call.arguments)
                result = await fn(*bound.args, **bound.kwargs)
                return tool_guard.after(call, result)

            guarded_async.__ward_guard__ = tool_guard  # type: ignore[attr-defined]
            return guarded_async  # type: ignore[return-value]

        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            bound = bind(args, kwargs)
            call = tool_guard.before(name, bound.arguments)
            bound = rebind(bound, call.arguments)
            result = fn(*bound.args, **bound.kwargs)
            return tool_guard.after(call, result)

        guarded.__ward_guard__ = tool_guard  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate
