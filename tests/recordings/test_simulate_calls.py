"""The phone-system simulator against a live server: every mode's pattern, checked end to end."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from recordings.models import Call, Recording
from recordings.simulator.calls import ONE_SIDED_SHARE, User, plan_call
from recordings.simulator.sounds import encode
from tenants.models import Tenant
from tenants.scoping import tenant_scope


@pytest.mark.django_db(transaction=True)
def test_simulator_drives_every_mode_with_zero_errors(live_server, tmp_path: Path) -> None:
    out = StringIO()
    call_command("demo", "--json", stdout=out)
    demo = tmp_path / "demo.json"
    demo.write_text(out.getvalue())
    report = StringIO()
    call_command(
        "simulate_calls",
        "--url", live_server.url,
        "--demo-json", str(demo),
        "--calls", "18",
        "--concurrency", "1",  # the test database is one shared in-memory SQLite
        "--seed", "11",
        "--wait", "30",
        "--json",
        stdout=report,
    )  # fmt: skip
    summary = json.loads(report.getvalue())
    assert summary["errors"] == 0, summary["error_lines"]
    assert summary["calls"] == 18
    # 9 demo users with a pbx_id, round-robin: each mode twice
    assert set(summary["states"]) <= {"recorded", "discarded", "not_recorded"}
    assert summary["states"]["not_recorded"] == 4  # never and no product, twice each
    tenant = Tenant.objects.get(slug="demo")
    with tenant_scope(tenant):
        assert Call.objects.count() == 18
        assert Recording.objects.count() == summary["states"]["recorded"]
        assert Call.objects.exclude(upload_key="").count() == 0  # no raw upload left
        # The seed's one-sided two-channel calls that were recorded, and only they, are flagged.
        assert summary["one_sided"] >= 1
        assert Recording.objects.filter(one_sided=True).count() == summary["one_sided"]


def test_simulator_refuses_missing_users(tmp_path: Path) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--demo-json"):
        call_command("simulate_calls", "--url", "http://127.0.0.1:1", "--key", "k")


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("wav8", ("wav", 8000, 1)),
        ("wav16", ("wav", 16000, 1)),
        ("wav16s", ("wav", 16000, 2)),
        ("opus", ("ogg", 48000, 1)),
    ],
)
def test_every_upload_format_is_one_the_interface_accepts(fmt: str, expected: tuple[str, int, int]) -> None:
    from io import BytesIO

    from recordings import audio
    from recordings.audio import synth
    from recordings.simulator.sounds import encode

    body, content_type = encode(synth._tone_block(16000, 2).tobytes(), fmt)
    info = audio.probe(BytesIO(body))
    audio.check_declared_type(info, content_type)
    assert (info.container, info.sample_rate, info.channels) == expected
    assert abs(info.duration_ms - 2000) <= 30


def test_a_small_share_of_two_channel_calls_is_one_sided_as_the_seed_decides() -> None:
    now = datetime.now(UTC)
    users = [User("1001", "always"), User("2001", "playback"), User("3001", "on_demand")]

    def plans(seed: int) -> list[Any]:
        rng = random.Random(seed)
        return [
            plan_call(n, users[n % 3], rng, run_id="t", now=now, spread_hours=1, blacklist=None)
            for n in range(2000)
        ]

    first = plans(5)
    one_sided = [p for p in first if p.one_sided]
    assert one_sided and all(p.fmt == "wav16s" for p in one_sided)  # two channels only
    stereo = [p for p in first if p.fmt == "wav16s"]
    assert abs(len(one_sided) / len(stereo) - ONE_SIDED_SHARE) < 0.08
    assert 0.02 < len(one_sided) / len(first) < 0.12  # a small share of all calls
    assert [p.call_id for p in plans(5) if p.one_sided] == [p.call_id for p in one_sided]  # the seed decides
    assert [p.call_id for p in plans(6) if p.one_sided] != [p.call_id for p in one_sided]


def test_one_sided_audio_needs_two_channels() -> None:
    with pytest.raises(ValueError, match="needs two channels"):
        encode(bytes(3200), "wav16", one_sided=True)
