"""Ward's exceptions: one small hierarchy under :class:`WardError`.

Every exception that stops a tool call is raised *before* the tool runs (or,
for :class:`MaskError`, instead of returning what it produced): Ward fails
closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

if TYPE_CHECKING:
    from ._ward import Decision, Obligation

__all__ = [
    "WardError",
    "PolicyError",
    "EntitiesError",
    "RequestError",
    "MaskError",
    "AuditError",
    "Denied",
    "ApprovalRequired",
]


class WardError(Exception):
    """Base class of every exception Ward raises."""


class PolicyError(WardError):
    """The policy could not be compiled or loaded (or a bundle was refused).

    ``diagnostics`` holds one dict per error: ``file``, ``line``, ``column``,
    ``code``, ``severity``, ``message``, ``help``.
    """

    def __init__(self, message: str, diagnostics: Optional[List[Dict[str, Any]]] = None) -> None:
        super().__init__(message)
        self.diagnostics: List[Dict[str, Any]] = list(diagnostics or [])


class EntitiesError(WardError):
    """Entity data that does not fit the schema; ``field`` names where."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class RequestError(WardError):
    """A request that does not fit the schema (unknown action, a missing or
    mistyped context field, a malformed entity); ``field`` names it, e.g.
    ``"context.amount"``. Nothing was allowed."""

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field


class MaskError(WardError):
    """A mask could not be applied, so the payload was withheld.
    ``decision`` is the deny this made of the allow (already audited)."""

    def __init__(self, message: str, decision: "Optional[Decision]" = None) -> None:
        super().__init__(message)
        self.decision = decision


class AuditError(WardError):
    """The audit log could not be written (so nothing was allowed) or does not verify."""


class Denied(WardError):
    """The policy denied the call; the tool was not run.

    ``str(error)`` says why in words an LLM can act on: the deciding rules
    with their ``@reason`` and the condition that held, limits reached.
    """

    def __init__(self, decision: "Decision", action: str = "") -> None:
        self.decision = decision
        self.action = action or str(decision.request.get("action", ""))
        super().__init__(self._message())

    def _verb(self) -> str:
        return "denied"

    def _message(self) -> str:
        why = self.decision.why or "no rule permits it"
        return f"ward: `{self.action}` {self._verb()}: {why}"

    @property
    def reasons(self) -> list:
        return self.decision.reasons


class ApprovalRequired(Denied):
    """The call needs a human approval first; the tool was not run.
    ``obligations`` says what the policy requires (e.g. ``require_approval(role: "supervisor")``)."""

    def _verb(self) -> str:
        return "needs a human approval"

    @property
    def obligations(self) -> "List[Obligation]":
        return self.decision.obligations
