"""Swagger UI and ReDoc in a real headless Chromium, offline: every asset comes from the API itself.

The set-up installs Debian's `chromium` when it is missing (`apt-get`, as root); the tests are skipped, with
the reason, only where it cannot be installed. Playwright drives that browser (its own browser downloads are
never used). Any request to another host than the API is refused and fails the test.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.debian import apt_install
from tests.ops.helpers import Server, free_port, serve, shared_tmp
from tests.pg import TestServer

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _ensure_chromium() -> str | None:
    """The path of Debian's chromium, installing it if needed; None (and why) where that is impossible."""
    if Path(CHROMIUM).exists():
        return None
    reason = apt_install("chromium", recommends=True)
    if reason is not None:
        return f"Debian's chromium is not installed and could not be installed with apt-get: {reason}"
    return None if Path(CHROMIUM).exists() else "apt-get ran but /usr/bin/chromium is still missing"


@pytest.fixture(scope="module")
def api(pg_server: TestServer) -> Iterator[int]:
    tmp = shared_tmp("halolight-docs-")
    port = free_port()
    server: Server = serve(port, tmp, DATABASE_URL=pg_server.create_database("docs"), DOCS_ENABLED="true")
    with server:
        server.wait_ready(port)
        yield port
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def browser_context() -> Iterator[Any]:
    reason = _ensure_chromium()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="halolight-chromium-") as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            user_data_dir=profile, executable_path=CHROMIUM, headless=True, args=FLAGS
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any, api: int) -> Iterator[tuple[Any, list[str]]]:
    """A page that may load from the API only; the list collects every other URL it tried."""
    foreign: list[str] = []
    origin = f"http://127.0.0.1:{api}/"

    def guard(route: Any) -> None:
        url = route.request.url
        if url.startswith(origin) or url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(url)
            route.abort()

    page = browser_context.new_page()
    page.route("**/*", guard)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page, foreign
    finally:
        page.close()
    assert not errors, errors


def test_swagger_ui_lists_the_operations_and_try_it_out_works_with_a_token(
    api: int, page: tuple[Any, list[str]]
) -> None:
    tab, foreign = page
    base = f"http://127.0.0.1:{api}"
    tab.goto(f"{base}/api/docs")
    tab.wait_for_selector("#operations-Auth-login", timeout=30_000)
    spec = httpx.get(f"{base}/api/openapi.json").json()
    methods = {"get", "put", "post", "delete", "patch", "head", "options"}
    operations = sum(1 for item in spec["paths"].values() for key in item if key in methods)
    assert tab.locator(".opblock").count() == operations
    assert tab.locator(".opblock-summary-path", has_text="/api/users/{id}").count() >= 1

    token = httpx.post(
        f"{base}/api/auth/login", json={"email": "admin@halolight.h7ml.cn", "password": "123456"}
    ).json()["accessToken"]
    tab.click("button.authorize")
    tab.fill(".modal-ux input", token)
    tab.click(".modal-ux button.modal-btn.auth.authorize")
    tab.click(".modal-ux button.btn-done")

    operation = "#operations-Auth-getCurrentUser"
    tab.click(f"{operation} .opblock-summary-control")
    tab.click(f"{operation} button.try-out__btn")
    tab.click(f"{operation} button.execute")
    status = tab.locator(f"{operation} .live-responses-table tr.response td.response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip().startswith("200")
    body = tab.locator(f"{operation} .live-responses-table .microlight").first.inner_text()
    assert "admin@halolight.h7ml.cn" in body

    # persistAuthorization: the token survives a reload.
    tab.reload()
    tab.wait_for_selector("#operations-Auth-login")
    assert token in (tab.evaluate("localStorage.getItem('authorized')") or "")
    assert foreign == []


def test_redoc_renders_offline(api: int, page: tuple[Any, list[str]]) -> None:
    tab, foreign = page
    tab.goto(f"http://127.0.0.1:{api}/api/redoc")
    tab.wait_for_selector("h1", timeout=30_000)
    assert "HaloLight API" in tab.locator("h1").first.inner_text()
    tab.locator("h2", has_text="Log in with email and password").first.wait_for()
    assert tab.locator("[data-section-id^='operation/']").count() >= 30
    assert foreign == []


def test_docs_pages_name_no_other_host(api: int) -> None:
    for path in ("/api/docs", "/api/redoc"):
        html = httpx.get(f"http://127.0.0.1:{api}{path}").text
        assert "http" not in html.replace(f"127.0.0.1:{api}", ""), html
    asset = httpx.get(f"http://127.0.0.1:{api}/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200
    assert asset.headers["content-type"].startswith(("application/javascript", "text/javascript"))
