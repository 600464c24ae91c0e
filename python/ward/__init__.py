"""Ward: a policy engine for AI agents, in-process.

    import ward

    engine = ward.Engine.from_paths(["policies/"], entities=entities)
    decision = engine.decide(("Agent", "support_bot"), "read_customer", ("Customer", "c-17"))
    if decision:
        record = engine.mask(decision, record)

    @ward.guard(action="send_email", resource=lambda args: ("Customer", args["customer_id"]))
    def send_email(customer_id: str, to: str, body: str) -> str: ...

See docs/python.md.
"""

from ._ward import (
    AuditLog,
    Decision,
    Engine,
    Limit,
    Mask,
    Obligation,
    Reason,
    __version__,
    action_name,
    verify_audit_log,
)
from .errors import (
    ApprovalRequired,
    AuditError,
    Denied,
    EntitiesError,
    MaskError,
    PolicyError,
    RequestError,
    WardError,
)
from .guard import Call, Scope, ToolGuard, acting_as, configure, current_scope, guard

__all__ = [
    "ApprovalRequired",
    "AuditError",
    "AuditLog",
    "Call",
    "Decision",
    "Denied",
    "Engine",
    "EntitiesError",
    "Limit",
    "Mask",
    "MaskError",
    "Obligation",
    "PolicyError",
    "Reason",
    "RequestError",
    "Scope",
    "ToolGuard",
    "WardError",
    "__version__",
    "acting_as",
    "action_name",
    "configure",
    "current_scope",
    "guard",
    "verify_audit_log",
]
