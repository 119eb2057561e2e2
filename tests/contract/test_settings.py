"""schemathesis.toml: every warning schemathesis knows fails the contract run, except the one it explains."""

from __future__ import annotations

import tomllib
from pathlib import Path

from schemathesis.core.warnings import SchemathesisWarning

ROOT = Path(__file__).resolve().parents[2]
# Shown, not fatal: schemathesis.toml says why.
SHOWN_ONLY = {SchemathesisWarning.VALIDATION_MISMATCH.value}


def test_every_other_warning_fails_the_run() -> None:
    settings = tomllib.loads((ROOT / "schemathesis.toml").read_text())
    fail_on = settings["warnings"]["fail-on"]
    assert len(fail_on) == len(set(fail_on)), fail_on
    assert set(fail_on) == {warning.value for warning in SchemathesisWarning} - SHOWN_ONLY
