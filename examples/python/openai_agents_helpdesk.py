"""The OpenAI Agents SDK with Ward-guarded function tools:
python examples/python/openai_agents_helpdesk.py

The model is the SDK's ScriptedModel, so this runs offline and shows exactly
which tool calls the agent attempts; put a real model in its place
(Agent(model="gpt-…")) and nothing else changes.
"""

import asyncio

from agents import Agent, Runner, set_tracing_disabled
from agents.items import ToolCallItem, ToolCallOutputItem
from agents.testing import ScriptedModel, assistant_message, function_call

import ward
from _shared import BOT, CRM, engine
from ward.integrations.openai_agents import ward_tool

set_tracing_disabled(True)


@ward_tool(resource=lambda args: ("Customer", args["customer_id"]))
def lookup_customer(customer_id: str) -> dict:
    """Look a customer up by id."""
    return CRM[customer_id]


@ward_tool(resource=lambda args: ("Customer", args["customer"]))
def send_email(customer: str, to: str, body: str) -> str:
    """Email someone about a customer."""
    return "sent"


model = ScriptedModel(
    [
        [function_call("lookup_customer", {"customer_id": "c-1"}, call_id="1")],
        [function_call("lookup_customer", {"customer_id": "c-2"}, call_id="2")],
        [function_call("send_email", {"customer": "c-2", "to": "j.ortiz@contoso.example", "body": "Renewal"}, call_id="3")],
        [assistant_message("I could not email Jordan: the policy forbids it right after reading a VIP record.")],
    ]
)
agent = Agent(name="helpdesk", instructions="You help the support team.", model=model, tools=[lookup_customer, send_email])

with ward.acting_as(BOT, engine=engine(), session="conversation-1"):
    result = asyncio.run(Runner.run(agent, "Look up c-1 and c-2, then email Jordan about the renewal."))

for item in result.new_items:
    if isinstance(item, ToolCallItem):
        print("call  ", item.raw_item.name, item.raw_item.arguments)
    elif isinstance(item, ToolCallOutputItem):
        print("result", item.output)
print("final ", result.final_output)
