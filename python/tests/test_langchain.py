"""LangChain's create_agent with a scripted chat model (langchain_core's
GenericFakeChatModel; no network, no LLM): the agent's tool node runs the
calls the script makes, and WardMiddleware decides each."""

from __future__ import annotations

import asyncio
import json

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import ToolException, tool

import ward
from ward.integrations.langchain import WardMiddleware

from conftest import BOT

RECORDS = {
    "c-1": {"name": "Maria Anders", "ssn": "536-22-8145", "notes": "Prefers mail to maria.anders@northwind.example"},
    "c-2": {"name": "Jordan Ortiz", "notes": "Renewal under negotiation"},
    "c-3": {"name": "Lena Vogel", "notes": ""},
}


class ScriptedChatModel(GenericFakeChatModel):
    """Replays scripted AI messages; tools are bound by create_agent but the script decides the calls."""

    def bind_tools(self, tools, **kwargs):  # noqa: ANN001 - the interface create_agent calls
        return self


def call(name: str, args: dict, id_: str) -> AIMessage:
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": id_, "type": "tool_call"}])


def make_agent(ran: list, script: list):
    @tool
    def lookup_customer(customer_id: str) -> str:
        """Look a customer up by id."""
        ran.append(("lookup_customer", customer_id))
        return json.dumps(RECORDS[customer_id])

    @tool
    def send_email(customer: str, to: str, body: str) -> str:
        """Send an email about a customer."""
        ran.append(("send_email", to, body))
        return "sent"

    @tool
    def delete_customer(customer_id: str, reason: str) -> str:
        """Delete a customer."""
        ran.append(("delete_customer", customer_id))
        return "deleted"

    @tool
    def crashing_lookup(customer_id: str) -> str:
        """A lookup whose backend is down (the error becomes the tool's message)."""
        ran.append(("crashing_lookup", customer_id))
        raise ToolException("the CRM is down")

    crashing_lookup.handle_tool_error = True

    middleware = WardMiddleware(
        resources={
            "lookup_customer": lambda a: ("Customer", a["customer_id"]),
            "crashing_lookup": lambda a: ("Customer", a["customer_id"]),
            "send_email": lambda a: ("Customer", a["customer"]),
            "delete_customer": lambda a: ("Customer", a["customer_id"]),
        },
        actions={"crashing_lookup": "lookup_customer"},
    )
    model = ScriptedChatModel(messages=iter(script))
    return create_agent(model, [lookup_customer, send_email, delete_customer, crashing_lookup], middleware=[middleware])


def tool_messages(state) -> list:
    return [m for m in state["messages"] if isinstance(m, ToolMessage)]


SCRIPT = [
    call("lookup_customer", {"customer_id": "c-1"}, "t1"),
    call("lookup_customer", {"customer_id": "c-3"}, "t2"),
    call("delete_customer", {"customer_id": "c-1", "reason": "GDPR"}, "t3"),
    call("crashing_lookup", {"customer_id": "c-2"}, "t4"),
    call("send_email", {"customer": "c-2", "to": "j.ortiz@contoso.example", "body": "hi"}, "t5"),
    call("lookup_customer", {"customer_id": "c-2"}, "t6"),
    call("send_email", {"customer": "c-2", "to": "j.ortiz@contoso.example", "body": "again"}, "t7"),
    call("send_email", {"customer": "c-1", "to": "desk@helpdesk.example", "body": "card 4111 1111 1111 1111"}, "t8"),
    AIMessage(content="done"),
]


def check(state, ran) -> None:
    msgs = tool_messages(state)
    assert [m.tool_call_id for m in msgs] == ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"]
    first = json.loads(msgs[0].content)
    assert first["ssn"] == "[REDACTED]" and first["notes"] == "Prefers mail to [REDACTED:email]"
    assert msgs[1].status == "error" and msgs[1].content.startswith("ward: `lookup_customer` denied")
    assert msgs[2].status == "error" and "needs a human approval" in msgs[2].content
    assert msgs[3].status == "error"  # the tool crashed: its call does not count as a VIP read
    assert msgs[4].content == "sent"
    assert msgs[6].status == "error" and "helpdesk.no-vip-leaks" in msgs[6].content
    assert msgs[7].content == "sent"
    assert ran == [
        ("lookup_customer", "c-1"),
        ("crashing_lookup", "c-2"),
        ("send_email", "j.ortiz@contoso.example", "hi"),
        ("lookup_customer", "c-2"),
        ("send_email", "desk@helpdesk.example", "card ****1111"),
    ]
    assert state["messages"][-1].content == "done"
    assert "536-22-8145" not in json.dumps([m.content for m in state["messages"]])


def test_the_agent_runs_only_what_ward_allows(engine):
    ran: list = []
    agent = make_agent(ran, list(SCRIPT))
    with ward.acting_as(BOT, engine=engine, session="thread-1"):
        state = agent.invoke({"messages": [("user", "help")]})
    check(state, ran)


def test_the_async_agent_too(engine):
    ran: list = []
    agent = make_agent(ran, list(SCRIPT))

    async def run():
        with ward.acting_as(BOT, engine=engine, session="thread-2"):
            return await agent.ainvoke({"messages": [("user", "help")]})

    check(asyncio.run(run()), ran)


def test_a_tool_without_a_resource_is_refused(engine):
    ran: list = []

    @tool
    def unlisted(x: str) -> str:
        """Not covered by the middleware's resources."""
        ran.append(x)
        return x

    model = ScriptedChatModel(messages=iter([call("unlisted", {"x": "1"}, "u1"), AIMessage(content="done")]))
    agent = create_agent(model, [unlisted], middleware=[WardMiddleware(resources={})])
    with ward.acting_as(BOT, engine=engine):
        state = agent.invoke({"messages": [("user", "go")]})
    [m] = tool_messages(state)
    assert m.status == "error" and "no resource" in m.content and ran == []
