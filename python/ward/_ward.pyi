"""Type stubs for the native module (python/src)."""

import datetime
import os
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Tuple, Union

__version__: str

EntityRef = Union[str, Tuple[str, str], Mapping[str, Any]]
"""``("Agent", "bot")``, ``{"type": "Agent", "id": "bot"}`` or ``'Agent::"bot"'``."""
PathArg = Union[str, "os.PathLike[str]"]
Time = Union[int, str, datetime.datetime]
"""Milliseconds since the epoch, RFC 3339 text, or an aware datetime."""
Effect = Literal["allow", "deny", "approval_required"]

class Reason:
    rule: Optional[str]
    clause: str
    span: Optional[str]
    principal: Optional[str]

class Mask:
    rule: str
    paths: List[str]
    method: str
    detectors: List[str]

class Obligation:
    rule: str
    name: str
    args: Dict[str, Any]
    advice: bool

class Limit:
    rule: str
    key: str
    limit: int
    window_ms: int
    remaining: int
    retry_after_ms: Optional[int]

class Decision:
    @property
    def effect(self) -> Effect: ...
    @property
    def allowed(self) -> bool: ...
    def __bool__(self) -> bool: ...
    @property
    def reasons(self) -> List[Reason]: ...
    @property
    def masks(self) -> List[Mask]: ...
    @property
    def obligations(self) -> List[Obligation]: ...
    @property
    def limits(self) -> List[Limit]: ...
    @property
    def errors(self) -> List[Dict[str, Any]]: ...
    @property
    def shadow(self) -> List[Dict[str, Any]]: ...
    @property
    def request(self) -> Dict[str, Any]: ...
    @property
    def time(self) -> int: ...
    @property
    def policy(self) -> str: ...
    @property
    def why(self) -> Optional[str]: ...
    def to_dict(self) -> Dict[str, Any]: ...
    def to_json(self) -> str: ...
    def explain(self) -> str: ...

class AuditLog:
    def __init__(self, path: PathArg, *, sync: Literal["record", "batch"] = "record") -> None: ...
    @property
    def path(self) -> str: ...
    def append(self, decision: Decision) -> str: ...
    def sync(self) -> None: ...

class Engine:
    @staticmethod
    def from_paths(
        paths: Union[PathArg, Sequence[PathArg]],
        *,
        entities: Optional[Sequence[Mapping[str, Any]]] = None,
        fixture: Optional[str] = None,
        backend: Literal["jit", "interpreter"] = "jit",
        state: Optional[str] = None,
        keys: Optional[Mapping[str, str]] = None,
        audit_log: Union[AuditLog, PathArg, None] = None,
    ) -> "Engine": ...
    @staticmethod
    def from_bundle(
        path: PathArg,
        *,
        public_key: Optional[str],
        entities: Optional[Sequence[Mapping[str, Any]]] = None,
        backend: Literal["jit", "interpreter"] = "jit",
        state: Optional[str] = None,
        keys: Optional[Mapping[str, str]] = None,
        audit_log: Union[AuditLog, PathArg, None] = None,
    ) -> "Engine": ...
    def decide(
        self,
        principal: EntityRef,
        action: str,
        resource: EntityRef,
        context: Optional[Mapping[str, Any]] = None,
        *,
        entities: Optional[Sequence[Mapping[str, Any]]] = None,
        on_behalf_of: Optional[Sequence[EntityRef]] = None,
        session: Optional[str] = None,
        at: Optional[Time] = None,
        record: bool = True,
    ) -> Decision: ...
    def decide_json(
        self,
        request: Union[str, Mapping[str, Any]],
        *,
        entities: Optional[Sequence[Mapping[str, Any]]] = None,
        at: Optional[Time] = None,
        record: bool = True,
    ) -> Decision: ...
    def explain(
        self,
        principal: EntityRef,
        action: str,
        resource: EntityRef,
        context: Optional[Mapping[str, Any]] = None,
        *,
        entities: Optional[Sequence[Mapping[str, Any]]] = None,
        on_behalf_of: Optional[Sequence[EntityRef]] = None,
        session: Optional[str] = None,
        at: Optional[Time] = None,
    ) -> str: ...
    def record(self, decision: Decision) -> List[str]: ...
    def record_result(self, decision: Decision, result: Any) -> Dict[str, Any]: ...
    def mask(self, decision: Decision, payload: Any, *, part: Literal["result", "arguments", "all"] = "result") -> Any: ...
    def swap(
        self,
        *,
        paths: Union[PathArg, Sequence[PathArg], None] = None,
        bundle: Optional[PathArg] = None,
        public_key: Optional[str] = None,
        entities: Optional[Sequence[Mapping[str, Any]]] = None,
        fixture: Optional[str] = None,
    ) -> None: ...
    def reload(self) -> None: ...
    @property
    def backend(self) -> Literal["jit", "interpreter"]: ...
    @property
    def policy(self) -> str: ...
    @property
    def audit_log(self) -> Optional[AuditLog]: ...
    def context_fields(self, action: str) -> List[str]: ...
    def actions(self) -> List[str]: ...

def verify_audit_log(path: PathArg) -> Dict[str, Any]: ...
def action_name(tool: str) -> str: ...
