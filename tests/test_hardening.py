"""Deployment hardening, as a visitor or an attacker meets it: headers, cookies, rate limits,
session lifetime, and ``check --deploy`` on the production settings."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.base import PASSWORD, Personas, login, run_python

PRODUCTION_ENV = {
    "HIPRECORDER_PRODUCTION": "1",
    "SECRET_KEY": "k" * 25 + "-production-only-test-key-0123456789",
    "ALLOWED_HOSTS": "recorder.example.nl",
    "CSRF_TRUSTED_ORIGINS": "https://recorder.example.nl",
    "AUDIT_SEAL_KEY": "test-1:" + "s" * 20 + "-production-only-seal-key",
    "VAPID_PRIVATE_KEY": "gUk-4ABnInxDJElaIsAOusMLuBOu3rcfknnZFJrHpGA",  # a test-only P-256 key
}


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()


def _production(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_python(code, data_dir=tmp_path, DATABASE_URL="", **PRODUCTION_ENV)


def test_check_deploy_is_clean_in_production(tmp_path: Path) -> None:
    result = _production(
        "import django, sys; django.setup(); from django.core.management import call_command;"
        "call_command('check', deploy=True, fail_level='WARNING')",
        tmp_path,
    )
    assert result.returncode == 0, result.stderr + result.stdout


def test_production_sends_hsts_and_secure_cookies(tmp_path: Path) -> None:
    code = """
import django, json
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test.utils import override_settings
# (no migrate: an anonymous GET of the log-in page reads no table)
from django.test import Client
# (no collectstatic here: plain static URLs instead of the hashed manifest)
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
c = Client()
plain = c.get("/accounts/login/", headers={"host": "recorder.example.nl"})
page = c.get("/accounts/login/", secure=True, headers={"host": "recorder.example.nl"})
print(json.dumps({
    "redirect": [plain.status_code, plain.get("Location", "")],
    "hsts": page.headers.get("Strict-Transport-Security", ""),
    "csrf_cookie_secure": bool(page.cookies["csrftoken"]["secure"]) if "csrftoken" in page.cookies else None,
    "session_cookie_secure": settings.SESSION_COOKIE_SECURE,
    "session_cookie_httponly": settings.SESSION_COOKIE_HTTPONLY,
    "csrf_setting_secure": settings.CSRF_COOKIE_SECURE,
}))
"""
    result = _production(code, tmp_path)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["redirect"] == [301, "https://recorder.example.nl/accounts/login/"]
    assert seen["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert seen["csrf_cookie_secure"] is True
    assert seen["session_cookie_secure"] and seen["session_cookie_httponly"] and seen["csrf_setting_secure"]


def _csp(response: object) -> dict[str, list[str]]:
    header = response.headers["Content-Security-Policy"]  # type: ignore[attr-defined]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


@pytest.mark.parametrize("who", [None, "admin", "user"])
def test_pages_carry_a_strict_csp_and_no_inline_script(
    client: Client, personas: Personas, who: str | None
) -> None:
    person = {"admin": personas.admin, "user": personas.users["always"]}.get(who or "")
    if person is not None:
        client.force_login(person)
    for url in [reverse("account_login"), "/", reverse("privacy:overview") if who == "admin" else "/"]:
        response = client.get(url)
        if response.status_code == 302:
            continue
        policy = _csp(response)
        scripts = policy["script-src"]
        assert "'unsafe-inline'" not in scripts and "'unsafe-eval'" not in scripts
        assert "'self'" in scripts
        assert policy["frame-ancestors"] == ["'none'"]
        assert policy["object-src"] == ["'none'"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        html = response.content.decode()
        # Every script is a file from our origin: no inline code the CSP would have to allow. The
        # one kind of inline block allowed is data (``json_script``: type application/json, which
        # browsers never run), and it must be valid JSON.
        for attrs, body in re.findall(r"<script\b([^>]*)>(.*?)</script>", html, flags=re.S):
            if 'type="application/json"' in attrs:
                json.loads(body)
                continue
            assert body.strip() == "", url
        assert " onclick=" not in html and " onload=" not in html


def test_failed_log_ins_are_rate_limited_per_username(client: Client, personas: Personas) -> None:
    url = reverse("account_login")
    for _ in range(5):
        response = client.post(
            url, {"login": "lisa", "password": "wrong guess"}, headers={"accept-language": "en"}
        )
        assert response.status_code == 200  # the form again, with an error
    response = client.post(url, {"login": "lisa", "password": PASSWORD}, headers={"accept-language": "en"})
    # Even the right password is refused now, with a message saying why.
    assert response.status_code == 200
    assert "Too many failed login attempts" in response.content.decode()
    assert "_auth_user_id" not in client.session
    other = Client()
    assert login(other, "user_always").status_code == 302  # another account is not blocked


def test_password_reset_is_rate_limited(client: Client, personas: Personas) -> None:
    personas.listener.email = "lisa@acme.example"
    personas.listener.save()
    url = reverse("account_reset_password")
    statuses = [client.post(url, {"email": "lisa@acme.example"}).status_code for _ in range(6)]
    assert statuses[:5] == [302] * 5
    assert statuses[5] == 429


def test_sessions_expire(client: Client, personas: Personas) -> None:
    assert 300 <= settings.SESSION_COOKIE_AGE <= 12 * 3600
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
    login(client, "lisa")
    assert client.get("/").status_code == 200
    session = Session.objects.get(session_key=client.session.session_key)
    lifetime = session.expire_date - timezone.now()
    assert (
        timedelta(seconds=settings.SESSION_COOKIE_AGE - 60)
        < lifetime
        <= timedelta(seconds=settings.SESSION_COOKIE_AGE)
    )
    Session.objects.filter(pk=session.pk).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))
