"""@ward.guard on plain Python functions: python examples/python/guard_basics.py"""

import ward
from _shared import BOT, CRM, engine


@ward.guard(resource=lambda args: ("Customer", args["customer_id"]))
def lookup_customer(customer_id: str) -> dict:
    return CRM[customer_id]


@ward.guard(resource=lambda args: ("Customer", args["customer"]))
def send_email(customer: str, to: str, body: str) -> str:
    print(f"    (the mail server receives: {body!r})")
    return "sent"


with ward.acting_as(BOT, engine=engine(), session="conversation-1"):
    print("lookup_customer c-1 ->", lookup_customer("c-1"))
    try:
        lookup_customer("c-3")
    except ward.Denied as e:
        print("lookup_customer c-3 ->", e)
    print("send_email with a card number ->", send_email("c-1", "desk@helpdesk.example", "card 4111 1111 1111 1111"))
    lookup_customer("c-2")  # a VIP record
    try:
        send_email("c-2", "j.ortiz@contoso.example", "About your renewal")
    except ward.Denied as e:
        print("send_email outside after reading a VIP ->", e)
