"""A LangChain agent (create_agent) whose every tool call Ward decides:
python examples/python/langchain_helpdesk.py

The chat model is scripted (langchain_core's GenericFakeChatModel), so this
runs offline; pass a real chat model to create_agent and nothing else changes.
"""

import json

from langchain.agents import create_agent
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import tool

import ward
from _shared import BOT, CRM, engine
from ward.integrations.langchain import WardMiddleware


@tool
def lookup_customer(customer_id: str) -> str:
    """Look a customer up by id."""
    return json.dumps(CRM[customer_id])


@tool
def delete_customer(customer_id: str, reason: str) -> str:
    """Delete a customer."""
    return "deleted"


class ScriptedModel(GenericFakeChatModel):
    def bind_tools(self, tools, **kwargs):
        return self


def call(name, args, id_):
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": id_, "type": "tool_call"}])


model = ScriptedModel(
    messages=iter(
        [
            call("lookup_customer", {"customer_id": "c-1"}, "1"),
            call("delete_customer", {"customer_id": "c-1", "reason": "GDPR erasure"}, "2"),
            AIMessage(content="Deleting Maria's record needs a supervisor's sign-off; I asked for one."),
        ]
    )
)
guard = WardMiddleware(
    resources={
        "lookup_customer": lambda args: ("Customer", args["customer_id"]),
        "delete_customer": lambda args: ("Customer", args["customer_id"]),
    }
)
agent = create_agent(model, [lookup_customer, delete_customer], middleware=[guard])

with ward.acting_as(BOT, engine=engine(), session="thread-1"):
    state = agent.invoke({"messages": [("user", "Erase Maria Anders (c-1).")]})

for message in state["messages"]:
    if isinstance(message, ToolMessage):
        print(f"tool {message.name} [{message.status}]: {message.content}")
print("final:", state["messages"][-1].content)
