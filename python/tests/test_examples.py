"""The runnable examples under examples/python/ run and show the refusals and masks they promise."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT

EXAMPLES = {
    "guard_basics.py": ["'ssn': '[REDACTED]'", "lookup_customer c-3 -> ward: `lookup_customer` denied", "receives: 'card ****1111'", "helpdesk.no-vip-leaks"],
    "openai_agents_helpdesk.py": ["'ssn': '[REDACTED]'", "result ward: `send_email` denied", "final  I could not email Jordan"],
    "langchain_helpdesk.py": ['"ssn":"[REDACTED]"', "tool delete_customer [error]: ward: `delete_customer` needs a human approval"],
    "mcp_helpdesk.py": ['"ssn": "[REDACTED]"', "lookup_customer c-3 -> Error executing tool lookup_customer: ward: `lookup_customer` denied", "sends: 'card ****1111'"],
}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_example_runs(name):
    out = subprocess.run([sys.executable, name], cwd=ROOT / "examples" / "python", capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for expected in EXAMPLES[name]:
        assert expected in out.stdout, (expected, out.stdout)
    assert "536-22-8145" not in out.stdout
