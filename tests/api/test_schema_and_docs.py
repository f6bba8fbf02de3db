"""The OpenAPI contract at /api/schema/ and the offline docs at /api/docs/."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.test import Client
from drf_spectacular.validation import validate_schema

from tests.base import Personas
from tests.browser import chromium


def load_schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_is_valid_openapi_3(client: Client, db: None) -> None:
    schema = load_schema(client)
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on an invalid document
    assert schema["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["token"]["description"],
    }
    assert all(path.startswith("/api/v1/") for path in schema["paths"])


def test_every_operation_is_documented_with_examples_and_errors(client: Client, db: None) -> None:
    schema = load_schema(client)
    operations = [
        (path, method, op)
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]
    assert len(operations) >= 8
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        assert op.get("description"), where
        assert op.get("tags"), where
        for status, response in op["responses"].items():
            if status == "204":
                continue
            if path.endswith("/audio"):  # the audio itself, behind a streaming URL
                assert set(response.get("content", {"audio/mpeg": 0})) <= {"audio/mpeg", "application/json"}
                if status in {"200", "206"}:
                    continue
            if status == "416":
                continue
            content = response.get("content", {}).get("application/json")
            assert content, f"{where} {status}"
            assert content.get("examples"), f"{where} {status} has no example"
        errors = {s for s in op["responses"] if s.startswith("4")}
        if op.get("security", []) in ([], [{}]):  # no token: sign-in
            continue
        if path.endswith("/audio"):  # a missing or revoked token is a refused stream: 403 stream_denied
            assert "403" in errors and "token" in op["description"], where
            continue
        assert "401" in errors, where


def test_docs_page_loads_its_scripts_from_files_only(client: Client, db: None) -> None:
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<style" not in html
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts
    for attrs, body in scripts:
        assert "src=" in attrs and not body.strip()
        assert "//" not in attrs.split("src=")[1].split(">")[0].replace("/static/", "")
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert b"/api/schema/" in script.content


@pytest.mark.browser
def test_docs_render_in_chromium_offline_under_the_csp(live_server: Any, personas: Personas) -> None:
    origin = live_server.url
    outside: list[str] = []
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on(
            "request",
            lambda request: (
                None
                if request.url.startswith(origin) or request.url.startswith("data:")
                else outside.append(request.url)
            ),
        )
        page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.goto(f"{origin}/api/docs/")
        page.wait_for_selector("text=Sign in: exchange username and password", timeout=20_000)
        for summary in [
            "The home list: recordings the user may hear, newest first",
            "The signed-in user: profile, language, product and quota",
        ]:
            assert page.locator(f"text={summary}").count() >= 1
        assert page.locator("text=1. Sign in").count() >= 1  # the guide in the description
    assert outside == []
    assert [p for p in problems if "Content Security Policy" in p or "Refused" in p] == []
