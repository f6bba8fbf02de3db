from __future__ import annotations

import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from hiprecorder import health
from hiprecorder.environment import database_from_url, env_bool, env_int


def test_healthz_reports_every_part(client: Client, db: None) -> None:
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "storage", "broker", "worker", "queue"}
    assert all(check["ok"] for check in body["checks"].values())


def test_healthz_names_what_is_down(client: Client, db: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise ConnectionError("storage unreachable")

    monkeypatch.setitem(health.CHECKS, "storage", broken)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["storage"]
    assert "storage unreachable" in response.json()["checks"]["storage"]["error"]


def test_healthz_takes_only_get(client: Client, db: None) -> None:
    assert client.post("/healthz").status_code == 405


def test_database_url_parsing() -> None:
    pg = database_from_url("postgres://app:s%40cret@db.internal:6543/rec?sslmode=require")
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "rec",
        "app",
        "s@cret",
        "db.internal",
        "6543",
    )
    assert pg["OPTIONS"] == {"sslmode": "require", "options": "-c jit=off"}
    assert database_from_url("sqlite:////tmp/x.db")["NAME"] == "/tmp/x.db"
    # The URL's own server options come after ours, so they win.
    own = database_from_url("postgres://db.internal/rec?options=-c%20jit%3Don%20-c%20work_mem%3D8MB")
    assert own["OPTIONS"] == {"options": "-c jit=off -c jit=on -c work_mem=8MB"}


@pytest.mark.django_db
def test_sessions_run_without_jit() -> None:
    """A session of the application has JIT compilation off (PostgreSQL)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute("SHOW jit")
        assert cursor.fetchone()[0] == "off"


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host:notaport/db", "postgres://host:5432/"])
def test_malformed_database_url_names_the_setting(url: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database_from_url(url)


def test_malformed_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG"):
        env_bool("DEBUG")
    monkeypatch.setenv("RPI_MAX_AUDIO_BYTES", "lots")
    with pytest.raises(ImproperlyConfigured, match="RPI_MAX_AUDIO_BYTES"):
        env_int("RPI_MAX_AUDIO_BYTES", 1)


def test_settings_fail_loudly_at_startup_on_a_bad_value(tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "DEBUG": "sure", "DATA_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DEBUG='sure' is not a boolean" in result.stderr


def test_production_needs_a_secret_key(tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "HIPRECORDER_PRODUCTION": "1", "DATA_DIR": str(tmp_path), "ALLOWED_HOSTS": "x.nl"}
    env.pop("SECRET_KEY", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "VAPID_PRIVATE_KEY must be set in production"),
        ("not-a-key", "VAPID_PRIVATE_KEY is not a P-256 private key"),
        ("-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END PRIVATE KEY-----", "is not a P-256 private key"),
    ],
)
def test_production_needs_a_valid_vapid_key(tmp_path: object, value: str | None, says: str) -> None:
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "HIPRECORDER_PRODUCTION": "1",
        "DATA_DIR": str(tmp_path),
        "ALLOWED_HOSTS": "x.nl",
        "SECRET_KEY": "k" * 60,
        "AUDIT_SEAL_KEY": "test-1:" + "s" * 40,
    }
    env.pop("VAPID_PRIVATE_KEY", None)
    if value is not None:
        env["VAPID_PRIVATE_KEY"] = value
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert says in result.stderr


def test_demo_command_json(db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    from tenants.models import Licence, PlaybackSubscription, Team, User
    from tenants.scoping import tenant_scope

    out = StringIO()
    call_command("demo", "--json", stdout=out)
    first = json.loads(out.getvalue())
    out = StringIO()
    call_command("demo", "--json", stdout=out)
    second = json.loads(out.getvalue())
    expected = {
        "admin",
        "listener",
        "always",
        "always_pause",
        "on_demand",
        "on_demand_user_start",
        "never",
        "playback_days_30",
        "playback_days_90",
        "playback_minutes_100k",
        "no_product",
    }
    assert set(second["users"]) == expected
    assert second["tenant"] == "demo"
    assert second["rules"] == {"blacklist": "+31201111111", "whitelist": "+31202222222"}
    assert first["pbx_key"] != second["pbx_key"]
    assert first["users"]["always"]["password"] != second["users"]["always"]["password"]
    assert User.objects.filter(tenant__slug="demo").count() == len(expected)  # idempotent
    client = Client()
    response = client.post(
        "/accounts/login/",
        {"login": second["users"]["always"]["username"], "password": second["users"]["always"]["password"]},
    )
    assert response.status_code == 302
    with tenant_scope(User.objects.get(username="always").tenant):
        assert Licence.objects.get(user__username="on_demand").mode == "on_demand"
        assert PlaybackSubscription.objects.get(user__username="playback_minutes_100k").tier == "minutes_100k"
        sales = Team.objects.get(name="Sales")
        assert sales.listeners.get().username == "listener"
        assert sales.members.count() == 5
    from tenants.services import authenticate_pbx_key

    assert authenticate_pbx_key(second["pbx_key"]) is not None
    assert authenticate_pbx_key(first["pbx_key"]) is not None


def test_demo_command_other_tenant(db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("demo", "--tenant", "acme2", "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["tenant"] == "acme2"
    assert data["users"]["admin"]["username"] == "acme2.admin"


def test_demo_admin_reaches_the_portal_without_setting_up_a_second_factor(db: None) -> None:
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("demo", "--json", stdout=out)
    admin = json.loads(out.getvalue())["users"]["admin"]
    client = Client()
    client.post("/accounts/login/", {"login": admin["username"], "password": admin["password"]})
    response = client.get("/")
    assert response.status_code == 200


@pytest.fixture
def with_worker(db: None) -> object:
    """Tasks go to a worker (not eager), as in production."""
    from hiprecorder.celery import app

    app.conf.task_always_eager = False
    yield app
    app.conf.task_always_eager = True


def test_healthz_sees_a_dead_worker_without_failing_the_web(client: Client, with_worker: object) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from recordings.models import WorkerHeartbeat

    response = client.get("/healthz")
    assert response.status_code == 200  # the web can still take calls: not out of rotation
    body = response.json()
    assert body["status"] == "degraded" and body["failing"] == ["worker"]
    assert "no worker heartbeat" in body["checks"]["worker"]["error"]

    WorkerHeartbeat.objects.create(ran_at=timezone.now() - timedelta(seconds=5), queue_wait_ms=1200)
    body = client.get("/healthz").json()
    assert body["status"] == "ok", body
    assert body["checks"]["queue"]["heartbeat_wait_s"] == 1.2

    WorkerHeartbeat.objects.filter(pk=1).update(ran_at=timezone.now() - timedelta(hours=1))
    body = client.get("/healthz").json()
    assert body["status"] == "degraded" and body["failing"] == ["worker"]


def test_healthz_sees_an_old_queue(client: Client, with_worker: object, settings: object) -> None:
    from django.utils import timezone

    from recordings.models import WorkerHeartbeat

    WorkerHeartbeat.objects.create(
        ran_at=timezone.now(), queue_wait_ms=(settings.QUEUE_MAX_AGE_SECONDS + 1) * 1000
    )  # type: ignore[attr-defined]
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["failing"] == ["queue"]
    assert "waited" in body["checks"]["queue"]["error"]
