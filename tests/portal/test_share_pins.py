"""Share PINs cannot be brute-forced: at most ten judged per link per hour in every process at once,
backoff per client, a lock the recipient understands, and the owner's new PIN that lifts it."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test import Client
from django.urls import reverse

from recordings import social
from recordings.models import Recording, ShareLink, SharePinAttempt
from tenants.audit import AuditEntry
from tenants.scoping import tenant_scope
from tests.base import PROJECT_ROOT, REAL_SERVICES, Personas
from tests.factories import make_recording
from tests.portal import pin_race

PIN = "2468"
LOCKED_EN = "Ask the person who shared this recording with you for a new PIN or a new link."
LOCKED_NL = "Vraag degene die deze opname met u deelde om een nieuwe pincode of een nieuwe link."


@pytest.fixture
def rec(personas: Personas) -> Recording:
    return make_recording(personas.users["always"], remote_number="+31699887766")


@pytest.fixture
def issued(personas: Personas, rec: Recording) -> social.IssuedShare:
    return social.create_share(recording=rec, acting_user=personas.users["always"], pin=PIN)


@pytest.fixture
def frozen() -> Iterator[time_machine.Coordinates]:
    """A clock that moves only when the test moves it (backoff and lock are times). Ask for it
    after ``issued``: the PIN is set before the clock stops."""
    with time_machine.travel(dt.datetime.now(tz=dt.UTC), tick=False) as clock:
        yield clock


def _page(issued: social.IssuedShare) -> str:
    return reverse("share_page", args=[issued.token])


def _try(issued: social.IssuedShare, pin: str, ip: str, client: Client | None = None, **headers: str):  # type: ignore[no-untyped-def]
    return (client or Client()).post(_page(issued), {"pin": pin}, REMOTE_ADDR=ip, headers=headers)


def _attempts(share: ShareLink) -> int:
    return SharePinAttempt.objects.unscoped().filter(share=share).count()


def _audio_url(html: str) -> str:
    return re.search(r'src="([^"]+/audio[^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]


# --- the limit per link -----------------------------------------------------------------------


def test_eleventh_wrong_pin_and_then_the_right_one_are_refused(
    issued: social.IssuedShare, frozen: time_machine.Coordinates
) -> None:
    # Ten different clients (so no backoff): each wrong PIN is judged and refused.
    for i in range(10):
        wrong = _try(issued, "0000", f"198.51.100.{i + 1}")
        assert wrong.status_code == 403
        assert "That PIN is not right." in wrong.content.decode()
    assert _attempts(issued.share) == 10
    locks = AuditEntry.objects.unscoped().filter(action="share.pin_locked")
    assert locks.count() == 1 and locks.get().detail["wrong_pins"] == 10

    eleventh = _try(issued, "0000", "203.0.113.7")
    assert eleventh.status_code == 403 and LOCKED_EN in eleventh.content.decode()
    browser = Client()
    right = _try(issued, PIN, "203.0.113.8", client=browser)
    assert right.status_code == 403
    assert LOCKED_EN in right.content.decode() and "<audio" not in right.content.decode()
    assert "<audio" not in browser.get(_page(issued)).content.decode()
    assert _attempts(issued.share) == 10  # the refused tries were not judged


def test_the_lock_holds_for_the_hour_then_lifts(
    issued: social.IssuedShare, frozen: time_machine.Coordinates
) -> None:
    for i in range(10):
        _try(issued, "0000", f"198.51.100.{i + 1}")
    frozen.shift(dt.timedelta(minutes=59))
    assert _try(issued, PIN, "203.0.113.8").status_code == 403
    frozen.shift(dt.timedelta(minutes=2))
    browser = Client()
    assert _try(issued, PIN, "203.0.113.8", client=browser).status_code == 302
    assert "<audio" in browser.get(_page(issued)).content.decode()


def test_a_right_pin_is_not_counted(issued: social.IssuedShare, frozen: time_machine.Coordinates) -> None:
    assert _try(issued, PIN, "198.51.100.1").status_code == 302
    assert _try(issued, "1111", "198.51.100.2").status_code == 403
    assert _attempts(issued.share) == 1


def test_locked_message_in_english_and_dutch(issued: social.IssuedShare) -> None:
    ShareLink.objects.unscoped().filter(pk=issued.share.pk).update(pin_locked_at=dt.datetime.now(tz=dt.UTC))
    english = Client().get(_page(issued), headers={"Accept-Language": "en"})
    assert english.status_code == 403 and LOCKED_EN in english.content.decode()
    assert 'name="pin"' not in english.content.decode()
    dutch = Client().get(_page(issued), headers={"Accept-Language": "nl"})
    assert dutch.status_code == 403 and LOCKED_NL in dutch.content.decode()
    posted = _try(issued, PIN, "198.51.100.1", **{"Accept-Language": "nl"})
    assert posted.status_code == 403 and LOCKED_NL in posted.content.decode()


# --- backoff per client -----------------------------------------------------------------------


def test_backoff_per_client(
    issued: social.IssuedShare, personas: Personas, frozen: time_machine.Coordinates
) -> None:
    ip = "198.51.100.20"
    for _ in range(social.PIN_BACKOFF_FREE):
        assert _try(issued, "0000", ip).status_code == 403
    waiting = _try(issued, PIN, ip)  # not judged, the right PIN neither
    assert waiting.status_code == 429 and waiting["Retry-After"] == "30"
    assert "<audio" not in waiting.content.decode()
    assert _attempts(issued.share) == social.PIN_BACKOFF_FREE
    # another client is not slowed down
    assert _try(issued, "1111", "198.51.100.21").status_code == 403

    frozen.shift(dt.timedelta(seconds=31))
    assert _try(issued, "0000", ip).status_code == 403  # judged again; the next wait doubles
    assert _try(issued, "0000", ip)["Retry-After"] == "60"
    frozen.shift(dt.timedelta(seconds=59))
    assert _try(issued, PIN, ip).status_code == 429
    frozen.shift(dt.timedelta(seconds=2))
    assert _try(issued, PIN, ip).status_code == 302


def test_backoff_counts_the_clients_tries_on_every_link(
    personas: Personas, rec: Recording, frozen: time_machine.Coordinates
) -> None:
    owner = personas.users["always"]
    links = [social.create_share(recording=rec, acting_user=owner, pin=PIN) for _ in range(4)]
    for link in links[:3]:
        assert _try(link, "0000", "2001:db8:1:2::5").status_code == 403
    # the same /64 network is the same client
    assert _try(links[3], "0000", "2001:db8:1:2::99").status_code == 429


# --- at most ten judged whatever the concurrency ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_hundred_wrong_pins_at_once_judge_at_most_ten(personas: Personas, rec: Recording) -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "threads need a database file or server (SQLite in memory shares one cache): "
            "test_processes_on_the_embedded_sqlite_judge_at_most_ten covers SQLite"
        )
    issued = social.create_share(recording=rec, acting_user=personas.users["always"], pin=PIN)
    # 50 threads with a connection each (PostgreSQL's default allows 100) type 4 PINs each
    barrier = threading.Barrier(50)
    result = pin_race.fire_at_once(issued.share, threads=50, tries=4, wait=barrier.wait)
    assert result["judged"] == 10
    assert result["verdicts"] == {"wrong": 10, "locked": 190}
    assert _attempts(issued.share) == 10
    assert AuditEntry.objects.unscoped().filter(action="share.pin_locked").count() == 1
    fresh = ShareLink.objects.unscoped().get(pk=issued.share.pk)
    assert fresh.is_pin_locked
    verdict = social.check_share_pin(share=fresh, pin=PIN, client_ip="192.0.2.1").verdict
    assert verdict == social.PinVerdict.LOCKED


def _embedded_env(data_dir: Path) -> dict[str, str]:
    """The environment of the embedded default (SQLite file, IMMEDIATE transactions) in data_dir."""
    services = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "HIPRECORDER_PRODUCTION")
    env = {k: v for k, v in os.environ.items() if k not in services and not k.startswith("AWS_")}
    return {**env, "DATA_DIR": str(data_dir), "DJANGO_SETTINGS_MODULE": "hiprecorder.settings"}


def _race(env: dict[str, str], share_id: str, go: Path) -> tuple[Counter[str], int]:
    """Four processes of ten threads each type 200 wrong PINs at once into one link."""
    # 4 x 10 threads, 5 PINs each: 40 connections (PostgreSQL's default allows 100)
    fire = [sys.executable, "-m", "tests.portal.pin_race", "fire", share_id, "10", "5", str(go)]
    processes = [
        subprocess.Popen([*fire, str(p)], env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True)
        for p in range(4)
    ]
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        go.touch()
        outputs = [process.communicate(timeout=600)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    results = [json.loads(out.strip().splitlines()[-1]) for out in outputs]
    verdicts: Counter[str] = Counter()
    for result in results:
        verdicts.update(result["verdicts"])
    return verdicts, sum(result["judged"] for result in results)


def test_processes_on_the_embedded_sqlite_judge_at_most_ten(tmp_path: Path) -> None:
    env = _embedded_env(tmp_path / "data")
    run = {"env": env, "cwd": PROJECT_ROOT, "capture_output": True, "text": True, "timeout": 600}
    migrated = subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], check=False, **run)  # type: ignore[call-overload]
    assert migrated.returncode == 0, migrated.stderr
    made = subprocess.run([sys.executable, "-m", "tests.portal.pin_race", "setup"], check=False, **run)  # type: ignore[call-overload]
    assert made.returncode == 0, made.stderr
    verdicts, judged = _race(env, made.stdout.split()[-1], tmp_path / "go")
    assert judged == 10
    assert verdicts == {"wrong": 10, "locked": 190}


@pytest.mark.real_services
@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(not REAL_SERVICES, reason="needs PostgreSQL (HIPRECORDER_REAL_SERVICES=1)")
def test_processes_on_postgresql_judge_at_most_ten(
    personas: Personas, rec: Recording, tmp_path: Path
) -> None:
    """The same from separate processes, each with its own connections, to the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    issued = social.create_share(recording=rec, acting_user=personas.users["always"], pin=PIN)
    db = connection.settings_dict
    url = f"postgres://{quote(db['USER'])}:{quote(db['PASSWORD'])}@{db['HOST']}:{db['PORT']}/{quote(db['NAME'])}"
    verdicts, judged = _race({**os.environ, "DATABASE_URL": url}, str(issued.share.pk), tmp_path / "go")
    assert judged == 10
    assert verdicts == {"wrong": 10, "locked": 190}
    assert _attempts(issued.share) == 10
    assert AuditEntry.objects.unscoped().filter(action="share.pin_locked").count() == 1


