"""The generated scratch packages pass mypy --strict with their handlers, and a handler that returns what
the spec does not declare fails it."""

from __future__ import annotations

from pathlib import Path

from tests.codegen.conftest import build_package, run_mypy
from tests.codegen.scratch_server import SCRATCH_APIS


def test_generated_code_and_handlers_pass_mypy_strict(scratch_dir: Path) -> None:
    result = run_mypy(scratch_dir, [f"scratch_{api}" for api in SCRATCH_APIS])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_refuses_what_the_spec_does_not_declare(tmp_path: Path) -> None:
    def break_handlers(text: str) -> str:
        replacements = {
            # a header the spec does not declare for 304
            "DownloadFile304Response(etag=ETAG)": 'DownloadFile304Response(etag=ETAG, content_range="x")',
            # a required header left out (Location of the 201)
            'UploadFile201Response(body=stored, location="/files/f1")': "UploadFile201Response(body=stored)",
            # a status the operation does not have
            "return ScanFile202Response(retry_after=5)": "return DownloadFile304Response(etag=ETAG)",
            # a form field that does not exist
            '"copies": form.copies': '"copies": form.pages',
        }
        for old, new in replacements.items():
            assert old in text
            text = text.replace(old, new)
        return text

    build_package("files", tmp_path, break_handlers)
    result = run_mypy(tmp_path, ["scratch_files"])
    assert result.returncode == 1, result.stdout
    out = result.stdout
    assert 'Unexpected keyword argument "content_range" for "DownloadFile304Response"' in out
    assert 'Missing named argument "location" for "UploadFile201Response"' in out
    assert 'got "DownloadFile304Response", expected "ScanFile200Response | ScanFile202Response"' in out
    assert '"UploadFileForm" has no attribute "pages"' in out
