"""Shared fixtures: the helpdesk policy of examples/python, decided at a fixed time."""

from __future__ import annotations

import os
import pathlib
import shutil

import pytest

import ward

ROOT = pathlib.Path(__file__).resolve().parents[2]
POLICY = ROOT / "examples" / "python"
NOON = "2026-11-26T12:00:00Z"
BOT = ("Agent", "helpdesk_bot")


@pytest.fixture
def engine() -> ward.Engine:
    return ward.Engine.from_paths(POLICY, fixture="helpdesk_crm")


@pytest.fixture
def ward_bin() -> pathlib.Path:
    """The `ward` binary (scripts/suites/python.sh builds it); its absence is a failure, not a skip."""
    target = pathlib.Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    for candidate in (os.environ.get("WARD_BIN"), target / "debug" / "ward", shutil.which("ward")):
        if candidate and pathlib.Path(candidate).is_file():
            return pathlib.Path(candidate)
    raise AssertionError("no `ward` binary: set WARD_BIN or build it (cargo build --bin ward)")