# --- the owner: sees the wrong PINs, sets a new PIN ---------------------------------------------


def _lock(issued: social.IssuedShare) -> None:
    for i in range(10):
        _try(issued, "0000", f"198.51.100.{i + 1}")
    assert ShareLink.objects.unscoped().get(pk=issued.share.pk).is_pin_locked


def test_owner_sees_the_wrong_pins(
    client: Client, personas: Personas, rec: Recording, issued: social.IssuedShare
) -> None:
    client.force_login(personas.users["always"])
    player = reverse("player", args=[rec.pk])
    html = client.get(player, headers={"Accept-Language": "en"}).content.decode()
    assert "No wrong PINs" in html or "Geen verkeerde pincodes" in html
    _try(issued, "0000", "198.51.100.1")
    _try(issued, "1234", "198.51.100.2")
    html = client.get(player).content.decode()
    assert re.search(r"2 (wrong PINs, the last at|verkeerde pincodes, de laatste om) ", html), html
    _lock(issued)
    html = client.get(player).content.decode()
    assert "locked: too many wrong PINs" in html or "vergrendeld: te vaak een verkeerde pincode" in html


def test_owner_sets_a_new_pin_and_unlocks(
    client: Client, personas: Personas, rec: Recording, issued: social.IssuedShare
) -> None:
    browser = Client()
    assert _try(issued, PIN, "192.0.2.9", client=browser).status_code == 302
    _lock(issued)
    owner = personas.users["always"]
    client.force_login(owner)
    response = client.post(
        reverse("share_pin_reset", args=[rec.pk, issued.share.pk]),
        {"pin": "97531"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200 and "<strong>97531</strong>" in response.content.decode()
    share = ShareLink.objects.unscoped().get(pk=issued.share.pk)
    assert not share.is_pin_locked
    reset = AuditEntry.objects.unscoped().get(action="share.pin_reset")
    assert reset.actor_id == owner.pk and reset.detail["wrong_pins_cleared"] == 10

    # the browser that entered the old PIN must enter the new one; the old PIN no longer works
    assert 'name="pin"' in browser.get(_page(issued)).content.decode()
    assert _try(issued, PIN, "192.0.2.10").status_code == 403
    assert _try(issued, "97531", "192.0.2.9", client=browser).status_code == 302
    page = browser.get(_page(issued)).content.decode()
    audio = browser.get(_audio_url(page), headers={"Range": "bytes=0-9"})
    assert audio.status_code == 206 and len(b"".join(audio.streaming_content)) == 10
    html = client.get(reverse("player", args=[rec.pk])).content.decode()
    assert "1 wrong PIN" not in html and ("One wrong PIN" in html or "Eén verkeerde pincode" in html)


def test_an_empty_pin_gets_six_random_digits(personas: Personas, issued: social.IssuedShare) -> None:
    new = social.reset_share_pin(share=issued.share, acting_user=personas.users["always"])
    assert re.fullmatch(r"[0-9]{6}", new.pin)
    assert _try(issued, new.pin, "192.0.2.1").status_code == 302


@pytest.mark.parametrize("pin", ["12", "abcd", "1234\n5", "١٢٣٤", "123456789"])
def test_a_bad_new_pin_changes_nothing(personas: Personas, issued: social.IssuedShare, pin: str) -> None:
    before = ShareLink.objects.unscoped().get(pk=issued.share.pk)
    with pytest.raises(ValidationError):
        social.reset_share_pin(share=issued.share, acting_user=personas.users["always"], pin=pin)
    after = ShareLink.objects.unscoped().get(pk=issued.share.pk)
    assert (after.pin_hash, after.pin_set_at) == (before.pin_hash, before.pin_set_at)
    assert not AuditEntry.objects.unscoped().filter(action="share.pin_reset").exists()


def test_no_new_pin_for_a_revoked_link(personas: Personas, issued: social.IssuedShare) -> None:
    owner = personas.users["always"]
    social.revoke_share(share=issued.share, acting_user=owner)
    with pytest.raises(ValidationError):
        social.reset_share_pin(share=issued.share, acting_user=owner, pin="5555")
    assert not AuditEntry.objects.unscoped().filter(action="share.pin_reset").exists()


def test_only_the_owner_sets_a_new_pin(
    client: Client, personas: Personas, rec: Recording, issued: social.IssuedShare
) -> None:
    url = reverse("share_pin_reset", args=[rec.pk, issued.share.pk])
    client.force_login(personas.charlie)  # another tenant: the recording does not exist for him
    assert client.post(url, {"pin": "5555"}).status_code == 404
    client.force_login(personas.listener)  # may hear it, is not its owner
    assert client.post(url, {"pin": "5555"}).status_code == 403
    with pytest.raises(PermissionDenied), tenant_scope(rec.tenant_id):
        social.reset_share_pin(share=issued.share, acting_user=personas.listener, pin="5555")
    client.force_login(personas.users["always"])
    assert client.get(url).status_code == 405
    assert Client().post(url, {"pin": "5555"}).status_code in (302, 403)
    assert not AuditEntry.objects.unscoped().filter(action="share.pin_reset").exists()
    assert _try(issued, PIN, "192.0.2.1").status_code == 302  # the PIN is unchanged


def test_deleting_the_recording_removes_its_wrong_pins(issued: social.IssuedShare, rec: Recording) -> None:
    from recordings import lifecycle

    _try(issued, "0000", "198.51.100.1")
    assert _attempts(issued.share) == 1
    lifecycle.delete_recording_objects(recordings=[rec], reason="user_deleted")
    assert not SharePinAttempt.objects.unscoped().exists()
    assert not ShareLink.objects.unscoped().filter(pk=issued.share.pk).exists()


def test_the_app_lists_the_wrong_pins_and_the_lock(
    personas: Personas, rec: Recording, issued: social.IssuedShare
) -> None:
    from tests.api.helpers import client_for

    Client().post(_page(issued), {"pin": PIN}, REMOTE_ADDR="192.0.2.1", follow=True)  # one opening
    _try(issued, "0000", "198.51.100.1")
    _try(issued, "1111", "198.51.100.2")
    app = client_for(personas.users["always"])
    url = f"/api/v1/recordings/{rec.pk}/shares"
    [listed] = app.get(url).json()
    assert (listed["opens"], listed["pin_failures"], listed["pin_locked"]) == (1, 2, False)
    assert listed["last_pin_failure"] is not None
    _lock(issued)
    [listed] = app.get(url).json()
    assert (listed["opens"], listed["pin_failures"], listed["pin_locked"]) == (
        1,
        10,
        True,
    )  # the last two were not judged


def test_the_portal_says_what_is_wrong_with_a_new_pin(
    client: Client, personas: Personas, rec: Recording, issued: social.IssuedShare
) -> None:
    client.force_login(personas.users["always"])
    url = reverse("share_pin_reset", args=[rec.pk, issued.share.pk])
    response = client.post(url, {"pin": "12"}, headers={"Accept-Language": "en"})
    assert response.status_code == 400
    assert "A PIN is 4 to 8 digits." in response.content.decode() or "Een pincode is 4 tot 8 cijfers." in (
        response.content.decode()
    )
    assert not AuditEntry.objects.unscoped().filter(action="share.pin_reset").exists()
    assert _try(issued, PIN, "192.0.2.1").status_code == 302
