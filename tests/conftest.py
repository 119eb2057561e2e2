from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import TestServer, server_fixture


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TestServer]:
    yield from server_fixture()
