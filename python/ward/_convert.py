"""Plain JSON forms for the Python values Ward reads that JSON has no type
for. Called by the native module for anything that is not a dict, list,
tuple, set, str, bool, int, float or None."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import decimal
import enum
import ipaddress
from typing import Any


def to_json_value(value: Any) -> Any:
    """A JSON-shaped equivalent of ``value``, or ``TypeError``."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, _dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise TypeError("a datetime without a time zone is ambiguous; give it one (e.g. timezone.utc)")
        utc = value.astimezone(_dt.timezone.utc)
        return utc.strftime("%Y-%m-%dT%H:%M:%S") + (f".{utc.microsecond // 1000:03d}" if utc.microsecond else "") + "Z"
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return int(value.total_seconds() * 1000)
    if isinstance(value, decimal.Decimal):
        if not value.is_finite():
            raise TypeError("a decimal that is not finite")
        return str(value)
    if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        return dump(mode="json")
    raise TypeError(f"a value of type {type(value).__name__} has no JSON form")
