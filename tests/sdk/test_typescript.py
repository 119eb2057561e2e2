"""The TypeScript side of `make sdk` (sdk/typescript/: schema.d.ts from openapi-typescript, index.ts with
openapi-fetch): a small program type-checks with `tsc` against the generated types, and a deliberate mistake
in a second file is rejected."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.sdk.helpers import SDK, make, require_node

TS = SDK / "typescript"

GOOD = """\
import createClient from "openapi-fetch";

import { bearerAuth, createHaloLightClient, type Schemas } from "./index";
import type { components, paths } from "./schema";

const baseUrl = "http://127.0.0.1:8000";

export async function login(email: string, password: string): Promise<string> {
  const client = createClient<paths>({ baseUrl });
  const { data, error, response } = await client.POST("/api/auth/login", { body: { email, password } });
  if (error) throw new Error(`login failed with ${response.status}: ${JSON.stringify(error.detail)}`);
  const token: string = data.accessToken;
  const user: components["schemas"]["AuthUser"] = data.user;
  const status: "ACTIVE" | "INACTIVE" | "SUSPENDED" = user.status;
  console.log(user.email, status, data.expiresAt);
  return token;
}

export async function firstUsers(token: string): Promise<Schemas["User"][]> {
  const api = createHaloLightClient({ baseUrl });
  api.use(bearerAuth(() => token));
  const { data, error } = await api.GET("/api/users", { params: { query: { page: 1, limit: 5 } } });
  if (error) throw new Error(JSON.stringify(error.detail));
  const pages: number = data.meta.totalPages;
  console.log(pages, data.data.map((u) => u.created_at));
  return data.data;
}
"""

# One deliberate mistake: the spec's field is `accessToken`.
BAD = """\
import createClient from "openapi-fetch";

import type { paths } from "./schema";

export async function login(): Promise<string> {
  const client = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });
  const { data } = await client.POST("/api/auth/login", { body: { email: "a@b.c", password: "x" } });
  return data ? data.access_token : "";
}
"""


@pytest.fixture(scope="module")
def typescript_sdk() -> Path:
    require_node("the TypeScript client")
    make("sdk/typescript/schema.d.ts")
    return TS


def test_program_type_checks_and_mistake_is_rejected(typescript_sdk: Path, tmp_path: Path) -> None:
    # The generated files beside the program, as a front-end project would hold them, and the pinned packages.
    for name in ("schema.d.ts", "index.ts"):
        shutil.copy(typescript_sdk / name, tmp_path / name)
    (tmp_path / "node_modules").symlink_to(typescript_sdk / "node_modules", target_is_directory=True)
    (tmp_path / "good.ts").write_text(GOOD)
    (tmp_path / "bad.ts").write_text(BAD)
    tsconfig = (typescript_sdk / "tsconfig.json").read_text()
    (tmp_path / "tsconfig.json").write_text(
        re.sub(r'"files":\s*\[[^\]]*\]', '"files": ["good.ts", "bad.ts"]', tsconfig)
    )

    result = subprocess.run(
        [str(typescript_sdk / "node_modules" / ".bin" / "tsc"), "-p", str(tmp_path), "--pretty", "false"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    output = result.stdout + result.stderr
    errors = [line for line in output.splitlines() if re.match(r"^\S+\(\d+,\d+\): error TS\d+", line)]
    assert result.returncode != 0, f"tsc accepted the deliberate mistake:\n{output}"
    # good.ts, index.ts and schema.d.ts are clean; bad.ts has exactly its one error.
    assert len(errors) == 1, output
    assert errors[0].startswith("bad.ts(8,"), output
    assert "TS2551" in errors[0] and "'access_token'" in errors[0] and "'accessToken'" in errors[0], output
