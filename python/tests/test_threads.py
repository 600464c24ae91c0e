"""Thread safety: many threads deciding at once get the decisions one thread
gets, and a policy swapped in under load never yields a failed or mixed decision."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import ward

from conftest import BOT, NOON, POLICY

REQUESTS = [
    (BOT, "lookup_customer", ("Customer", c), {"customer_id": c}) for c in ("c-1", "c-2", "c-3")
] + [(BOT, "delete_customer", ("Customer", "c-1"), {"reason": "x"}), (BOT, "delete_customer", ("Customer", "c-1"), {"reason": "x", "approved_by": {"type": "User", "id": "sam"}})]


def test_concurrent_decisions_equal_sequential_ones(engine):
    expected = [engine.decide(*r, at=NOON).to_dict() for r in REQUESTS]

    def work(k: int) -> list:
        return [engine.decide(*REQUESTS[(k + i) % len(REQUESTS)], at=NOON).to_dict() for i in range(400)]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(8)))
    for k, got in enumerate(results):
        for i, d in enumerate(got):
            assert d == expected[(k + i) % len(REQUESTS)]


def test_swaps_under_load_never_mix_or_fail(tmp_path):
    text = (POLICY / "helpdesk.ward").read_text()
    fixture = (POLICY / "tests.ward").read_text()
    folders = []
    for name, scope in (("a", "crm.read"), ("b", "nothing")):
        d = tmp_path / name
        d.mkdir()
        (d / "helpdesk.ward").write_text(text.replace('principal.scopes.contains("crm.read")', f'principal.scopes.contains("{scope}")'))
        (d / "tests.ward").write_text(fixture)
        folders.append(d)
    engine = ward.Engine.from_paths(folders[0], fixture="helpdesk_crm")
    stop = threading.Event()
    seen: dict = {}
    errors: list = []

    def decide() -> None:
        while not stop.is_set():
            try:
                d = engine.decide(BOT, "lookup_customer", ("Customer", "c-1"), {"customer_id": "c-1"}, at=NOON)
            except Exception as e:  # noqa: BLE001 - any failure is what this test looks for
                errors.append(e)
                return
            # An allow is decided by the permit; a deny is a default deny: never anything else.
            rules = tuple(r.rule for r in d.reasons)
            assert (d.effect, rules) in {("allow", ("helpdesk.lookup-own-region",)), ("deny", (None,))}, (d.effect, rules)
            seen[d.effect] = seen.get(d.effect, 0) + 1

    threads = [threading.Thread(target=decide) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(10):
        engine.swap(paths=folders[(i + 1) % 2])
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert seen.get("allow", 0) > 0 and seen.get("deny", 0) > 0, seen
