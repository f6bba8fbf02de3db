"""Benchmark of the search in what was said (recordings.transcripts.search), PostgreSQL by default.

    . /tmp/svc-x/env.sh && python bench/bench_transcript_search.py [--transcripts 1500000]
                                 [--heavy 500000] [--requests 40] [--sqlite] [--explain]

PostgreSQL (default): works in its own database ``<DATABASE_URL name>_bench_transcripts``
(created, migrated and filled once; kept for the next runs). ``--sqlite``: the embedded default's
FTS5 index instead, in ``var/bench_transcripts.sqlite3`` (filled once the same way).

Rows: one Dutch tenant with ``--transcripts`` recordings, each with a transcript of synthetic
Dutch text of a realistic length (log-normal, median 150 words, 20 to 1,200: a call of one to
eight minutes of speech), words drawn with Zipf's law from about 300 common words of Dutch calls
and a long tail of 40,000 made-up Dutch-like words, so every frequency of word is there. The
recordings of ``--heavy`` belong to one Playback user, the rest to 100 colleagues; a listener
listens to a team of 20 of them. Bulk-loaded: recordings with INSERT … SELECT generate_series,
transcripts with COPY (the vector trigger fills the vectors; the GIN index is built after the
load, as a restore would).

Measured, ``--requests`` times each after a warm-up, in-process (the list's query, the
snippets' query and splitting them, as the home view and the API list run them; no HTTP, no
template, no access log): a search of the heavy user and of the listener for words of every
band of frequency (in most transcripts, in about one in ten, in one in a thousand, in a handful,
in none) and two words together. Baseline in the same run: the same user's first page without a
search. ``--explain`` prints EXPLAIN ANALYZE of the list's query for a rare and a common word.

Target: p95 < 50 ms over all searches. Exits 1 when missed.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from measure import bench_database_url, percentile, summary

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

TARGET_MS = 50.0
SEED = 17

COMMON = """
ik je u de het een en van dat is in niet te op met voor die wat er maar zijn ja nee dan we wij
ze hij zij dit al ook nog wel om naar kan kunt wil wilt moet mag heb hebt heeft hebben was
waren ben bent zou zal gaan ga gaat doen doe doet kijken even goed prima precies oké inderdaad
natuurlijk graag dank bedankt alstublieft goedemiddag goedemorgen goedenavond dag tot ziens
fijne middag klantenservice spreekt u met waarmee kan ik helpen vraag vragen over factuur
rekening betaling bedrag euro klant klantnummer nummer adres postcode huisnummer telefoon
telefoonnummer mobiel email mail brief contract abonnement opzeggen opzegging verlengen
wijzigen aanpassen bestelling levering pakket bezorging retour terugbetaling storing monteur
afspraak morgen vandaag gisteren volgende week maand jaar uur minuut moment momentje wacht
blijf lijn collega doorverbinden terugbellen mevrouw meneer naam achternaam geboortedatum
controleren gegevens kloppen klopt correct fout probleem klacht opgelost oplossen status
systeem internet verbinding wifi modem router televisie signaal netwerk toestel app website
inloggen wachtwoord account code korting aanbieding prijs tarief kosten gratis duur betaald
openstaand herinnering incasso machtiging termijn regeling schuld achterstand verhuizing
verhuizen nieuw oud huidige laatste eerste tweede derde sturen gestuurd ontvangen krijgen
gekregen zien gezien weten weet denk denken begrijp begrijpen snap helaas jammer vervelend
excuses sorry zeker absoluut misschien waarschijnlijk ongeveer alleen samen allemaal iets niets
alles iemand niemand hier daar waar wanneer waarom hoe hoeveel welke omdat want als zodat
""".split()  # noqa: SIM905 (a word list)
SYLLABLES_START = """
ver be ge ont her aan af op uit in door over mee na om toe weg bij
""".split()  # noqa: SIM905 (a word list)
SYLLABLES_MID = """
zoem sluit schrijf leg stel zet houd draai breek bouw werk reken meld koppel dek pak plak
schuif boek stroom kabel licht sein kast deur raam tuin fiets auto trein lamp klok vloer muur
dak pomp buis draad knop schakel meter slot sleutel bel stuur wissel vraag plan pas kaart brand
gas water warmte zon wind spaar bank polis dossier
""".split()  # noqa: SIM905 (a word list)
SYLLABLES_END = """
ing en er te heid baar lijk tje je s ster schap dom loos zaam ig isch
""".split()  # noqa: SIM905 (a word list)
ABSENT = "xylofoonreparatiedienst"


def vocabulary(rng: random.Random) -> tuple[list[str], list[str]]:
    """The common words first (most frequent), then the made-up tail in a fixed random order; and
    1,000 rare words (each put in about one transcript in a million)."""
    tail = {
        a + b + c + (d if n % 3 == 0 else "")
        for n, (a, b, c, d) in enumerate(
            (s, m, e, m2)
            for s in SYLLABLES_START
            for m in SYLLABLES_MID
            for e in SYLLABLES_END
            for m2 in ("", "kast", "huis", "plan", "punt")
        )
    }
    ordered = sorted(tail - set(COMMON))
    rng.shuffle(ordered)
    return list(dict.fromkeys(COMMON)) + ordered[:40_000], ordered[40_000:41_000]


ZIPF = 1.1
MEDIAN_WORDS = 150
POOL_WORDS = 2_000_000


class Texts:
    """Transcript texts: log-normal lengths, Zipf-distributed words (exponent :data:`ZIPF`)."""

    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.words, self.rare = vocabulary(random.Random(SEED))
        weights = [1.0 / (rank + 1) ** ZIPF for rank in range(len(self.words))]
        self.share = [w / sum(weights) for w in weights]
        self._pool: list[str] = []
        total, running = sum(weights), 0.0
        self.cumulative = []
        for w in weights:
            running += w / total
            self.cumulative.append(running)

    def length(self) -> int:
        return max(20, min(1200, int(self.rng.lognormvariate(math.log(MEDIAN_WORDS), 0.6))))

    def sentences(self) -> list[str]:
        """A pool of sentences (5 to 16 words each) that texts are drawn from: drawing every word
        apart made the load wait for Python."""
        if not self._pool:
            words = self.rng.choices(self.words, cum_weights=self.cumulative, k=POOL_WORDS)
            at = 0
            while at < len(words):
                size = self.rng.randint(5, 16)
                sentence = " ".join(words[at : at + size])
                self._pool.append(sentence[:1].upper() + sentence[1:] + self.rng.choice(".?.,"))
                at += size
        return self._pool

    def text(self) -> str:
        pool, wanted, out, count = self.sentences(), self.length(), [], 0
        while count < wanted:
            sentence = pool[self.rng.randrange(len(pool))]
            out.append(sentence)
            count += sentence.count(" ") + 1
        if self.rng.random() < 0.001:  # about 1.5 transcripts in 1.5 M per rare word
            out.insert(self.rng.randrange(len(out) + 1), f"{self.rng.choice(self.rare).capitalize()}.")
        return " ".join(out)

    def word_of_rank(self, rank: int) -> str:
        return self.words[rank]

    def word_in(self, fraction: float, skip: int = 0) -> str:
        """A word expected in about ``fraction`` of the transcripts (the ``skip``-th such)."""
        for rank, share in enumerate(self.share):
            if 1 - (1 - share) ** MEDIAN_WORDS <= fraction:
                return self.words[min(len(self.words) - 1, rank + skip * 7)]
        return self.words[-1 - skip]


def actors(heavy: int) -> dict[str, Any]:
    from django.db import transaction

    from tenants import services
    from tenants.models import ProcessingRegister, Role, Tenant, User
    from tenants.scoping import tenant_scope

    tenant = Tenant.objects.filter(slug="bench").first()
    if tenant is None:
        with transaction.atomic():
            tenant = services.create_tenant(name="Bench BV", slug="bench")
            with tenant_scope(tenant):
                ProcessingRegister.objects.create(
                    tenant=tenant,
                    purpose="Benchmark.",
                    legitimate_interest="Benchmark data only.",
                    transcription_purpose="Benchmark.",
                )
            Tenant.objects.filter(pk=tenant.pk).update(transcription_enabled=True, language="nl")
            heavy_user = services.create_user(tenant=tenant, username="heavy", password="x" * 20, pbx_id="1")
            services.set_playback_subscription(user=heavy_user, tier="days_90")
            listener = services.create_user(
                tenant=tenant, username="listener", password="x" * 20, role=Role.LISTENER, pbx_id="2"
            )
            others = []
            for n in range(100):
                user = services.create_user(
                    tenant=tenant, username=f"u{n}", password="x" * 20, pbx_id=str(100 + n)
                )
                services.set_licence(user=user, mode="always")
                others.append(user)
            services.create_team(tenant=tenant, name="Team", members=others[:20], listeners=[listener])
    tenant.refresh_from_db()
    return {
        "tenant": tenant,
        "heavy": User.objects.get(username="heavy", tenant=tenant),
        "listener": User.objects.get(username="listener", tenant=tenant),
        "others": list(User.objects.filter(tenant=tenant, username__startswith="u").order_by("username")),
    }


REC_JSON = ("peaks", "paused_spans", "segments")
TR_COLUMNS = ["id", "tenant_id", "recording_id", "language", "model_name", "text", "segments"]
TR_COLUMNS += ["redactions", "audio_ms", "elapsed_ms", "created_at"]
BATCH = 20_000


def _rows(job: dict[str, Any], chunk: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The recordings and transcripts of one chunk (deterministic: seeded by the chunk)."""
    from datetime import UTC, datetime, timedelta

    texts = job["texts"]
    texts.rng = random.Random(SEED + chunk)
    rng = random.Random(SEED * 1_000_003 + chunk)
    postgres = job["postgres"]

    def db(value: uuid.UUID) -> Any:
        return value if postgres else value.hex

    recs, trs = [], []
    for n in range(chunk * BATCH, min(job["total"], (chunk + 1) * BATCH)):
        heavy = rng.random() < job["heavy"] / job["total"]
        owner = job["heavy_id"] if heavy else job["others"][n % len(job["others"])]
        started_at = datetime.fromtimestamp(job["now"] - n * 21, tz=UTC)
        pk = uuid.uuid4()
        values = {
            **job["defaults"],
            "id": db(pk),
            "tenant_id": db(job["tenant_id"]),
            "owner_id": db(owner),
            "call_id": None,
            "kind": "playback" if heavy else "standard",
            "direction": "inbound" if n % 2 else "outbound",
            "leg": "mobile",
            "local_number": "+31201234567",
            "remote_number": f"+316{n % 100_000_000:08d}",
            "started_at": started_at,
            "ended_at": started_at + timedelta(minutes=3),
            "duration_ms": 180_000,
            "saved": True,
            "created_at": started_at,
            "deleted_at": None,
            **dict.fromkeys(REC_JSON, "[]"),
        }
        recs.append(tuple(values[c] for c in job["rec_columns"]))
        trs.append(
            (
                db(uuid.uuid4()),
                db(job["tenant_id"]),
                db(pk),
                "nl",
                "bench",
                texts.text(),
                "[]",
                0,
                180_000,
                0,
                started_at,
            )
        )
    return recs, trs


