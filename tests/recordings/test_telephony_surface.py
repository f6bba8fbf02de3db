"""A telephony-only web process (HIPRECORDER_SURFACE=telephony): the whole phone-system contract
works, nothing else is routed, and it does not load the portal's, API's or allauth's views."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import Client

from recordings.audio import make_wav
from tests.base import Personas, run_python
from tests.recordings.rpi_support import Pbx, wav_bytes


@pytest.fixture
def telephony(settings: pytest.FixtureRequest) -> None:
    settings.ROOT_URLCONF = "hiprecorder.telephony_urls"


@pytest.mark.django_db
def test_a_whole_call_goes_through_the_telephony_surface(
    telephony: None, pbx: Pbx, personas: Personas
) -> None:
    started = pbx.start(personas.users["always"].pbx_id)
    assert started.status_code == 201, started.content
    call_id = started.sent["call_id"]
    assert pbx.end(call_id, started.started + timedelta(seconds=3)).status_code == 202
    assert pbx.audio(call_id, wav_bytes(3.0)).status_code == 201
    assert pbx.get(call_id).json()["state"] == "recorded"


NOT_ROUTED = ["/", "/accounts/login/", "/api/v1/me", "/api/schema/", "/admin/", "/manage/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", NOT_ROUTED)
def test_nothing_but_the_interface_is_routed(telephony: None, path: str) -> None:
    response = Client().get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"  # the contract's error, not the portal's page


@pytest.mark.django_db
def test_healthz_is_served(telephony: None) -> None:
    assert Client().get("/healthz").status_code == 200


TELEPHONY_PROCESS = """
import json, sys
import hiprecorder.wsgi
from django.urls import get_resolver, resolve
get_resolver().reverse_dict
resolve("/rpi/v1/calls/x/audio")
from recordings import audio
with open(sys.argv[1], "rb") as upload:
    audio.check_declared_type(audio.probe(upload), "audio/wav")
names = ("fido2", "allauth.mfa.stages", "rest_framework.serializers", "drf_spectacular.views")
print(json.dumps({name: name in sys.modules for name in names}))
"""


def run_process(tmp_path: Path, surface: str) -> subprocess.CompletedProcess[str]:
    wav = make_wav(tmp_path / "call.wav", seconds=2, kind="speech-like")
    return run_python(TELEPHONY_PROCESS, str(wav), data_dir=tmp_path / "data", HIPRECORDER_SURFACE=surface)


def test_the_telephony_process_loads_no_portal_api_or_mfa_views(tmp_path: Path) -> None:
    telephony = run_process(tmp_path, "telephony")
    assert telephony.returncode == 0, telephony.stderr
    assert set(json.loads(telephony.stdout).values()) == {False}
    # The same script on the full surface does load them: the check above can fail.
    full = run_process(tmp_path, "all")
    assert full.returncode == 0, full.stderr
    assert json.loads(full.stdout)["fido2"] is True
    assert json.loads(full.stdout)["rest_framework.serializers"] is True


def test_an_unknown_surface_stops_start_up_naming_the_variable(tmp_path: Path) -> None:
    result = run_process(tmp_path, "portal-only")
    assert result.returncode != 0
    assert "HIPRECORDER_SURFACE='portal-only' is not one of all, telephony" in result.stderr
