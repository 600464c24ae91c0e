"""The Engine API: decisions, errors that name the field, masks, audit, reloads, bundles."""

from __future__ import annotations

import datetime
import json
import subprocess

import pytest

import ward

from conftest import BOT, NOON, POLICY


def lookup(engine, customer="c-1", **kw):
    return engine.decide(BOT, "lookup_customer", ("Customer", customer), {"customer_id": customer}, at=NOON, **kw)


def test_allow_carries_rules_clauses_and_masks(engine):
    d = lookup(engine)
    assert bool(d) and d.allowed and d.effect == "allow"
    assert [r.rule for r in d.reasons] == ["helpdesk.lookup-own-region"]
    assert d.reasons[0].clause.startswith("when principal.scopes.contains")
    assert d.reasons[0].span.startswith(str(POLICY / "helpdesk.ward") + ":")
    assert {m.rule for m in d.masks} == {"helpdesk.redact-ssn", "helpdesk.emails-in-text"}
    assert d.why is None
    assert d.request["principal"] == {"type": "Agent", "id": "helpdesk_bot"}
    assert d.time == 1795694400000
    assert json.loads(d.to_json()) == d.to_dict()
    assert d.explain().startswith("ALLOW")


def test_default_deny_and_forbid_explain_themselves(engine):
    d = lookup(engine, "c-3")
    assert not d and d.effect == "deny"
    assert d.reasons[0].rule is None and "default deny" in d.why
    assert "DENY" in engine.explain(BOT, "lookup_customer", ("Customer", "c-3"), {"customer_id": "c-3"}, at=NOON)


def test_approval_required_carries_the_obligation(engine):
    d = engine.decide(BOT, "delete_customer", ("Customer", "c-1"), {"reason": "GDPR"}, at=NOON)
    assert d.effect == "approval_required" and not d
    [o] = d.obligations
    assert (o.name, o.args, o.rule, o.advice) == ("require_approval", {"role": "supervisor"}, "helpdesk.delete-needs-supervisor", False)
    assert "Deleting a customer needs a supervisor's sign-off" in d.why
    approved = engine.decide(
        BOT, "delete_customer", ("Customer", "c-1"), {"reason": "GDPR", "approved_by": {"type": "User", "id": "sam"}}, at=NOON
    )
    assert approved


@pytest.mark.parametrize(
    "entity",
    [("Agent", "helpdesk_bot"), {"type": "Agent", "id": "helpdesk_bot"}, {"__entity": {"type": "Agent", "id": "helpdesk_bot"}}, 'Agent::"helpdesk_bot"'],
)
def test_entity_forms(engine, entity):
    assert engine.decide(entity, "lookup_customer", 'Customer::"c-1"', {"customer_id": "c-1"}, at=NOON)