def _copy_chunk(job: dict[str, Any], chunk: int) -> int:
    import psycopg

    recs, trs = _rows(job, chunk)
    with psycopg.connect(job["dsn"]) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY recordings_recording ({', '.join(job['rec_columns'])}) FROM STDIN") as copy:
            for row in recs:
                copy.write_row(row)
        with cur.copy(f"COPY recordings_transcript ({', '.join(TR_COLUMNS)}) FROM STDIN") as copy:
            for row in trs:
                copy.write_row(row)
    return len(recs)


def _copy_worker(args: tuple[dict[str, Any], int]) -> int:
    return _copy_chunk(*args)


def fill(people: dict[str, Any], *, total: int, heavy: int, workers: int, texts: Texts) -> None:
    """Once: ``total`` recordings and their transcripts (PostgreSQL: COPY, ``workers`` at once)."""
    import multiprocessing

    from django.db import connection

    from recordings.models import Recording
    from recordings.transcripts.models import Transcript
    from tenants.scoping import tenant_scope

    tenant = people["tenant"]
    with tenant_scope(tenant):
        have = Transcript.objects.count()
    if have >= total:
        return
    if have:
        sys.exit(f"the bench database holds {have} transcripts, not {total}: drop it and start again")
    print(f"filling {total} recordings with transcripts (once) …", flush=True)
    texts.sentences()  # drawn once, before the workers fork
    started = time.perf_counter()
    postgres = connection.vendor == "postgresql"
    fields = Recording._meta.concrete_fields
    job = {
        "postgres": postgres,
        "total": total,
        "heavy": heavy,
        "heavy_id": people["heavy"].pk,
        "others": [user.pk for user in people["others"]],
        "tenant_id": tenant.pk,
        "now": time.time(),
        "rec_columns": [f.column for f in fields],
        "defaults": {f.column: f.get_default() for f in fields if f.column not in REC_JSON},
        "texts": texts,
    }
    chunks = range(math.ceil(total / BATCH))
    if postgres:
        settings = connection.settings_dict
        job["dsn"] = (
            f"host={settings['HOST']} port={settings['PORT']} dbname={settings['NAME']} "
            f"user={settings['USER']} password={settings['PASSWORD'] or ''}"
        )
        with connection.cursor() as cursor:  # built after the load, as a restore does
            cursor.execute("DROP INDEX IF EXISTS recordings_transcript_search")
        connection.close()
        done = 0
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for count in pool.imap_unordered(_copy_worker, [(job, c) for c in chunks]):
                done += count
                print(f"  {done}/{total} ({done / (time.perf_counter() - started):.0f}/s)", flush=True)
        print("building the GIN index …", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '1GB'")
            cursor.execute(
                "CREATE INDEX recordings_transcript_search ON recordings_transcript USING gin (search_vector)"
            )
            cursor.execute("VACUUM ANALYZE recordings_recording")
            cursor.execute("VACUUM ANALYZE recordings_transcript")
    else:
        rec_columns = job["rec_columns"]
        for chunk in chunks:
            recs, trs = _rows(job, chunk)
            with connection.cursor() as cursor:
                marks = ", ".join(["%s"] * len(rec_columns))
                cursor.executemany(
                    f"INSERT INTO recordings_recording ({', '.join(rec_columns)}) VALUES ({marks})",  # noqa: S608
                    recs,
                )
                marks = ", ".join(["%s"] * len(TR_COLUMNS))
                cursor.executemany(
                    f"INSERT INTO recordings_transcript ({', '.join(TR_COLUMNS)}) VALUES ({marks})",  # noqa: S608
                    trs,
                )
            done = min(total, (chunk + 1) * BATCH)
            print(f"  {done}/{total} ({done / (time.perf_counter() - started):.0f}/s)", flush=True)
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--transcripts", type=int, default=1_500_000)
    parser.add_argument("--heavy", type=int, default=500_000)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--sqlite", action="store_true", help="the embedded default's FTS5 index")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE of the list's query")
    parser.add_argument("--workers", type=int, default=2, help="processes loading with COPY (once)")
    args = parser.parse_args()

    if args.sqlite:
        os.environ.pop("DATABASE_URL", None)
        folder = HERE.parent / "var" / "bench_transcripts"
        folder.mkdir(parents=True, exist_ok=True)
        os.environ["DATA_DIR"] = str(folder)
    else:
        os.environ["DATABASE_URL"] = bench_database_url("bench_transcripts")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hiprecorder.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    texts = Texts()
    people = actors(args.heavy)
    fill(people, total=args.transcripts, heavy=args.heavy, workers=args.workers, texts=texts)

    from recordings import listing
    from recordings.transcripts import search
    from tenants.scoping import tenant_scope

    tenant = people["tenant"]
    # Queries of every band of frequency (the share of transcripts expected to hold the word; a
    # word is searched as a prefix of its stem, so it matches more: counted and printed).
    queries = {
        "1 in 2": [texts.word_in(0.5, k) for k in range(3)],
        "1 in 10": [texts.word_in(0.1, k) for k in range(3)],
        "1 in 1,000": [texts.word_in(0.001, k) for k in range(3)],
        "1 in 10⁵": [texts.word_in(0.00001, k) for k in range(3)],
        "a handful": texts.rare[:3],
        "none": [ABSENT],
        "two words": [
            f"{texts.word_in(0.1)} {texts.word_in(0.5)}",
            f"{texts.word_in(0.5)} {texts.word_in(0.001)}",
        ],
    }

    def search_page(user: Any, q: str) -> tuple[int, int]:
        members = listing.team_members(user)
        member_ids = [m.pk for m in members]
        filters = listing.parse_filters({"q": q}, allowed_people=member_ids)
        qs = listing.apply_filters(listing.visible_queryset(user, member_ids), filters, user)
        rows, _cursor = listing.page(
            qs, owners=listing.candidate_owners(user, member_ids, filters), viewer=user, people=members
        )
        found = search.snippets(q, language=tenant.language, recording_ids=[r.pk for r in rows]) if q else {}
        return len(rows), len(found)

    def measure(user: Any, q: str) -> tuple[list[float], tuple[int, int]]:
        times, result = [], (0, 0)
        for n in range(args.requests + 3):
            t0 = time.perf_counter()
            result = search_page(user, q)
            if n >= 3:
                times.append((time.perf_counter() - t0) * 1000)
        return times, result

    counted: dict[str, int] = {}

    def matching(q: str) -> int:
        """How many of the tenant's transcripts hold the words (every word as a prefix)."""
        if q not in counted:
            counted[q] = search.transcripts_matching(q, language=tenant.language).count()
        return counted[q]

    all_times: list[float] = []
    with tenant_scope(tenant):
        from recordings.transcripts.models import Transcript

        print(f"\n{connection.vendor}; transcripts in the tenant: {Transcript.objects.count()}")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT avg(length(text)), avg(array_length(regexp_split_to_array(text, ' '), 1)) "
                    "FROM (SELECT text FROM recordings_transcript TABLESAMPLE SYSTEM (1)) s"
                )
                chars, words = cursor.fetchone()
                print(
                    f"text per transcript (1% sample): {chars:.0f} characters, {words:.0f} words on average"
                )
        for who in ("heavy", "listener"):
            user = people[who]
            base, _ = measure(user, "")
            print(f"\n{who}: baseline, first page without a search  {summary(base)}")
            for band, words in queries.items():
                for q in words:
                    times, (rows, snips) = measure(user, q)
                    all_times += times
                    print(
                        f"  {band:10} {q!r:34} {summary(times)}  rows {rows}, snippets {snips}, "
                        f"transcripts matching {matching(q)}"
                    )
        if args.explain:
            explain(people, texts)
    p95 = percentile(all_times, 95)
    ok = p95 < TARGET_MS
    print(f"\nall searches: {summary(all_times)}")
    print(f"load average: {os.getloadavg()}")
    print(f"target p95 < {TARGET_MS:.0f} ms: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


def explain(people: dict[str, Any], texts: Texts) -> None:
    from django.db import connection

    from recordings import listing

    cases = (("heavy", texts.rare[0]), ("heavy", texts.word_in(0.1)), ("listener", texts.word_in(0.001)))
    for who, q in cases:
        user = people[who]
        members = listing.team_members(user)
        member_ids = [m.pk for m in members]
        filters = listing.parse_filters({"q": q}, allowed_people=member_ids)
        qs = listing.apply_filters(listing.visible_queryset(user, member_ids), filters, user)
        qs = qs.order_by("-started_at", "-id")[:26]
        sql, params = qs.query.sql_with_params()
        print(f"\nEXPLAIN ANALYZE, {who}, q={q!r}")
        with connection.cursor() as cursor:
            prefix = (
                "EXPLAIN (ANALYZE, BUFFERS) " if connection.vendor == "postgresql" else "EXPLAIN QUERY PLAN "
            )
            cursor.execute(prefix + sql, params)
            for line in cursor.fetchall():
                print("   ", " ".join(str(x) for x in line))


if __name__ == "__main__":
    sys.exit(main())
