"""schemathesis against the scratch files spec, served by the real app: uploads (fields in any order),
downloads (ranges, revalidation, HEAD), If-Match, an event stream and a GET that writes, with every check
and every phase, failing on any warning (schemathesis.toml), as tests/contract does for the API's spec."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.codegen.conftest import APIS
from tests.ops.helpers import ROOT


def test_the_scratch_files_api_conforms_to_its_spec(scratch_server: str, scratch_dir: Path) -> None:
    command = [
        shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis",
        "run",
        str(APIS / "files" / "openapi.yaml"),
        "--url",
        scratch_server,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "25",
        "--seed",
        "20261203",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--request-timeout",
        "15",
        "--no-color",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(scratch_dir)]),
        "SCHEMATHESIS_HOOKS": "tests.codegen.scratch_hooks",
        "HALOLIGHT_CONTRACT_URL": scratch_server,
    }
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    print(result.stdout[-6000:])
    if result.returncode != 0:
        pytest.fail(
            f"schemathesis exited with {result.returncode}\n\n{result.stdout[-12000:]}", pytrace=False
        )
