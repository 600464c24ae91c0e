"""The shared request corpus (tests/corpus/): the Python package must reach
exactly the decisions the Rust engine recorded (tests/corpus.rs holds the
`ward` binary to the same file). A request the schema refuses is a deny
decision in Rust and a RequestError carrying the same message here."""

from __future__ import annotations

import json
import os

import pytest

import ward

from conftest import ROOT

MANIFEST = json.loads((ROOT / "tests" / "corpus" / "manifest.json").read_text())


def lines(path):
    return [line for line in (ROOT / path).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", MANIFEST, ids=[c["name"] for c in MANIFEST])
@pytest.mark.parametrize("backend", ["jit", "interpreter"])
def test_python_decides_the_corpus_as_rust_did(case, backend, monkeypatch):
    # Spans name files as given: decide from the root with the same relative paths as the binary.
    monkeypatch.chdir(ROOT)
    engine = ward.Engine.from_paths(case["policy"], fixture=case["fixture"], backend=backend)
    requests = lines(case["requests"])
    expected = [json.loads(line) for line in lines(case["decisions"])]
    assert len(requests) == len(expected) > 0
    for i, (request, want) in enumerate(zip(requests, expected)):
        try:
            got = engine.decide_json(request, at=case["at"]).to_dict()
        except ward.RequestError as e:
            assert want["effect"] == "deny" and [x["message"] for x in want["errors"]] == [str(e)], (i, request)
            continue
        assert got == want, f"{case['name']} request {i}: {request}"


def test_the_corpus_covers_every_effect():
    effects = {json.loads(line)["effect"] for case in MANIFEST for line in lines(case["decisions"])}
    assert effects == {"allow", "deny", "approval_required"}
    assert sum(len(lines(c["decisions"])) for c in MANIFEST) > 50
    assert os.path.exists(ROOT / "tests" / "corpus.rs")
