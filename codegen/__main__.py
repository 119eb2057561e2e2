from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codegen import routers
from codegen.spec import Operation, SpecError, lint, load

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "spec" / "openapi.yaml"

# Pinned options: together with the pinned datamodel-code-generator release they make the output
# byte-for-byte reproducible (no timestamp, the builtin formatter instead of black/isort versions).
DATAMODEL_OPTIONS = [
    "--input-file-type=openapi",
    "--output-model-type=pydantic_v2.BaseModel",
    "--use-annotated",
    "--field-constraints",
    "--disable-timestamp",
    "--formatters=builtin",
    "--target-python-version=3.11",
    "--use-standard-collections",
    "--use-union-operator",
    "--strict-nullable",
    # JSON has real booleans: "true", "yes" or 1 for a boolean field is a schema violation (422), not True.
    "--strict-types=bool",
    "--use-schema-description",
    "--use-field-description",
    "--keep-model-order",
    "--output-datetime-class=AwareDatetime",
    "--collapse-root-models",
    "--use-missing-sentinel",
    "--use-type-alias",
    "--target-pydantic-version=2.14",
    "--base-class=halolight.api_model.ApiModel",
    "--custom-file-header=" + routers.HEADER.strip(),
]


RESPONSE_BASE = "halolight.api_model.ResponseModel"


def _refs(node: Any) -> Iterator[str]:
    """Every schema name that `node` refers to, at any depth."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            yield ref.rsplit("/", 1)[-1]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def input_schemas(document: dict[str, Any]) -> set[str]:
    """Schemas a client can send (request bodies and parameters, followed through every `$ref`)."""
    schemas = document.get("components", {}).get("schemas", {})
    roots: list[Any] = []
    for item in document.get("paths", {}).values():
        roots.append(item.get("parameters", []))
        for method, op in item.items():
            if isinstance(op, dict) and method != "parameters":
                roots += [op.get("requestBody", {}), op.get("parameters", [])]
    roots += list(document.get("components", {}).get("parameters", {}).values())
    roots += list(document.get("components", {}).get("requestBodies", {}).values())
    seen: set[str] = set()
    pending = [name for root in roots for name in _refs(root)]
    while pending:
        name = pending.pop()
        if name not in seen and name in schemas:
            seen.add(name)
            pending.extend(_refs(schemas[name]))
    return seen


def base_class_map(document: dict[str, Any]) -> str:
    """Output-only models get a base class without the input checks (NUL, lone surrogates): they are built
    by our handlers from stored data, and walking every string of a large response costs more than the
    model itself. Whatever a client can send keeps `ApiModel`."""
    schemas = document.get("components", {}).get("schemas", {})
    inputs = input_schemas(document)
    output_only = sorted(n for n, s in schemas.items() if n not in inputs and s.get("type") == "object")
    return json.dumps({name: RESPONSE_BASE for name in output_only}, sort_keys=True)


def generate(out: Path, spec: Path = SPEC, package: str = "generated", handlers: str = "handlers") -> None:
    """Write the package `package` into `out` from `spec`. The generator tests use the parameters to
    generate scratch specs into temporary packages; `make gen` uses the defaults."""
    document = load(spec)
    ops = lint(document)
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run(  # noqa: S603 - fixed argv, our own pinned tool
        [
            str(Path(sys.executable).parent / "datamodel-codegen"),
            "--input",
            str(spec),
            "--output",
            str(out / "models.py"),
            *DATAMODEL_OPTIONS,
            "--base-class-map=" + base_class_map(document),
        ],
        check=True,
    )
    by_tag: dict[str, list[Operation]] = {}
    for op in ops:
        by_tag.setdefault(op.tag, []).append(op)
    tags = sorted(by_tag)
    (out / "routers").mkdir(exist_ok=True)
    for tag in tags:
        text = routers.render_tag(document, tag, by_tag[tag], package)
        (out / "routers" / f"{routers.module_name(tag)}.py").write_text(text, encoding="utf-8")
    index = routers.render_router_index(tags, package, handlers)
    (out / "routers" / "__init__.py").write_text(index, encoding="utf-8")
    (out / "operations.py").write_text(routers.render_index(document, tags, ops), encoding="utf-8")
    (out / "__init__.py").write_text(routers.HEADER, encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m codegen")
    parser.add_argument("--out", type=Path, default=ROOT / "generated", help="output folder")
    parser.add_argument("--check", action="store_true", help="fail if the output folder is stale")
    parser.add_argument("--lint-only", action="store_true", help="only lint the spec")
    args = parser.parse_args()
    try:
        if args.lint_only:
            lint(load(SPEC))
            print("spec/openapi.yaml: OK")
            return 0
        if not args.check:
            with tempfile.TemporaryDirectory() as tmp:
                generate(Path(tmp))
                if args.out.exists():
                    shutil.rmtree(args.out)
                shutil.copytree(tmp, args.out)
            return 0
        with tempfile.TemporaryDirectory() as tmp:
            generate(Path(tmp))
            result = subprocess.run(  # noqa: S603
                ["diff", "-r", "-x", "__pycache__", str(tmp), str(args.out)],  # noqa: S607
                capture_output=True,
                text=True,
            )
            if result.returncode != 0:
                print(result.stdout)
                print("generated/ is stale: run `make gen` and commit the result.", file=sys.stderr)
                return 1
            print("generated/ is up to date.")
            return 0
    except SpecError as exc:
        for problem in exc.problems:
            print(f"spec/openapi.yaml: {problem}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
