#!/usr/bin/env python3
"""Writes the shared request corpus (tests/corpus/*.requests.jsonl): for each
example, its sample requests with the principal and the resource varied over
every entity of the same type in its fixture. The expected decisions
(*.decisions.jsonl) come from the Rust engine: UPDATE_CORPUS=1 cargo test
--test corpus. tests/corpus.rs (the `ward` binary) and
python/tests/test_corpus.py (the Python package) must both reproduce them.

Run from the repository root: python3 tests/corpus/generate.py
"""

import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
MANIFEST = json.loads((ROOT / "tests/corpus/manifest.json").read_text())
ENTITY = re.compile(r'entity\s+(\w+)::"([^"]+)"')


def main() -> None:
    for case in MANIFEST:
        folder = ROOT / case["policy"]
        by_type: dict = {}
        for f in sorted(folder.rglob("*.ward")):
            for ty, id_ in ENTITY.findall(f.read_text()):
                ids = by_type.setdefault(ty, [])
                if id_ not in ids:
                    ids.append(id_)
        for f in sorted(folder.rglob("*.ward")):
            for m in re.finditer(r"^agent\s+(\w+)\s*:\s*(\w+)", f.read_text(), re.M):
                ids = by_type.setdefault(m.group(2), [])
                if m.group(1) not in ids:
                    ids.append(m.group(1))
        seeds = [json.loads(line) for line in (ROOT / case["seed"]).read_text().splitlines() if line.strip()]
        out = []
        for seed in seeds:
            principals = by_type.get(seed["principal"]["type"], [seed["principal"]["id"]])
            resources = by_type.get(seed["resource"]["type"], [seed["resource"]["id"]])
            for p in principals:
                for r in resources:
                    req = dict(seed)
                    req["principal"] = {"type": seed["principal"]["type"], "id": p}
                    req["resource"] = {"type": seed["resource"]["type"], "id": r}
                    out.append(json.dumps(req, sort_keys=True))
        # Shapes the schema refuses: an unknown action, a context field of the wrong type.
        first = seeds[0]
        out.append(json.dumps({**first, "action": "no_such_action"}, sort_keys=True))
        out.append(json.dumps({**first, "context": {**first.get("context", {}), "unexpected": 1}}, sort_keys=True))
        (ROOT / case["requests"]).write_text("\n".join(out) + "\n")
        print(f"{case['requests']}: {len(out)} requests")


if __name__ == "__main__":
    main()
