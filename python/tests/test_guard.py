"""@ward.guard on plain callables: decide before, never run on a deny, mask
arguments and results, record flows only after success, audit."""

from __future__ import annotations

import asyncio
import json

import pytest

import ward

from conftest import BOT, POLICY

CUSTOMERS = {
    "c-1": {"name": "Maria Anders", "ssn": "536-22-8145", "notes": "Prefers mail to maria.anders@northwind.example"},
    "c-2": {"name": "Jordan Ortiz", "notes": "Renewal under negotiation"},
    "c-3": {"name": "Lena Vogel", "notes": ""},
}


class Tools:
    """The helpdesk tools, counting what actually ran."""

    def __init__(self) -> None:
        self.ran: list = []
        self.sent: list = []

        @ward.guard(resource=lambda a: ("Customer", a["customer_id"]))
        def lookup_customer(customer_id: str) -> dict:
            self.ran.append(("lookup_customer", customer_id))
            return dict(CUSTOMERS[customer_id])

        @ward.guard(resource=lambda a: ("Customer", a["customer"]))
        def send_email(customer: str, to: str, body: str) -> str:
            self.ran.append(("send_email", to))
            self.sent.append(body)
            return "sent"

        @ward.guard(resource=lambda a: ("Customer", a["customer_id"]))
        def delete_customer(customer_id: str, reason: str) -> str:
            self.ran.append(("delete_customer", customer_id))
            return "deleted"

        @ward.guard(action="lookup_customer", resource=lambda a: ("Customer", a["customer_id"]))
        def failing_lookup(customer_id: str) -> dict:
            self.ran.append(("failing_lookup", customer_id))
            raise RuntimeError("the CRM is down")

        @ward.guard(resource=lambda a: ("Customer", a["customer_id"]))
        async def lookup_customer_async(customer_id: str) -> dict:
            await asyncio.sleep(0)
            self.ran.append(("lookup_customer_async", customer_id))
            return dict(CUSTOMERS[customer_id])

        self.lookup_customer = lookup_customer
        self.send_email = send_email
        self.delete_customer = delete_customer
        self.failing_lookup = failing_lookup
        # The action is the function's name unless given.
        self.lookup_customer_async = ward.guard(action="lookup_customer", resource=lambda a: ("Customer", a["customer_id"]))(
            lookup_customer_async.__wrapped__
        )


@pytest.fixture
def tools():
    return Tools()


@pytest.fixture
def bot(engine):
    with ward.acting_as(BOT, engine=engine, session="conv-1") as scope:
        yield scope


def test_an_allowed_call_runs_and_its_result_is_masked(tools, bot):
    assert tools.lookup_customer("c-1") == {
        "name": "Maria Anders",
        "ssn": "[REDACTED]",
        "notes": "Prefers mail to [REDACTED:email]",
    }
    assert tools.ran == [("lookup_customer", "c-1")]


def test_a_denied_call_is_never_run(tools, bot):
    with pytest.raises(ward.Denied) as e:
        tools.lookup_customer("c-3")
    assert tools.ran == []
    assert "ward: `lookup_customer` denied: no permit applies" in str(e.value)
    assert e.value.decision.effect == "deny" and e.value.action == "lookup_customer"


def test_approval_required_is_never_run_and_carries_the_obligation(tools, bot):
    with pytest.raises(ward.ApprovalRequired) as e:
        tools.delete_customer("c-1", reason="GDPR erasure")
    assert tools.ran == []
    assert isinstance(e.value, ward.Denied)
    assert [(o.name, o.args) for o in e.value.obligations] == [("require_approval", {"role": "supervisor"})]
    assert "needs a human approval" in str(e.value) and "supervisor's sign-off" in str(e.value)


