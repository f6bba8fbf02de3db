"""``manage.py simulate_calls``: a phone system that drives the telephony interface over HTTP.

It speaks only the contract (``/rpi/v1/``, Bearer key, JSON, audio PUT) through the standard
library's ``http.client``, like the real hosted phone system would, so it works against any
deployment (the demo, a benchmark stack, production). It never touches the database.

Users: ``--demo-json FILE`` reads the output of ``manage.py demo --json`` (log-ins, pbx_ids and the
key; ``--key`` may then be left out), so each call knows the user's mode and checks the outcome it
must have (e.g. on demand without keep → ``discarded``). ``--users 1001,2001,…`` gives bare
pbx_ids instead: modes are then unknown, every pattern is tried and only the interface's answers
are checked (events may be refused with 409 then).

Each call picks a user round-robin and a pattern of its mode: always (plain, or a refused pause),
always_pause (pause/resume), on demand (keep or not, pause after keep), user start (start or
not; audio from start with X-Audio-Offset-Ms), never, Playback (whole call; blacklisted number),
no product; audio before or after the end; WAV 8/16 kHz or Ogg/Opus. Audio is speech made by
espeak-ng (Dutch and English) when it is installed, else tones. Calls lie in the past (spread over
``--spread-hours``), so every time is "between started_at and now".

Errors are answers the contract does not allow for the situation, transport failures, and (with
``--wait``) final states other than the expected one. The summary gives calls per second through
the interface; ``--json`` prints it as JSON. Exit status 1 when there were errors.
"""

from __future__ import annotations

import http.client
import io
import json
import random
import shutil
import subprocess
import tempfile
import threading
import time
import wave
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recordings import audio

SENTENCES = {
    "nl": [
        "Goedemiddag, u spreekt met de klantenservice. Waarmee kan ik u helpen?",
        "Ik bel over de factuur van vorige maand, daar klopt iets niet aan.",
        "Dat zoek ik even voor u op. Een ogenblik geduld alstublieft.",
        "Prima, dan stuur ik u vandaag nog een nieuwe offerte per e-mail.",
        "Kunt u mij uw klantnummer geven? Dank u wel.",
    ],
    "en": [
        "Good afternoon, you are speaking with customer service. How can I help?",
        "I am calling about last month's invoice, something is not right.",
        "Let me look that up for you. One moment please.",
        "Fine, I will send you a new quote by email today.",
        "Could you give me your customer number? Thank you.",
    ],
}
ESPEAK = "/usr/bin/espeak-ng"

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


# --------------------------------------------------------------------------------------------
# Audio
# --------------------------------------------------------------------------------------------


class AudioBank:
    """Speech clips (espeak-ng) or tones as 16 kHz mono PCM, and calls made from them."""

    RATE = 16000

    def __init__(self, seed: int = 7) -> None:
        self.clips: list[bytes] = []
        self.speech = Path(ESPEAK).exists() or shutil.which("espeak-ng") is not None
        if self.speech:
            for lang, sentences in SENTENCES.items():
                for n, text in enumerate(sentences):
                    voice = "nl" if lang == "nl" else "en-us"
                    self.clips.append(self._speak(text, voice, speed=150 + 10 * n))
        else:
            for freq in (300, 440, 550, 660):
                self.clips.append(self._tone(freq, seconds=2.0))
        self.random = random.Random(seed)

    def _speak(self, text: str, voice: str, speed: int) -> bytes:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "s.wav"
            exe = ESPEAK if Path(ESPEAK).exists() else str(shutil.which("espeak-ng"))
            subprocess.run(  # noqa: S603 (fixed executable, our own text)
                [exe, "-v", voice, "-s", str(speed), "-w", str(path), text], check=True, capture_output=True
            )
            return _resample_wav(path.read_bytes(), self.RATE)

    def _tone(self, freq: int, seconds: float) -> bytes:
        import math

        n = int(self.RATE * seconds)
        samples = (int(8000 * math.sin(2 * math.pi * freq * i / self.RATE)) for i in range(n))
        return b"".join(s.to_bytes(2, "little", signed=True) for s in samples)

    def pcm(self, seconds: float, rng: random.Random) -> bytes:
        """``seconds`` of conversation: clips separated by short silences, cut to length."""
        out = bytearray()
        need = int(seconds * self.RATE) * 2
        while len(out) < need:
            out += rng.choice(self.clips)
            out += bytes(2 * int(self.RATE * rng.uniform(0.2, 0.8)))
        return bytes(out[:need])


def _resample_wav(data: bytes, rate: int) -> bytes:
    import av

    out = bytearray()
    with av.open(io.BytesIO(data)) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        for frame in container.decode(audio=0):
            for piece in resampler.resample(frame):
                out += bytes(piece.planes[0])[: piece.samples * 2]
        for piece in resampler.resample(None):
            out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)


