"""Benchmark of the portal on PostgreSQL: the home list and Range streaming.

    . /tmp/svc-x/env.sh && python bench/bench_portal.py [--recordings 1500000] [--heavy 200000]
                                                        [--requests 200] [--depth 1000]
                                                        [--skip-home | --skip-streaming]

Needs ``DATABASE_URL`` pointing at a PostgreSQL server; works in its own database
``<name>_bench_portal`` (created, migrated and filled once with bench_api's filler; kept for the
next run): one tenant with ``--recordings`` recordings, ``--heavy`` of them a Playback user's,
the rest spread over 250 colleagues, a listener of a 20-member team.

Home list, through gunicorn on a Unix socket in the production configuration (``bench/server.py``;
``--test-client`` for Django's test client instead): session, tenant scope, template rendering of
25 rows with labels, ``--requests`` requests each, p50/p95/max in ms of the client's time:

  (a) the heavy user's home page (full HTML page);
  (b) the htmx next-page fetch ``--depth`` pages deep (keyset cursor), and at the last page;
  (c) the listener's home page and a next-page fetch 100 pages deep;
  (d) baseline, same run: ``GET /healthz`` through the same stack (the floor of a request now).

Streaming, through the same kind of gunicorn (``bench/server.py``: production settings, Unix
socket; ``--s3`` streams from the ``AWS_*`` store instead of disk; ``--proxy`` puts nginx in front,
as docs/operations.md deploys it: the application answers ``X-Accel-Redirect`` and nginx serves
the bytes, and nginx serves the baseline's file too) serving a ``--file-kb``
recording (default 1080 KiB, a 6-minute call), with a bare WSGI route in the same process serving
the same bytes from disk as the baseline; no pauses between requests:

  (e) ``--plays`` new playbacks (a fresh signed URL bound to the session each: the first request
      checks the person and the recording and writes the access row), each whole file against the
      bare route next to it: the first byte's p95 (target under 10 ms on disk, 40 ms on S3), new
      playbacks per second on one core (target at least 300), every access row written, and seen
      in the database before the first byte arrives (checked on 20 of them);
  (f) one playback seeking: 64 KiB ranges at random offsets on one URL, each against the bare
      route: the median of the paired speed ratios (target at least 90 %).

Exits 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from measure import bench_database_url, percentile, summary  # noqa: E402 (after the path)
from server import Proxy, Server, production_env  # noqa: E402 (after the path)

HOME_TARGET_MS = 20.0
FIRST_BYTE_DISK_MS = 10.0
FIRST_BYTE_S3_MS = 40.0
NEW_PLAYBACKS_PER_CORE = 300
SEEK_TARGET = 0.90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the home list ----------------------------------------------------------------------------


def bench_home(
    actors: dict[str, object], requests: int, depth: int, server: Server | None
) -> tuple[bool, list[str]]:
    from django.test import Client

    from recordings import listing
    from tenants.scoping import tenant_scope

    def signed_in(user: object) -> Any:
        """A GET function as ``user``: through gunicorn (``server``), or Django's test client."""
        client = Client()
        client.force_login(user)  # type: ignore[arg-type]
        if server is None:

            def through_test_client(path: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
                started = time.perf_counter()
                response = client.get(path, headers=headers)
                return response.status_code, response.content, (time.perf_counter() - started) * 1000

            return through_test_client
        http = server.client(cookie=f"sessionid={client.cookies['sessionid'].value}")
        return http.timed_get

    def measure(get: Any, path: str, htmx: bool = False, rows: int | None = None) -> list[float]:
        headers = {"HX-Request": "true"} if htmx else {}
        times = []
        for n in range(requests + 5):
            status, body, elapsed = get(path, headers)
            assert status == 200, (path, status)
            if rows is not None:
                assert body.count(b'<li class="recording ') == rows, path
            if n >= 5:  # warm-up
                times.append(elapsed)
        return times

    def cursor_at(user: object, pages: int) -> str:
        with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
            member_ids = listing.team_member_ids(user)  # type: ignore[arg-type]
            qs = listing.visible_queryset(user, member_ids).order_by("-started_at", "-id")  # type: ignore[arg-type]
            row = qs[pages * listing.PAGE_SIZE - 1]
        return listing.encode_cursor(row.started_at, row.pk)

    heavy = signed_in(actors["heavy"])
    floor = measure(heavy, "/healthz")
    first = measure(heavy, "/", rows=listing.PAGE_SIZE)
    deep = measure(heavy, f"/?after={cursor_at(actors['heavy'], depth)}", htmx=True, rows=listing.PAGE_SIZE)
    with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
        mine = listing.visible_queryset(actors["heavy"], []).count()  # type: ignore[arg-type]
    last_page = (mine - 1) // listing.PAGE_SIZE
    last = measure(heavy, f"/?after={cursor_at(actors['heavy'], last_page)}", htmx=True)
    listener = signed_in(actors["listener"])
    l_first = measure(listener, "/", rows=listing.PAGE_SIZE)
    l_deep = measure(
        listener, f"/?after={cursor_at(actors['listener'], 100)}", htmx=True, rows=listing.PAGE_SIZE
    )
    lines = [
        "through gunicorn (2 sync workers, Unix socket, production settings)"
        if server is not None
        else "through Django's test client (--test-client)",
        f"heavy user's live recordings: {mine} ({last_page + 1} pages of {listing.PAGE_SIZE})",
        f"(a) home page                       {summary(first)}",
        f"(b) next page, {depth} pages deep      {summary(deep)}",
        f"    next page, the last ({last_page})     {summary(last)}",
        f"(c) listener home page              {summary(l_first)}",
        f"    listener next page, 100 deep    {summary(l_deep)}",
        f"(d) baseline: GET /healthz          {summary(floor)}",
    ]
    ok = all(percentile(t, 95) < HOME_TARGET_MS for t in (first, deep, last, l_first, l_deep))
    lines.append(f"target p95 < {HOME_TARGET_MS:.0f} ms for (a), (b), (c): {'met' if ok else 'MISSED'}")
    return ok, lines


# --- streaming --------------------------------------------------------------------------------

WSGI_WRAPPER = '''
"""The bench's WSGI app: /direct/ serves the file bare (the baseline); the rest is the portal."""
import os
from wsgiref.util import FileWrapper

from hiprecorder.wsgi import application as portal

PATH = os.environ["BENCH_FILE"]


def application(environ, start_response):
    if environ["PATH_INFO"] != "/direct/file":
        return portal(environ, start_response)
    size = os.path.getsize(PATH)
    rng = environ.get("HTTP_RANGE", "")
    first, last = 0, size - 1
    status = "200 OK"
    headers = [("Content-Type", "audio/mpeg")]
    if rng.startswith("bytes="):
        a, _, b = rng[6:].partition("-")
        first = int(a)
        last = min(int(b), size - 1) if b else size - 1
        status = "206 Partial Content"
        headers.append(("Content-Range", f"bytes {first}-{last}/{size}"))
    headers.append(("Content-Length", str(last - first + 1)))
    fh = open(PATH, "rb")
    fh.seek(first)
    start_response(status, headers)
    wrapper = environ.get("wsgi.file_wrapper", FileWrapper)
    return wrapper(fh, 65536)
'''


def bench_streaming(
    actors: dict[str, object], file_kb: int, plays: int, ranges: int, proxy: bool = False
) -> tuple[bool, list[str]]:
    from django.core.files.base import ContentFile
    from django.core.files.storage import storages
    from django.test import Client
    from django.utils import timezone

    from recordings import streaming
    from recordings.models import PlaybackAccess, Recording
    from tenants.scoping import tenant_scope

    storage = storages["recordings"]
    on_s3 = not hasattr(storage, "path") or os.environ.get("AWS_STORAGE_BUCKET_NAME")
    data = os.urandom(file_kb * 1024)  # content does not matter to the byte path
    key = storage.save(f"bench/{secrets.token_hex(4)}.mp3", ContentFile(data))
    bare = Path(tempfile.mkdtemp(prefix="bench-portal-file-")) / "file.mp3"
    bare.write_bytes(data)  # the bare route's copy, on local disk
    now = timezone.now()
    with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
        rec = Recording.objects.create(
            owner=actors["heavy"],
            kind="playback",
            direction="inbound",
            leg="mobile",
            remote_number="+31600000000",
            started_at=now,
            ended_at=now,
            duration_ms=file_kb * 1024 * 60_000 // (180 * 1000),
            storage_key=key,
            mime="audio/mpeg",
            size_bytes=len(data),
            saved=True,
        )
    browser = Client()
    browser.force_login(actors["heavy"])  # type: ignore[arg-type]
    session = browser.cookies["sessionid"].value
    wrapper_dir = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    (wrapper_dir / "bench_wsgi.py").write_text(WSGI_WRAPPER)
    env = production_env(
        {"BENCH_FILE": str(bare), "PYTHONPATH": f"{wrapper_dir}:{ROOT}", "DATA_DIR": os.environ["DATA_DIR"]}
    )
    if proxy:
        env["STREAM_X_ACCEL_PREFIX"] = "/_recordings"
    server = Server(env, app="bench_wsgi:application")
    front: Server | Proxy = server
    if proxy:  # nginx serves both: the bare file directly, the recording after the application's answer
        front = Proxy(server, storage.path(""), files={"/direct/file": str(bare)})
    portal = front.client(cookie=f"sessionid={session}")
    direct = front.client()

    def new_url() -> str:  # a new playback: the player page's signed URL, bound to the session
        token = streaming.issue_stream_token(user=actors["heavy"], recording=rec, session_key=session)  # type: ignore[arg-type]
        return f"/r/{rec.pk}/audio?t={token}"

    def accesses() -> int:
        with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
            return PlaybackAccess.objects.filter(recording=rec).count()

    try:
        status, first_ms, _all_ms, size = portal.timed_first_byte(new_url(), {"Range": "bytes=0-"})
        assert (status, size) == (206, len(data)), (status, size)
        # (e) new playbacks, back to back (no pause: the access row is written before the first
        # byte, the audit entry after the last); each against the bare route next to it.
        first_bytes, totals, bare_totals, rows_before_byte = [], [], [], 0
        before = accesses()
        for n in range(plays + 10):
            url = new_url()
            if n % 2:
                _s, _bf, b_all, _n = direct.timed_first_byte("/direct/file", {"Range": "bytes=0-"})
            status, first_ms, all_ms, size = portal.timed_first_byte(
                url, {"Range": "bytes=0-"}, at_first_byte=accesses if n < 20 else None
            )
            if not n % 2:
                _s, _bf, b_all, _n = direct.timed_first_byte("/direct/file", {"Range": "bytes=0-"})
            assert (status, size) == (206, len(data)), (status, size)
            if n < 20:
                rows_before_byte += portal.seen_at_first_byte == before + n + 1
            if n >= 10:
                first_bytes.append(first_ms)
                totals.append(all_ms)
                bare_totals.append(b_all)
        written = accesses() - before
        # (f) one playback seeking: 64 KiB ranges on one URL, each against the bare route.
        url = new_url()
        portal.timed_first_byte(url, {"Range": "bytes=0-0"})
        rnd = random.Random(7)
        seek_ratios, seek_ms = [], []
        for n in range(ranges + 10):
            first = rnd.randrange(0, max(1, len(data) - 65536))
            rng = {"Range": f"bytes={first}-{first + 65535}"}
            _s1, _f1, auth_ms, n1 = portal.timed_first_byte(url, rng)
            _s2, _f2, bare_ms, n2 = direct.timed_first_byte("/direct/file", rng)
            assert n1 == n2 == min(65536, len(data) - first)
            if n >= 10:
                seek_ratios.append(bare_ms / auth_ms)
                seek_ms.append(auth_ms)
    finally:
        if front is not server:
            front.stop()
        server.stop()
        storage.delete(key)
        with tenant_scope(actors["tenant"]):  # type: ignore[arg-type]
            Recording.objects.filter(pk=rec.pk).delete()

    first_target = FIRST_BYTE_S3_MS if on_s3 else FIRST_BYTE_DISK_MS
    per_core = len(totals) / (sum(totals) / 1000)  # one request at a time: one core's work
    seek_ratio = statistics.median(seek_ratios)
    ok = (
        percentile(first_bytes, 95) < first_target
        and per_core >= NEW_PLAYBACKS_PER_CORE
        and seek_ratio >= SEEK_TARGET
        and written == plays + 10
        and rows_before_byte == 20
    )
    where = "S3" if on_s3 else "disk"
    lines = [
        f"file: {file_kb} KiB ({file_kb * 1024 // (180 * 1000)} min at 180 KB/min) on {where}; "
        "gunicorn 2 sync workers, Unix socket, production settings; no pauses"
        + ("; behind nginx (X-Accel-Redirect), the bare route served by nginx" if proxy else ""),
        f"(e) new playback, first byte   {summary(first_bytes)}  target p95 < {first_target:.0f} ms",
        f"    new playback, whole file   {summary(totals)}",
        f"    bare route, whole file     {summary(bare_totals)}",
        f"    new playbacks per second on one core: {per_core:,.0f} (target >= {NEW_PLAYBACKS_PER_CORE})",
        f"    access rows written: {written} for {plays + 10} playbacks; seen before the first byte in"
        f" {rows_before_byte} of 20 checked",
        f"(f) seek, 64 KiB, authorised   {summary(seek_ms)}",
        f"    seeks at {seek_ratio:.1%} of the bare route's speed (median of paired ratios; target >= "
        f"{SEEK_TARGET:.0%})",
        "targets: " + ("met" if ok else "MISSED"),
    ]
    return ok, lines


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recordings", type=int, default=1_500_000)
    parser.add_argument("--heavy", type=int, default=200_000)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--depth", type=int, default=1000)
    parser.add_argument("--file-kb", type=int, default=1080, help="the recording (1080 KiB: a 6-minute call)")
    parser.add_argument("--plays", type=int, default=200, help="new playbacks measured")
    parser.add_argument("--ranges", type=int, default=500)
    parser.add_argument("--s3", action="store_true", help="stream from the S3 settings (AWS_*), not disk")
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="behind nginx: the application answers X-Accel-Redirect and nginx serves the bytes (disk)",
    )
    parser.add_argument("--skip-home", action="store_true", help="measure only the streaming part")
    parser.add_argument("--skip-streaming", action="store_true", help="measure only the home list")
    parser.add_argument(
        "--test-client", action="store_true", help="home list through Django's test client, not gunicorn"
    )
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = bench_database_url("bench_portal")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))  # shared with gunicorn
    os.environ.setdefault("DATA_DIR", tempfile.mkdtemp(prefix="bench-portal-data-"))
    if args.s3 and args.proxy:
        parser.error("--proxy serves the recordings folder on disk; it does not go with --s3")
    if not args.s3:
        os.environ.pop("AWS_STORAGE_BUCKET_NAME", None)  # streaming from disk: the embedded default
    import django

    django.setup()
    from bench_api import fill
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    setup_test_environment()
    call_command("migrate", verbosity=0)
    actors = fill(total=args.recordings, heavy=args.heavy)
    home_ok = stream_ok = True
    if not args.skip_home:
        server = None if args.test_client else Server(production_env({"DATA_DIR": os.environ["DATA_DIR"]}))
        try:
            home_ok, home_lines = bench_home(actors, args.requests, args.depth, server)
        finally:
            if server is not None:
                server.stop()
        print("\n".join(home_lines), flush=True)
    if not args.skip_streaming:
        stream_ok, stream_lines = bench_streaming(actors, args.file_kb, args.plays, args.ranges, args.proxy)
        print("\n".join(stream_lines))
    return 0 if home_ok and stream_ok else 1


if __name__ == "__main__":
    sys.exit(main())
