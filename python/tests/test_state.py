"""State selection: rate limits shared by two engines through Redis
(a redis-server this test starts on a free local port)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

import pytest

import ward

from conftest import BOT, NOON, POLICY


@pytest.fixture
def redis_url(tmp_path):
    server = os.environ.get("WARD_REDIS_SERVER") or shutil.which("redis-server")
    assert server, "redis-server is needed (scripts/provision/redis.sh installs it); this test does not skip"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_two_engines_share_a_rate_limit_through_redis(redis_url):
    a = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", state=redis_url)
    b = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", state=redis_url)
    mail = {"to": "desk@helpdesk.example", "body": "hi"}
    send = lambda e: e.decide(BOT, "send_email", ("Customer", "c-1"), mail, at=NOON)  # noqa: E731
    allowed = [bool(send(e)) for e in (a, b, a, b, a)]
    assert allowed == [True] * 5
    last = send(b)
    assert not last and "helpdesk.email-rate" in last.why
    # An engine with its own in-process state has its own budget.
    assert send(ward.Engine.from_paths(POLICY, fixture="helpdesk_crm"))


def test_an_unreachable_redis_fails_closed():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    engine = ward.Engine.from_paths(POLICY, fixture="helpdesk_crm", state=f"redis://127.0.0.1:{port}/")
    d = engine.decide(BOT, "send_email", ("Customer", "c-1"), {"to": "desk@helpdesk.example", "body": "hi"}, at=NOON)
    assert not d and d.errors