def test_supplied_facts_fill_the_context_and_cannot_come_from_arguments(tools, engine):
    with ward.acting_as(BOT, engine=engine, context={"approved_by": {"type": "User", "id": "sam"}}):
        assert tools.delete_customer("c-1", reason="GDPR erasure") == "deleted"

    @ward.guard(resource=("Customer", "c-1"))
    def delete_customer(customer_id: str, reason: str, approved_by: dict) -> str:
        raise AssertionError("must not run")

    with ward.acting_as(BOT, engine=engine, context={"approved_by": {"type": "User", "id": "dana"}}):
        with pytest.raises(ward.RequestError, match="not accepted from the caller"):
            delete_customer("c-1", "x", approved_by={"type": "User", "id": "sam"})


def test_argument_masks_rewrite_what_the_tool_receives(tools, bot):
    assert tools.send_email("c-1", to="desk@helpdesk.example", body="card 4111 1111 1111 1111") == "sent"
    assert tools.sent == ["card ****1111"]


def test_flows_count_only_calls_that_succeeded(tools, bot):
    with pytest.raises(RuntimeError):
        tools.failing_lookup("c-2")
    # The VIP read failed: it did not happen, so mail outside is still allowed.
    assert tools.send_email("c-2", to="j.ortiz@contoso.example", body="hello") == "sent"
    tools.lookup_customer("c-2")
    with pytest.raises(ward.Denied, match="No mail outside the company within an hour of reading a VIP record"):
        tools.send_email("c-2", to="j.ortiz@contoso.example", body="hello again")
    assert tools.sent == ["hello"]
    # Inside the company is fine; another session has its own history.
    assert tools.send_email("c-2", to="desk@helpdesk.example", body="fyi") == "sent"
    with ward.acting_as(BOT, session="conv-2"):
        assert tools.send_email("c-2", to="j.ortiz@contoso.example", body="other conversation") == "sent"


def test_async_tools_are_guarded(tools, bot):
    assert asyncio.run(tools.lookup_customer_async("c-1"))["ssn"] == "[REDACTED]"
    with pytest.raises(ward.Denied):
        asyncio.run(tools.lookup_customer_async("c-3"))
    assert tools.ran == [("lookup_customer_async", "c-1")]


def test_without_an_engine_or_a_principal_nothing_runs(tools, engine):
    with pytest.raises(ward.WardError, match="no Ward engine"):
        tools.lookup_customer("c-1")
    with ward.acting_as(BOT):
        with pytest.raises(ward.WardError, match="no Ward engine"):
            tools.lookup_customer("c-1")
    ward.configure(engine)
    try:
        with pytest.raises(ward.WardError, match="no principal"):
            tools.lookup_customer("c-1")
        ward.configure(engine, principal=BOT)
        assert tools.lookup_customer("c-1")["ssn"] == "[REDACTED]"
    finally:
        ward.configure()
    assert tools.ran == [("lookup_customer", "c-1")]


def test_a_result_that_cannot_be_masked_is_withheld(engine, bot):
    ran = []

    @ward.guard(resource=("Customer", "c-1"))
    def lookup_customer(customer_id: str) -> object:
        ran.append(customer_id)
        return {"ssn": ["not", "a", "string"]}

    with pytest.raises(ward.MaskError) as e:
        lookup_customer("c-1")
    assert ran == ["c-1"] and e.value.decision.effect == "deny"


def test_a_request_the_schema_refuses_is_never_run(engine, bot):
    ran = []

    @ward.guard(action="lookup_customer", resource=("Customer", "c-1"))
    def lookup(customer_id: int) -> None:
        ran.append(customer_id)

    with pytest.raises(ward.RequestError) as e:
        lookup(17)
    assert e.value.field == "context.customer_id" and ran == []


def test_every_guarded_decision_is_audited(tmp_path, tools):
    log = tmp_path / "audit.jsonl"
    engine = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", audit_log=log)
    with ward.acting_as(BOT, engine=engine):
        tools.lookup_customer("c-1")
        with pytest.raises(ward.Denied):
            tools.lookup_customer("c-3")
    engine.audit_log.sync()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["action"], r["effect"]) for r in records] == [("lookup_customer", "allow"), ("lookup_customer", "deny")]
    assert ward.verify_audit_log(log)["records"] == 2
