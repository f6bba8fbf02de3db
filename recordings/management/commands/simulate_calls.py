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
no product; audio before or after the end; WAV 8/16 kHz (a share of the two-channel ones with
the second party silent throughout, which the processing flags as one-sided) or Ogg/Opus. Audio
is speech made by espeak-ng (Dutch and English) when it is installed, else tones. Calls lie in the
past (spread over ``--spread-hours``), so every time is "between started_at and now".

Errors are answers the contract does not allow for the situation, transport failures, and (with
``--wait``) final states other than the expected one. The summary gives calls per second through
the interface; ``--json`` prints it as JSON. Exit status 1 when there were errors.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from recordings.simulator.calls import Client, Outcome, User, plan_call, run_call, wait_for_states
from recordings.simulator.sounds import AudioBank


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
            # Recorded two-channel calls with one party silent (the one-sided flag, by the processing).
            "one_sided": sum(1 for o in outcomes if o.plan.one_sided and o.state == "recorded"),
            "speech": bank.speech,
            "seed": seed,
        }
        if options["json"]:
            self.stdout.write(json.dumps({**summary, "error_lines": errors[:50]}, indent=2))
        else:
            self.stdout.write(
                f"{summary['calls']} calls ({summary['requests']} requests) in {summary['seconds']} s "
                f"at concurrency {summary['concurrency']}: {summary['calls_per_second']} calls/s, "
                f"{summary['errors']} errors; states {summary['states']}; "
                f"{summary['one_sided']} recorded with one party silent"
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