@pytest.mark.parametrize(
    "at",
    [NOON, 1795694400000, datetime.datetime(2026, 11, 26, 12, tzinfo=datetime.timezone.utc)],
)
def test_time_forms(engine, at):
    assert lookup(engine).time == engine.decide(BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": "c-1"}, at=at).time


@pytest.mark.parametrize(
    "args, field",
    [
        ((("Agent",), "lookup_customer", ("Customer", "c-1"), {"customer_id": "c-1"}), "principal"),
        ((BOT, "lookup_customer", "Customer::c-1", {"customer_id": "c-1"}), "resource"),
        ((BOT, 7, ("Customer", "c-1"), {}), "action"),
        ((BOT, "no_such_tool", ("Customer", "c-1"), {}), "action"),
        ((BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": 5}), "context.customer_id"),
        ((BOT, "lookup_customer", ("Customer", "c-1"), {}), "context"),
        ((BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": "c-1", "x": 1}), "context.x"),
        ((BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": object()}), "context.customer_id"),
        ((BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": float("nan")}), "context.customer_id"),
        ((BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": 2**70}), "context.customer_id"),
    ],
)
def test_request_errors_name_the_field(engine, args, field):
    with pytest.raises(ward.RequestError) as e:
        engine.decide(*args, at=NOON)
    assert e.value.field.startswith(field), (e.value.field, str(e.value))
    assert isinstance(e.value, ward.WardError)


def test_naive_datetimes_and_bad_times_are_refused(engine):
    with pytest.raises(ward.RequestError, match="time zone"):
        engine.decide(BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": "c-1"}, at=datetime.datetime(2026, 1, 1))
    with pytest.raises(ward.RequestError):
        engine.decide(BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": "c-1"}, at="yesterday")


def test_policy_errors_carry_diagnostics(tmp_path):
    (tmp_path / "bad.ward").write_text("schema s {\n  entity User\n  action read by [User] on [Nope]\n}\n")
    with pytest.raises(ward.PolicyError) as e:
        ward.Engine.from_paths(tmp_path)
    [d] = e.value.diagnostics
    assert d["file"].endswith("bad.ward") and d["line"] == 3 and d["code"].startswith("E")
    assert "Nope" in str(e.value)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ward.PolicyError, match="no `.ward` files"):
        ward.Engine.from_paths(empty)
    with pytest.raises(ward.PolicyError, match="cannot read"):
        ward.Engine.from_paths(tmp_path / "missing")
    with pytest.raises(ward.PolicyError, match="no fixture `nope`"):
        ward.Engine.from_paths(POLICY, fixture="nope")


def test_entities_errors_name_the_field():
    with pytest.raises(ward.EntitiesError) as e:
        ward.Engine.from_paths(POLICY, entities=[{"uid": {"type": "User", "id": "x"}, "attrs": {"region": "mars"}}])
    assert "region" in e.value.field and "mars" in str(e.value)


def test_bad_options_are_value_errors():
    with pytest.raises(ValueError):
        ward.Engine.from_paths(POLICY, backend="gpu")
    with pytest.raises(ValueError):
        ward.Engine.from_paths(POLICY, state="memcached://x")
    with pytest.raises(ValueError):
        ward.Engine.from_paths(POLICY, keys={"k": "too short"})


def test_interpreter_and_jit_agree(engine):
    interp = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", backend="interpreter")
    assert interp.backend == "interpreter" and engine.backend == "jit"
    for c in ("c-1", "c-2", "c-3"):
        assert lookup(engine, c).to_dict() == lookup(interp, c).to_dict()


def test_per_call_entities_replace_the_engines(engine):
    ents = [
        {"uid": {"type": "Team", "id": "support"}},
        {"uid": {"type": "User", "id": "dana"}, "attrs": {"region": "eu"}, "parents": [{"type": "Team", "id": "support"}]},
        {"uid": {"type": "Customer", "id": "c-3"}, "attrs": {"region": "eu", "tier": "standard", "name": "L", "email": "l@x.example", "notes": ""}},
    ]
    assert not lookup(engine, "c-3")
    assert lookup(engine, "c-3", entities=ents)
    assert not lookup(engine, "c-3")
    with pytest.raises(ward.EntitiesError):
        lookup(engine, "c-3", entities=[{"uid": {"type": "Nope", "id": "x"}}])


def test_masks_apply_to_results_arguments_and_text(engine):
    d = lookup(engine)
    record = {"name": "Maria", "ssn": "536-22-8145", "notes": "mail maria@northwind.example", "tags": ["x"]}
    masked = engine.mask(d, record)
    assert masked == {"name": "Maria", "ssn": "[REDACTED]", "notes": "mail [REDACTED:email]", "tags": ["x"]}
    assert record["ssn"] == "536-22-8145", "the payload given is not changed"
    # A field mask cannot be applied to text: the text is withheld.
    with pytest.raises(ward.MaskError, match="names a field, but the payload is text"):
        engine.mask(d, "write to a@b.example")
    assert json.loads(engine.mask(d, json.dumps(record))) == masked
    send = engine.decide(BOT, "send_email", ("Customer", "c-1"), {"to": "a@b.example", "body": "card 4111 1111 1111 1111"}, at=NOON)
    assert engine.mask(send, {"to": "a@b.example", "body": "card 4111 1111 1111 1111"}, part="arguments") == {
        "to": "a@b.example",
        "body": "card ****1111",
    }
    assert engine.mask(send, "card 4111 1111 1111 1111") == "card 4111 1111 1111 1111", "no result masks on send_email"


def test_mask_failures_fail_closed(tmp_path, engine):
    log = ward.AuditLog(tmp_path / "audit.jsonl")
    audited = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", audit_log=log)
    d = lookup(audited)
    with pytest.raises(ward.MaskError) as e:
        audited.mask(d, {"ssn": {"nested": "not a string"}})
    assert e.value.decision.effect == "deny" and "`ssn` is not a string" in e.value.decision.why
    with pytest.raises(ward.MaskError, match="cannot be masked"):
        audited.mask(d, {"ssn": object()})
    assert ward.verify_audit_log(log.path)["records"] == 3, "the decision and both denials are audited"
    denied = lookup(engine, "c-3")
    with pytest.raises(ward.MaskError, match="deny"):
        engine.mask(denied, {"a": 1})
    with pytest.raises(ward.MaskError, match="cannot be followed"):
        engine.mask(lookup(engine), 42)


def test_audit_log_records_every_decision_and_detects_tampering(tmp_path):
    path = tmp_path / "audit.jsonl"
    engine = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", audit_log=path)
    lookup(engine)
    lookup(engine, "c-3")
    with pytest.raises(ward.RequestError):
        engine.decide(BOT, "lookup_customer", ("Customer", "c-1"), {}, at=NOON)
    engine.audit_log.sync()
    report = ward.verify_audit_log(path)
    assert report["records"] == 3 and len(report["head"]) == 64
    lines = path.read_text().splitlines()
    assert [json.loads(line)["effect"] for line in lines] == ["allow", "deny", "deny"]
    lines[1] = lines[1].replace('"deny"', '"allow"')
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ward.AuditError, match="line 2"):
        ward.verify_audit_log(path)
    with pytest.raises(ward.AuditError):
        ward.AuditLog(path)


def test_swap_and_reload_are_atomic_and_keep_the_old_set_on_error(tmp_path):
    policy = tmp_path / "p"
    policy.mkdir()
    text = (POLICY / "helpdesk.ward").read_text()
    (policy / "helpdesk.ward").write_text(text)
    (policy / "tests.ward").write_text((POLICY / "tests.ward").read_text())
    engine = ward.Engine.from_paths(policy, fixture="helpdesk_crm")
    before = engine.policy
    assert lookup(engine)
    (policy / "helpdesk.ward").write_text(text.replace('principal.scopes.contains("crm.read")', 'principal.scopes.contains("nope")'))
    engine.reload()
    assert not lookup(engine) and engine.policy != before
    (policy / "helpdesk.ward").write_text("this is not ward")
    with pytest.raises(ward.PolicyError):
        engine.reload()
    assert not lookup(engine), "a failed reload changes nothing"
    engine.swap(paths=POLICY)
    assert lookup(engine) and engine.policy == ward.Engine.from_paths(POLICY).policy != before
    engine.swap(entities=[{"uid": {"type": "User", "id": "dana"}, "attrs": {"region": "eu"}}])
    assert not lookup(engine, "c-1"), "c-1 is not in the new entities"


def test_bundles_signed_and_refused_when_tampered(tmp_path, ward_bin):
    key = tmp_path / "key"
    subprocess.run([ward_bin, "keygen", "-o", key], check=True, capture_output=True)
    bundle = tmp_path / "policy.wardb"
    subprocess.run([ward_bin, "build", POLICY, "-o", bundle, "--sign", f"{key}.key"], check=True, capture_output=True)
    public = (tmp_path / "key.pub").read_text()
    engine = ward.Engine.from_bundle(bundle, public_key=public, entities=[
        {"uid": {"type": "User", "id": "dana"}, "attrs": {"region": "na"}},
        {"uid": {"type": "Customer", "id": "c-1"}, "attrs": {"region": "na", "tier": "standard", "name": "M", "email": "m@x.example", "notes": ""}},
    ])
    assert lookup(engine)
    data = bytearray(bundle.read_bytes())
    data[100] ^= 1
    bundle.write_bytes(bytes(data))
    with pytest.raises(ward.PolicyError, match="bundle"):
        ward.Engine.from_bundle(bundle, public_key=public)
    with pytest.raises(TypeError):
        ward.Engine.from_bundle(bundle)  # public_key must be given, even as None


def test_rate_limits_report_what_is_left(engine):
    body = {"to": "desk@helpdesk.example", "body": "hi"}
    results = [engine.decide(BOT, "send_email", ("Customer", "c-1"), body, at=NOON) for _ in range(6)]
    assert [bool(d) for d in results] == [True] * 5 + [False]
    assert [d.limits[0].remaining for d in results[:5]] == [4, 3, 2, 1, 0]
    assert results[5].limits[0].retry_after_ms > 0 and "limit `helpdesk.email-rate` reached" in results[5].why


def test_flows_are_recorded_at_decision_or_only_when_recorded(engine):
    out = {"to": "j.ortiz@contoso.example", "body": "hi"}
    send = lambda: engine.decide(BOT, "send_email", ("Customer", "c-2"), out, at=NOON, session="s")  # noqa: E731
    d = engine.decide(BOT, "lookup_customer", ("Customer", "c-2"), {"customer_id": "c-2"}, at=NOON, session="s", record=False)
    assert d and send()
    assert engine.record(d) == []
    assert not send()
    assert engine.record(d) == [], "recording twice is a no-op"
    with pytest.raises(ValueError):
        engine.record(send())


def test_action_names_follow_the_gateway():
    assert ward.action_name("send-email") == "send_email"
    assert ward.action_name("permit") == "permit_"
    assert ward.action_name("3d.render") == "_3d_render"


RESULT_POLICY = """
schema crm {
  entity Agent
  entity Customer
  enum Tier { standard, vip }
  action read_customer by [Agent] on [Customer] returns { tier: Tier }
  action send_email by [Agent] on [Customer] with { external: Bool }
}

policy p {
  @id("all")
  permit

  @id("no-mail-after-vip")
  forbid action: send_email
    when context.external && previously within 1h action: read_customer where response.tier == Tier::vip
}
"""


def test_results_record_the_facts_of_result_flows(tmp_path):
    (tmp_path / "p.ward").write_text(RESULT_POLICY)
    engine = ward.Engine.from_paths(tmp_path)
    bot = ("Agent", "bot")
    read = lambda c: engine.decide(bot, "read_customer", ("Customer", c), at=NOON, session="s")  # noqa: E731
    send = lambda: engine.decide(bot, "send_email", ("Customer", "c-1"), {"external": True}, at=NOON, session="s")  # noqa: E731
    # The decision records nothing: the tier is in the result.
    d = read("c-1")
    assert d and send()
    assert engine.record_result(d, {"tier": "standard", "name": "Bo"}) == {"facts": [], "unknown": [], "errors": []}
    assert send()
    # JSON text is read as JSON.
    assert engine.record_result(read("c-2"), '{"tier": "vip"}')["facts"] == ["p.no-mail-after-vip/previously"]
    denied = send()
    assert not denied and [r.rule for r in denied.reasons] == ["p.no-mail-after-vip"]
    # A result that cannot be read makes the flow unknown in its session: the forbid applies.
    other = engine.decide(bot, "read_customer", ("Customer", "c-3"), at=NOON, session="t")
    [(flow, why)] = engine.record_result(other, "not json")["unknown"]
    assert flow == "p.no-mail-after-vip/previously" and "not JSON" in why
    assert not engine.decide(bot, "send_email", ("Customer", "c-1"), {"external": True}, at=NOON, session="t")
    with pytest.raises(ValueError):
        engine.record_result(denied, {"tier": "vip"})


def test_a_guarded_tool_reports_its_result_before_it_is_masked(tmp_path):
    (tmp_path / "p.ward").write_text(RESULT_POLICY)
    engine = ward.Engine.from_paths(tmp_path)

    @ward.guard(engine=engine, principal=("Agent", "bot"), resource=lambda args: ("Customer", args["customer"]), session="s")
    def read_customer(customer: str) -> dict:
        return {"tier": "vip" if customer == "c-17" else "standard"}

    @ward.guard(engine=engine, principal=("Agent", "bot"), resource=("Customer", "c-1"), session="s")
    def send_email(external: bool) -> str:
        return "sent"

    read_customer("c-18")
    assert send_email(True) == "sent"
    read_customer("c-17")
    with pytest.raises(ward.Denied):
        send_email(True)
