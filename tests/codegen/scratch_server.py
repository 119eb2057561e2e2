"""The real app serving the API's own operations and the scratch specs' together, for tests that need a real
server (concurrent streams, a generated client, schemathesis): `uvicorn --factory
tests.codegen.scratch_server:create`, with the scratch packages on PYTHONPATH (see the `scratch_server`
fixture)."""

from __future__ import annotations

import importlib

from fastapi import APIRouter, FastAPI

from generated.operations import OPERATIONS, OperationInfo
from generated.routers import build_all
from halolight.app import create_app
from halolight.logging import configure_logging
from halolight.settings import get_settings

SCRATCH_APIS = ("params", "files")


def create() -> FastAPI:
    settings = get_settings()
    configure_logging(settings)
    routers: list[APIRouter] = build_all()
    operations: list[OperationInfo] = list(OPERATIONS)
    for api in SCRATCH_APIS:
        routers += importlib.import_module(f"scratch_{api}.routers").build_all()
        operations += importlib.import_module(f"scratch_{api}.operations").OPERATIONS
    return create_app(settings, routers=routers, operations=operations)
