"""The simulated phone system's calls: one HTTP client per thread speaking the contract, a plan
per call from the user's mode, the call run against the interface and its outcome checked."""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.management.base import CommandError

from recordings.simulator.sounds import AudioBank, encode

# (pattern, modes it belongs to); the expected final state is computed per call.
PATTERNS: dict[str, list[str]] = {
    "always": ["plain", "refused_pause"],
    "always_pause": ["pause_resume", "plain"],
    "on_demand": ["keep", "no_keep", "keep_pause"],
    "on_demand_user_start": ["start", "no_start", "start_pause"],
    "never": ["plain"],
    "playback": ["plain", "audio_first", "blacklisted"],
    "none": ["plain"],
    "unknown": ["plain", "pause_resume", "keep", "start"],
}

# The share of two-channel calls (``wav16s``) where the second party is silent throughout, as
# after a hold or a transfer the phone system recorded wrongly: about 6 % of all calls, so that a
# demo run shows the one-sided flag (``Recording.one_sided``) in the overview and the player.
ONE_SIDED_SHARE = 0.3


# --------------------------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------------------------


class Client:
    """One keep-alive connection per thread to the interface."""

    def __init__(self, url: str, key: str, timeout: float = 60) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CommandError(f"--url must be http(s)://host[:port], not {url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.base = parts.path.rstrip("/") + "/rpi/v1"
        self.key, self.timeout = key, timeout
        self.local = threading.local()
        self.opened: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def close(self) -> None:
        with self.lock:
            for conn in self.opened:
                conn.close()
            self.opened.clear()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            cls = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            conn = cls(self.host, self.port, timeout=self.timeout)
            self.local.conn = conn
            with self.lock:
                self.opened.append(conn)
        return conn

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.key}", **(headers or {})}
        for attempt in (1, 2):
            conn = self._connection()
            try:
                conn.request(method, self.base + path, body=body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError, TimeoutError, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = {"raw": raw[:200].decode(errors="replace")}
        return response.status, data

    def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        return self.request("POST", path, json.dumps(body).encode(), {"Content-Type": "application/json"})


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------


@dataclass
class User:
    pbx_id: str
    mode: str  # a licence mode, "playback", "none" or "unknown"


@dataclass
class Plan:
    call_id: str
    user: User
    pattern: str
    started_at: datetime
    seconds: int
    remote: str
    fmt: str
    audio_first: bool
    events: list[tuple[str, int, set[int]]] = field(default_factory=list)  # type, ms, allowed
    audio_offset_ms: int = 0
    one_sided: bool = False  # two channels, the second silent throughout
    expect_record: bool | None = None
    expect_state: str | None = None


@dataclass
class Outcome:
    plan: Plan
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    state: str | None = None


def plan_call(
    n: int,
    user: User,
    rng: random.Random,
    *,
    run_id: str,
    now: datetime,
    spread_hours: float,
    blacklist: str | None,
) -> Plan:
    pattern = rng.choice(PATTERNS[user.mode])
    seconds = rng.randint(6, 40)
    hours_back = rng.uniform(0, spread_hours)
    if user.mode == "playback":
        hours_back = min(hours_back, 48.0)  # unsaved playbacks live 3 days
    started = now - timedelta(hours=hours_back, seconds=seconds + 5)
    remote = rng.choice(["+31612345678", "+31201234567", "+31101234567", "+32470123456", "anonymous"])
    if pattern == "blacklisted" and blacklist:
        remote = blacklist
    plan = Plan(
        call_id=f"sim-{run_id}-{n:05d}",
        user=user,
        pattern=pattern,
        started_at=started.replace(microsecond=0),
        seconds=seconds,
        remote=remote,
        fmt=rng.choice(["wav8", "wav8", "wav16", "wav16s", "opus"]),
        audio_first=pattern == "audio_first" or rng.random() < 0.3,
    )
    if plan.fmt == "wav16s":  # drawn for two-channel calls only: the seed decides, as for the rest
        plan.one_sided = rng.random() < ONE_SIDED_SHARE
    third = seconds * 1000 // 3
    mode, ok, refused, maybe = user.mode, {202}, {409}, {202, 409}
    if pattern == "refused_pause":
        plan.events = [("pause", third, refused)]
    elif pattern == "pause_resume":
        plan.events = [
            ("pause", third, ok if mode != "unknown" else maybe),
            ("resume", 2 * third, ok if mode != "unknown" else maybe),
        ]
    elif pattern == "keep":
        plan.events = [("keep", 2 * third, ok if mode != "unknown" else {200, 202, 409})]
    elif pattern == "keep_pause":
        plan.events = [
            ("pause", 1000, refused),
            ("keep", third, ok),
            ("keep", third, {200}),
            ("pause", 2 * third, ok),
        ]
    elif pattern in ("start", "start_pause"):
        plan.events = [("keep", 500, refused) if mode != "unknown" else ("start", 500, maybe)]
        if mode != "unknown":
            plan.events.append(("start", third, ok))
            plan.audio_offset_ms = third
        if pattern == "start_pause":
            plan.events += [("pause", third + 2000, ok), ("resume", 2 * third, ok)]
    if mode in ("playback", "none", "never") and rng.random() < 0.3:
        plan.events = [("pause", third, refused)]  # these modes take no events
    plan.expect_record = {"never": False, "none": False, "unknown": None}.get(mode, True)
    plan.expect_state = {
        "always": "recorded",
        "always_pause": "recorded",
        "on_demand": "recorded" if pattern in ("keep", "keep_pause") else "discarded",
        "on_demand_user_start": "recorded" if pattern.startswith("start") else "discarded",
        "never": "not_recorded",
        "playback": "recorded",
        "none": "not_recorded",
    }.get(mode)
    return plan


def run_call(client: Client, plan: Plan, bank: AudioBank, rng: random.Random) -> Outcome:
    result = Outcome(plan)
    path = f"/calls/{quote(plan.call_id, safe='')}"

    def check(what: str, status: int, data: Any, allowed: set[int]) -> bool:
        result.requests += 1
        if status not in allowed:
            result.errors.append(f"{plan.call_id} {what}: {status} {json.dumps(data)[:200]}")
            return False
        return True

    t0 = plan.started_at
    body = {
        "call_id": plan.call_id,
        "user": plan.user.pbx_id,
        "direction": rng.choice(["inbound", "outbound"]),
        "local_number": "+31207654321",
        "remote_number": plan.remote,
        "leg": rng.choice(["fixed", "mobile"]),
        "started_at": iso(t0),
    }
    status, answer = client.post("/calls", body)
    if not check("start", status, answer, {201}):
        return result
    record = bool(answer.get("record"))
    if plan.expect_record is not None and plan.pattern != "blacklisted" and record != plan.expect_record:
        result.errors.append(f"{plan.call_id} start: record {record}, expected {plan.expect_record}")
    if plan.pattern == "blacklisted" and not record:
        plan.expect_state = "discarded"
    # a replay of the start must give the same answer
    status, again = client.post("/calls", body)
    if check("start replay", status, again, {200}) and again != answer:
        result.errors.append(f"{plan.call_id} start replay answered {again} after {answer}")

    upload = None
    if record:
        audio_seconds = plan.seconds - plan.audio_offset_ms / 1000
        upload = encode(bank.pcm(audio_seconds, rng), plan.fmt, one_sided=plan.one_sided)

    def send_audio() -> None:
        assert upload is not None
        data, content_type = upload
        headers = {"Content-Type": content_type, "X-Audio-Offset-Ms": str(plan.audio_offset_ms)}
        status, answer = client.request("PUT", f"{path}/audio", data, headers)
        check("audio", status, answer, {201})

    if upload and plan.audio_first:
        send_audio()
    for type_, at_ms, allowed in plan.events:
        status, answer = client.post(
            f"{path}/events", {"type": type_, "at": iso(t0 + timedelta(milliseconds=at_ms))}
        )
        check(f"event {type_}@{at_ms}", status, answer, allowed)
    ended = iso(t0 + timedelta(seconds=plan.seconds))
    status, answer = client.post(f"{path}/end", {"ended_at": ended})
    check("end", status, answer, {202})
    status, answer = client.post(f"{path}/end", {"ended_at": ended})
    check("end replay", status, answer, {200})
    if upload and not plan.audio_first:
        send_audio()
    if not record:
        status, answer = client.request("PUT", f"{path}/audio", b"RIFF", {"Content-Type": "audio/wav"})
        check("audio of an unrecorded call", status, answer, {409})
    status, answer = client.request("GET", path)
    if check("read-back", status, answer, {200}):
        result.state = answer.get("state")
    return result


def wait_for_states(client: Client, outcomes: list[Outcome], timeout: float) -> None:
    """Poll the read-back until no call is in_progress/processing (or the timeout)."""
    deadline = time.monotonic() + timeout
    pending = [o for o in outcomes if o.state in ("in_progress", "processing")]
    while pending and time.monotonic() < deadline:
        time.sleep(0.5)
        still = []
        for outcome in pending:
            status, answer = client.request("GET", f"/calls/{quote(outcome.plan.call_id, safe='')}")
            outcome.state = answer.get("state") if status == 200 else outcome.state
            if outcome.state in ("in_progress", "processing"):
                still.append(outcome)
        pending = still