def encode(pcm16k: bytes, fmt: str) -> tuple[bytes, str]:
    """The upload body and its content type: ``wav8``, ``wav16``, ``wav16s`` (stereo), ``opus``."""
    if fmt == "opus":
        return _opus(pcm16k), "audio/ogg"
    rate = 8000 if fmt == "wav8" else 16000
    pcm = _resample_raw(pcm16k, 16000, rate) if rate != 16000 else pcm16k
    channels = 2 if fmt == "wav16s" else 1
    if channels == 2:  # the two parties on two channels: here the same voice, one quieter
        import array

        mono = array.array("h", pcm)
        stereo = array.array("h", bytes(4 * len(mono)))
        stereo[0::2] = mono
        stereo[1::2] = array.array("h", (s // 4 for s in mono))
        pcm = stereo.tobytes()
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buffer.getvalue(), "audio/wav"


def _resample_raw(pcm: bytes, src: int, dst: int) -> bytes:
    import av

    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate = src
    frame.pts = 0
    frame.time_base = Fraction(1, src)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=dst)
    out = bytearray()
    for piece in [*resampler.resample(frame), *resampler.resample(None)]:
        out += bytes(piece.planes[0])[: piece.samples * 2]
    return bytes(out)


def _opus(pcm: bytes, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    audio.encode_opus([pcm], buffer, rate=rate)
    return buffer.getvalue()


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
        upload = encode(bank.pcm(audio_seconds, rng), plan.fmt)

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


class Command(BaseCommand):
    help = "Drive the telephony interface over HTTP like the phone system (calls in every mode)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url", required=True, help="base URL of the recorder, e.g. http://127.0.0.1:8000"
        )
        parser.add_argument("--key", help="the tenant's phone-system key (default: from --demo-json)")
        parser.add_argument("--demo-json", help="output of `manage.py demo --json` (users, modes, key)")
        parser.add_argument("--users", help="comma-separated pbx_ids (modes unknown) instead of --demo-json")
        parser.add_argument("--calls", type=int, default=20)
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument("--spread-hours", type=float, default=0.5, help="calls lie up to this far back")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for final states (0: no)")
        parser.add_argument("--json", action="store_true", help="print the summary as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        users, key, blacklist = self._users(options)
        if not key:
            raise CommandError("give --key, or --demo-json with a pbx_key in it")
        if options["calls"] < 1 or options["concurrency"] < 1:
            raise CommandError("--calls and --concurrency must be at least 1")
        seed = options["seed"] if options["seed"] is not None else random.randrange(1 << 30)
        rng = random.Random(seed)
        client = Client(options["url"], key)
        bank = AudioBank(seed)
        run_id = f"{datetime.now(UTC):%Y%m%d%H%M%S}-{seed % 100000:05d}"
        now = datetime.now(UTC)
        plans = [
            plan_call(
                n,
                users[n % len(users)],
                rng,
                run_id=run_id,
                now=now,
                spread_hours=options["spread_hours"],
                blacklist=blacklist,
            )
            for n in range(options["calls"])
        ]
        seeds = [rng.randrange(1 << 30) for _ in plans]

        def one(i: int) -> Outcome:
            try:
                return run_call(client, plans[i], bank, random.Random(seeds[i]))
            except Exception as exc:
                return Outcome(plans[i], errors=[f"{plans[i].call_id}: {type(exc).__name__}: {exc}"])

        began = time.perf_counter()
        with ThreadPoolExecutor(max_workers=options["concurrency"]) as pool:
            outcomes = list(pool.map(one, range(len(plans))))
        elapsed = time.perf_counter() - began
        if options["wait"]:
            wait_for_states(client, outcomes, options["wait"])
            for outcome in outcomes:
                want = outcome.plan.expect_state
                if want and not outcome.errors and outcome.state != want:
                    outcome.errors.append(
                        f"{outcome.plan.call_id} ({outcome.plan.user.mode}/{outcome.plan.pattern}): "
                        f"state {outcome.state}, expected {want}"
                    )
        client.close()
        errors = [e for o in outcomes for e in o.errors]
        summary = {
            "calls": len(outcomes),
            "concurrency": options["concurrency"],
            "requests": sum(o.requests for o in outcomes),
            "seconds": round(elapsed, 3),
            "calls_per_second": round(len(outcomes) / elapsed, 2),
            "requests_per_second": round(sum(o.requests for o in outcomes) / elapsed, 1),
            "errors": len(errors),
            "states": dict(Counter(o.state for o in outcomes)),
            "speech": bank.speech,
            "seed": seed,
        }
        if options["json"]:
            self.stdout.write(json.dumps({**summary, "error_lines": errors[:50]}, indent=2))
        else:
            self.stdout.write(
                f"{summary['calls']} calls ({summary['requests']} requests) in {summary['seconds']} s "
                f"at concurrency {summary['concurrency']}: {summary['calls_per_second']} calls/s, "
                f"{summary['errors']} errors; states {summary['states']}"
            )
            for line in errors[:50]:
                self.stderr.write(line)
        if errors:
            raise SystemExit(1)

    def _users(self, options: dict[str, Any]) -> tuple[list[User], str | None, str | None]:
        key = options["key"]
        if options["demo_json"]:
            try:
                demo = json.loads(Path(options["demo_json"]).read_text())
                people = demo["users"]
            except (OSError, ValueError, KeyError) as exc:
                raise CommandError(f"cannot read --demo-json: {exc}") from exc
            users = []
            for name, person in people.items():
                if name in ("admin", "listener") or not person.get("pbx_id"):
                    continue
                mode = "playback" if name.startswith("playback") else "none" if name == "no_product" else name
                users.append(User(person["pbx_id"], mode))
            return users, key or demo.get("pbx_key"), demo.get("rules", {}).get("blacklist")
        if options["users"]:
            ids = [u.strip() for u in options["users"].split(",") if u.strip()]
            return [User(pbx_id, "unknown") for pbx_id in ids], key, None
        raise CommandError("give --demo-json FILE or --users 1001,1002,…")
