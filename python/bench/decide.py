"""What a decision costs from Python: Ward beside cedarpy, in one run.

    python python/bench/decide.py            (after `maturin develop --release`, with cedarpy installed)

Each case is timed with timeit (7 repeats of N calls, GC on); the table gives
the median and the best repeat, per call. The Ward and Cedar cases decide the
same policy over the same entities (one group, one user, one document); the
helpdesk case is a tool call of examples/python (context, masks, a flow rule).
"""

from __future__ import annotations

import json
import pathlib
import platform
import statistics
import sys
import tempfile
import timeit

import ward

ROOT = pathlib.Path(__file__).resolve().parents[2]

WARD_POLICY = """
schema s {
  entity Group
  entity User in [Group]
  entity Doc { owner: User }
  action read by [User] on [Doc]
}

policy p {
  permit principal: User, action: read, resource: Doc
    when principal in Group::"support" && resource.owner == principal
}
"""

CEDAR_POLICY = """
permit(principal in Group::"support", action == Action::"read", resource)
  when { resource.owner == principal };
"""

ENTITIES = [
    {"uid": {"type": "Group", "id": "support"}, "attrs": {}, "parents": []},
    {"uid": {"type": "User", "id": "alice"}, "attrs": {}, "parents": [{"type": "Group", "id": "support"}]},
    {"uid": {"type": "Doc", "id": "d1"}, "attrs": {"owner": {"__entity": {"type": "User", "id": "alice"}}}, "parents": []},
]


def timed(name: str, stmt, number: int) -> dict:
    runs = timeit.repeat(stmt, repeat=7, number=number, globals=None)
    per = [r / number * 1e6 for r in runs]
    return {"case": name, "median_us": statistics.median(per), "best_us": min(per), "calls": number}


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        (pathlib.Path(tmp) / "p.ward").write_text(WARD_POLICY)
        engine = ward.Engine.from_paths(tmp, entities=ENTITIES)
        assert engine.decide(("User", "alice"), "read", ("Doc", "d1"))
        rows.append(timed("ward  decide(tuple, action, tuple)", lambda: engine.decide(("User", "alice"), "read", ("Doc", "d1")), 200_000))
        rows.append(timed("ward  decide('User::\"alice\"', …)", lambda: engine.decide('User::"alice"', "read", 'Doc::"d1"'), 200_000))
        rows.append(timed("ward  bool(decide(…))  (deny)", lambda: bool(engine.decide(("User", "bob"), "read", ("Doc", "d1"))), 200_000))
        text = json.dumps({"principal": {"type": "User", "id": "alice"}, "action": "read", "resource": {"type": "Doc", "id": "d1"}, "context": {}})
        rows.append(timed("ward  decide_json(text)", lambda: engine.decide_json(text), 200_000))

    helpdesk = ward.Engine.from_paths(ROOT / "examples" / "python", fixture="helpdesk_crm")
    bot, customer, ctx = ("Agent", "helpdesk_bot"), ("Customer", "c-1"), {"customer_id": "c-1"}
    assert helpdesk.decide(bot, "lookup_customer", customer, ctx)
    rows.append(timed("ward  helpdesk lookup_customer (context, 2 masks)", lambda: helpdesk.decide(bot, "lookup_customer", customer, ctx), 100_000))

    cedar_version = None
    try:
        import cedarpy
    except ImportError:
        print("cedarpy is not installed: only Ward is measured", file=sys.stderr)
    else:
        from importlib.metadata import version

        cedar_version = version("cedarpy")
        request = {"principal": 'User::"alice"', "action": 'Action::"read"', "resource": 'Doc::"d1"', "context": {}}
        assert cedarpy.is_authorized(request, CEDAR_POLICY, ENTITIES).allowed
        rows.append(timed("cedarpy is_authorized(request, policy text, entity list)", lambda: cedarpy.is_authorized(request, CEDAR_POLICY, ENTITIES), 5_000))
        # The fair comparison: policies and entities parsed once, as Ward's engine holds them.
        policies = cedarpy.PolicySet.from_str(CEDAR_POLICY)
        entities = cedarpy.Entities.from_json_str(json.dumps(ENTITIES))
        assert cedarpy.is_authorized(request, policies, entities).allowed
        rows.append(timed("cedarpy is_authorized(request, PolicySet, Entities)", lambda: cedarpy.is_authorized(request, policies, entities), 20_000))
        batch = [request] * 100
        assert all(r.allowed for r in cedarpy.is_authorized_batch(batch, policies, entities))
        r = timed("cedarpy is_authorized_batch(100, PolicySet, Entities) / 100", lambda: cedarpy.is_authorized_batch(batch, policies, entities), 500)
        r["median_us"] /= 100
        r["best_us"] /= 100
        rows.append(r)

    print(f"python {platform.python_version()}, ward {ward.__version__} ({engine.backend})" + (f", cedarpy {cedar_version}" if cedar_version else ""))
    print(f"{'case':58} {'median µs':>10} {'best µs':>9}")
    for row in rows:
        print(f"{row['case']:58} {row['median_us']:10.2f} {row['best_us']:9.2f}")


if __name__ == "__main__":
    main()
