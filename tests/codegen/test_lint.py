"""The lint accepts only what the generator implements, and says where and what when it refuses."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from codegen.spec import SpecError, lint, load

APIS = Path(__file__).resolve().parent / "apis"
WHERE = "GET /events (listEvents)"


@pytest.fixture
def document() -> dict[str, Any]:
    return load(APIS / "params" / "openapi.yaml")


@pytest.fixture
def files() -> dict[str, Any]:
    return load(APIS / "files" / "openapi.yaml")


def _problems(document: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        lint(document)
    return "\n".join(caught.value.problems)


def _events(document: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"]["/events"]["get"]
    return operation


def test_the_scratch_specs_are_clean(document: dict[str, Any], files: dict[str, Any]) -> None:
    assert [op.auth for op in lint(document)] == ["public", "optional"]
    assert len(lint(files)) == 8


def test_array_parameters(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    tags = _events(broken)["parameters"][1]["schema"]
    del tags["maxItems"]
    tags["items"] = {"type": "object"}
    problems = _problems(broken)
    assert f"{WHERE}: query parameter tags: array parameter needs maxItems" in problems
    assert f"{WHERE}: query parameter tags: array items has type 'object', which is not supported" in problems

    broken = copy.deepcopy(document)
    _events(broken)["parameters"][1]["in"] = "header"
    assert "header parameter tags: arrays are supported in the query only" in _problems(broken)

    broken = copy.deepcopy(document)
    _events(broken)["parameters"][1]["explode"] = False
    assert "query parameter tags: style/explode other than the default not supported" in _problems(broken)


def test_parameter_formats(document: dict[str, Any]) -> None:
    # date-time and uuid bind to typed values, so they need no maxLength; other formats are refused
    # rather than silently becoming a plain string.
    lint(document)
    broken = copy.deepcopy(document)
    _events(broken)["parameters"][0]["schema"] = {"type": "string", "format": "date"}
    assert (
        f"{WHERE}: query parameter since has format 'date', which is not supported here "
        "(supported: date-time, uuid)"
    ) in _problems(broken)
    broken = copy.deepcopy(document)
    _events(broken)["parameters"][0]["schema"] = {"type": "object"}
    assert "query parameter since has type 'object'" in _problems(broken)
    broken = copy.deepcopy(document)
    _events(broken)["parameters"][0]["schema"] = {"type": "string"}
    assert "query parameter since is a string without maxLength" in _problems(broken)
    broken = copy.deepcopy(document)
    _events(broken)["parameters"][0]["in"] = "cookie"
    assert "parameters in cookie are not supported" in _problems(broken)


def test_default_and_unknown_responses(document: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    _events(broken)["responses"]["default"] = {"$ref": "#/components/responses/ValidationFailed"}
    _events(broken)["responses"]["2XX"] = {"description": "range"}
    problems = _problems(broken)
    assert f"{WHERE}: response 'default' is not supported; declare each status" in problems
    assert f"{WHERE}: response '2XX' is not supported" in problems


def test_security_forms(document: dict[str, Any]) -> None:
    greeting = "GET /greeting (getGreeting)"
    forms: list[list[dict[str, list[str]]]] = [[{"bearerAuth": ["admin"]}], [{"apiKey": []}], [{}, {}], [{}]]
    for security in forms:
        broken = copy.deepcopy(document)
        broken["paths"]["/greeting"]["get"]["security"] = security
        assert f"{greeting}: security {security!r} is not supported" in _problems(broken), security
    broken = copy.deepcopy(document)
    broken["paths"]["/greeting"]["get"]["x-permission"] = "users:view"
    problems = _problems(broken)
    assert f"{greeting}: an operation with optional login cannot need a permission" in problems
    assert f"{greeting}: response 403 must be declared" in problems


def test_success_responses(files: dict[str, Any]) -> None:
    download = files["paths"]["/files/{id}"]["get"]
    where = "GET /files/{id} (downloadFile)"
    broken = copy.deepcopy(files)
    responses = broken["paths"]["/files/{id}"]["get"]["responses"]
    responses["304"]["content"] = download["responses"]["200"]["content"]
    responses["206"]["content"]["text/*"] = {}
    responses["200"]["headers"]["X-Count"] = {"schema": {"type": "object"}}
    responses["200"]["headers"]["Content-Type"] = {"schema": {"type": "string"}}
    problems = _problems(broken)
    assert f"{where}: response 304: a 304 answer has no body; remove `content`" in problems
    assert f"{where}: response 206: several media types" in problems
    assert f"{where}: response 206: media type 'text/*' is not supported" in problems
    assert f"{where}: response 200: header X-Count must have a string or integer schema" in problems
    assert f"{where}: response 200: header Content-Type cannot be declared" in problems


def test_links(files: dict[str, Any]) -> None:
    where = "POST /files (uploadFile): response 201 link DownloadIt"
    for link, message in [
        ({"operationId": "nope"}, "operationId nope does not exist"),
        ({"operationRef": "#/paths/~1files/get"}, "only links by operationId are supported"),
        (
            {"operationId": "downloadFile", "parameters": {"fileId": "$response.body#/id"}},
            "no parameter fileId",
        ),
        (
            {"operationId": "downloadFile", "parameters": {"query.id": "$response.body#/id"}},
            "no parameter query.id",
        ),
        ({"operationId": "downloadFile", "parameters": {"id": "$response.nope"}}, "not a runtime expression"),
        (
            {"operationId": "downloadFile", "requestBody": "$response.body"},
            "downloadFile takes no request body",
        ),
    ]:
        broken = copy.deepcopy(files)
        broken["paths"]["/files"]["post"]["responses"]["201"]["links"]["DownloadIt"] = link
        assert f"{where}: " in _problems(broken)
        assert message in _problems(broken), link
    ok = copy.deepcopy(files)
    ok["paths"]["/files"]["post"]["responses"]["201"]["links"]["DownloadIt"]["parameters"] = {
        "path.id": "$response.body#/id",
        "header.Range": "bytes=0-9",
    }
    lint(ok)


def test_request_bodies(files: dict[str, Any]) -> None:
    upload = "POST /files (uploadFile)"
    raw = "PUT /files/{id}/content (replaceContent)"

    broken = copy.deepcopy(files)
    body = broken["paths"]["/files/{id}/content"]["put"]["requestBody"]
    body["content"] = {"text/plain": {"schema": {"type": "string"}}}
    assert (
        f"{raw}: request body media types text/plain are not supported; declare exactly one of "
        "application/json, multipart/form-data, application/octet-stream"
    ) in _problems(broken)

    broken = copy.deepcopy(files)
    body = broken["paths"]["/files/{id}/content"]["put"]["requestBody"]
    body["required"] = False
    del broken["paths"]["/files/{id}/content"]["put"]["x-max-body-bytes"]
    problems = _problems(broken)
    assert f"{raw}: a application/octet-stream request body must be required" in problems
    assert f"{raw}: a application/octet-stream body needs x-max-body-bytes" in problems

    broken = copy.deepcopy(files)
    operation = broken["paths"]["/files"]["post"]
    schema = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema["properties"]["thumbnail"] = {"type": "string", "format": "binary"}
    schema["properties"]["note"] = {"type": "string"}
    schema["properties"]["labels"] = {"type": "array", "items": {"type": "string"}}
    operation["requestBody"]["content"]["multipart/form-data"]["encoding"]["note"] = {"contentType": "x/y"}
    operation["x-max-body-bytes"] = "8M"
    problems = _problems(broken)
    assert f"{upload}: x-max-body-bytes must be a positive integer" in problems

    operation["x-max-body-bytes"] = 1024
    problems = _problems(broken)
    assert f"{upload}: a multipart/form-data body needs exactly one file part" in problems
    assert f"{upload}: form field note is a string without maxLength" in problems
    assert f"{upload}: form field labels has type 'array', which is not supported here" in problems
    assert f"{upload}: encoding is supported only as the file part's contentType" in problems

    broken = copy.deepcopy(files)
    broken["paths"]["/files"]["post"]["requestBody"]["content"]["application/json"] = {
        "schema": {"$ref": "#/components/schemas/StoredFile"}
    }
    assert f"{upload}: request body media types multipart/form-data, application/json" in _problems(broken)


def test_names_the_generated_code_uses(document: dict[str, Any], files: dict[str, Any]) -> None:
    broken = copy.deepcopy(document)
    _events(broken)["parameters"][4]["name"] = "request"
    assert f"{WHERE}: query parameter request: the name request is taken by the generated code" in _problems(
        broken
    )
    broken = copy.deepcopy(files)
    schema = broken["paths"]["/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
    schema["properties"]["form"] = schema["properties"].pop("file")
    schema["required"] = ["title", "form"]
    broken["paths"]["/files"]["post"]["requestBody"]["content"]["multipart/form-data"]["encoding"] = {}
    assert "POST /files (uploadFile): the file part's name form is taken" in _problems(broken)


def test_conditional_and_ranged_requests_declare_their_statuses(files: dict[str, Any]) -> None:
    download = "GET /files/{id} (downloadFile)"
    rename = "PATCH /files/{id} (renameFile)"
    broken = copy.deepcopy(files)
    for code in ("206", "416", "304"):
        del broken["paths"]["/files/{id}"]["get"]["responses"][code]
    for code in ("412", "428"):
        del broken["paths"]["/files/{id}"]["patch"]["responses"][code]
    problems = _problems(broken)
    assert f"{download}: a Range parameter needs response 206" in problems
    assert f"{download}: a Range parameter needs response 416" in problems
    assert f"{download}: an If-None-Match parameter needs response 304" in problems
    assert f"{rename}: an If-Match parameter needs response 412" in problems
    assert f"{rename}: a required If-Match parameter needs response 428" in problems

    # An optional If-Match needs no 428.
    optional = copy.deepcopy(files)
    patch = optional["paths"]["/files/{id}"]["patch"]
    patch["parameters"][1]["required"] = False
    del patch["responses"]["428"]
    lint(optional)


def test_content_length_is_declared_on_streamed_answers_only(files: dict[str, Any]) -> None:
    broken = copy.deepcopy(files)
    headers = broken["paths"]["/files/{id}"]["get"]["responses"]["200"]["headers"]
    headers["Content-Length"] = {"schema": {"type": "string"}}
    scan = broken["paths"]["/files/{id}/scan"]["post"]["responses"]["200"]
    scan["headers"] = {"Content-Length": {"schema": {"type": "integer"}}}
    problems = _problems(broken)
    assert (
        "GET /files/{id} (downloadFile): response 200: header Content-Length must have an integer" in problems
    )
    assert (
        "POST /files/{id}/scan (scanFile): response 200: header Content-Length cannot be declared" in problems
    )


def test_x_writes_marks_a_get_only(files: dict[str, Any]) -> None:
    broken = copy.deepcopy(files)
    broken["paths"]["/files/{id}/scan"]["post"]["x-writes"] = True
    broken["paths"]["/counters/{id}"]["get"]["x-writes"] = "yes"
    problems = _problems(broken)
    assert "POST /files/{id}/scan (scanFile): x-writes is `true` on a GET only" in problems
    assert "GET /counters/{id} (countVisit): x-writes is `true` on a GET only" in problems


def test_no_request_body_on_delete_or_get(files: dict[str, Any]) -> None:
    broken = copy.deepcopy(files)
    body = broken["paths"]["/files/{id}"]["patch"]["requestBody"]
    broken["paths"]["/files/{id}"]["delete"] = {
        **copy.deepcopy(broken["paths"]["/files/{id}"]["patch"]),
        "operationId": "deleteFile",
        "parameters": [{"$ref": "#/components/parameters/Id"}],
        "requestBody": body,
    }
    assert "DELETE /files/{id} (deleteFile): a DELETE request has no body; use POST" in _problems(broken)


def test_an_event_stream_schema_describes_one_event(files: dict[str, Any]) -> None:
    broken = copy.deepcopy(files)
    content = broken["paths"]["/files/{id}/events"]["get"]["responses"]["200"]["content"]
    content["text/event-stream"]["schema"]["properties"]["colour"] = {"type": "string"}
    assert (
        "GET /files/{id}/events (watchFile): response 200: a text/event-stream schema describes one event: "
        "its properties are among data, event, id, retry"
    ) in _problems(broken)


def test_every_mutating_operation_names_its_activity_or_opts_out_with_a_reason(files: dict[str, Any]) -> None:
    broken = copy.deepcopy(files)
    del broken["paths"]["/files"]["post"]["x-activity"]
    broken["paths"]["/files/{id}"]["patch"]["x-activity"] = {"action": "Rename", "target": "file"}
    broken["paths"]["/counters/{id}"]["get"]["x-activity"] = False
    broken["paths"]["/files/{id}/scan"]["post"]["x-activity"] = {"action": "file.scan"}
    broken["paths"]["/files/{id}"]["get"]["x-activity"] = {"action": "file.read", "target": "File"}
    problems = _problems(broken)
    assert "POST /files (uploadFile): a mutating operation needs x-activity" in problems
    assert "PATCH /files/{id} (renameFile): x-activity action 'Rename' is not <resource>.<verb>" in problems
    assert "PATCH /files/{id} (renameFile): x-activity target 'file' is not a capitalised" in problems
    assert "GET /counters/{id} (countVisit): x-activity: false needs x-activity-reason" in problems
    assert "POST /files/{id}/scan (scanFile): x-activity must be {action: <resource>.<verb>" in problems
    assert "GET /files/{id} (downloadFile): x-activity is for mutating operations" in problems

    fixed = copy.deepcopy(files)
    fixed["paths"]["/counters/{id}"]["get"]["x-activity"] = False
    fixed["paths"]["/counters/{id}"]["get"]["x-activity-reason"] = "A visit counter, not a change."
    assert len(lint(fixed)) == 8
