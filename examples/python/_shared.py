"""What the examples share: the helpdesk policy, its fixture, and a fake CRM."""

import pathlib

import ward

POLICY = pathlib.Path(__file__).resolve().parent
BOT = ("Agent", "helpdesk_bot")

CRM = {
    "c-1": {"name": "Maria Anders", "ssn": "536-22-8145", "notes": "Prefers mail to maria.anders@northwind.example"},
    "c-2": {"name": "Jordan Ortiz", "notes": "Renewal under negotiation"},
    "c-3": {"name": "Lena Vogel", "notes": ""},
}


def engine() -> ward.Engine:
    # A real deployment loads its entities (Cedar's JSON format) or a signed
    # bundle: ward.Engine.from_bundle("policy.wardb", public_key=..., entities=...).
    return ward.Engine.from_paths(POLICY, fixture="helpdesk_crm")
