"""The OpenAI Agents SDK, driven by its ScriptedModel (no network, no LLM):
the Runner executes the tool calls the script makes, Ward decides each."""

from __future__ import annotations

import asyncio
import json

from agents import Agent, Runner, set_tracing_disabled
from agents.items import ToolCallOutputItem
from agents.testing import ScriptedModel, assistant_message, function_call

import ward
from ward.integrations.openai_agents import ward_tool

from conftest import BOT

set_tracing_disabled(True)  # tracing would export to the network

RECORDS = {
    "c-1": {"name": "Maria Anders", "ssn": "536-22-8145", "notes": "Prefers mail to maria.anders@northwind.example"},
    "c-2": {"name": "Jordan Ortiz", "notes": "Renewal under negotiation"},
    "c-3": {"name": "Lena Vogel", "notes": ""},
}


def make_tools(ran: list):
    @ward_tool(resource=lambda a: ("Customer", a["customer_id"]))
    def lookup_customer(customer_id: str) -> dict:
        """Look a customer up by id."""
        ran.append(("lookup_customer", customer_id))
        return RECORDS[customer_id]

    @ward_tool(resource=lambda a: ("Customer", a["customer"]))
    async def send_email(customer: str, to: str, body: str) -> str:
        """Send an email about a customer."""
        ran.append(("send_email", to, body))
        return "sent"

    return [lookup_customer, send_email]


def outputs(result) -> list:
    return [item.output for item in result.new_items if isinstance(item, ToolCallOutputItem)]


def test_the_runner_executes_only_what_ward_allows_and_the_model_sees_masked_results(engine):
    ran: list = []
    model = ScriptedModel(
        [
            [function_call("lookup_customer", {"customer_id": "c-1"}, call_id="t1")],
            [function_call("lookup_customer", {"customer_id": "c-3"}, call_id="t2")],
            [function_call("lookup_customer", {"customer_id": "c-2"}, call_id="t3")],
            [function_call("send_email", {"customer": "c-2", "to": "j.ortiz@contoso.example", "body": "hi"}, call_id="t4")],
            [function_call("send_email", {"customer": "c-1", "to": "desk@helpdesk.example", "body": "card 4111 1111 1111 1111"}, call_id="t5")],
            [assistant_message("done")],
        ]
    )
    agent = Agent(name="helpdesk", instructions="help", model=model, tools=make_tools(ran))
    with ward.acting_as(BOT, engine=engine, session="conv-1"):
        result = asyncio.run(Runner.run(agent, "look up c-1, c-3 and c-2, then mail"))
    assert result.final_output == "done"
    out = outputs(result)
    first = json.loads(out[0]) if isinstance(out[0], str) else out[0]
    assert first["ssn"] == "[REDACTED]" and first["notes"] == "Prefers mail to [REDACTED:email]"
    assert out[1].startswith("ward: `lookup_customer` denied: no permit applies")
    assert "helpdesk.no-vip-leaks" in out[3] and "No mail outside the company" in out[3]
    assert out[4] == "sent"
    # Denied calls never ran; the card number was masked before the tool got it.
    assert ran == [
        ("lookup_customer", "c-1"),
        ("lookup_customer", "c-2"),
        ("send_email", "desk@helpdesk.example", "card ****1111"),
    ]
    # What the model was sent back never held the SSN or the email address.
    sent_to_model = json.dumps([c.input for c in model.calls], default=str)
    assert "536-22-8145" not in sent_to_model and "maria.anders@northwind.example" not in sent_to_model
    assert model.remaining_steps == 0
