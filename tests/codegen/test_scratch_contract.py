"""schemathesis against the scratch files spec, served by the real app: uploads (fields in any order),
downloads (ranges, revalidation, HEAD), If-Match, an event stream and a GET that writes, with every check
and every phase, failing on any warning (schemathesis.toml), as tests/contract does for the API's spec."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.codegen.conftest import APIS
from tests.contract.run import run_schemathesis
from tests.ops.helpers import ROOT


def test_the_scratch_files_api_conforms_to_its_spec(scratch_server: str, scratch_dir: Path) -> None:
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(scratch_dir)]),
        "SCHEMATHESIS_HOOKS": "tests.codegen.scratch_hooks",
        "HALOLIGHT_CONTRACT_URL": scratch_server,
    }
    spec = APIS / "files" / "openapi.yaml"
    result = run_schemathesis(spec, scratch_server, max_examples=25, seed=20261203, env=env, timeout=600)
    if result.returncode != 0:
        report = result.stdout[-12000:]
        pytest.fail(f"schemathesis exited with {result.returncode}\n\n{report}", pytrace=False)
