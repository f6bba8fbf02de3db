"""What the benchmarks share: their own PostgreSQL database beside the services' one, and the
percentiles they print."""

from __future__ import annotations

import os
import statistics
import sys
from urllib.parse import urlsplit, urlunsplit

NEEDS_POSTGRES = "Set DATABASE_URL to a PostgreSQL server (scripts/services.sh start DIR; . DIR/env.sh)"


def bench_database_url(suffix: str, missing: str = NEEDS_POSTGRES) -> str:
    """``DATABASE_URL`` with its database name ending in ``_<suffix>``, created if missing (each
    benchmark keeps its own loaded database for the next run); exits with ``missing`` when
    ``DATABASE_URL`` is not PostgreSQL."""
    parts = urlsplit(os.environ.get("DATABASE_URL", ""))
    if not parts.scheme.startswith("postgres"):
        sys.exit(missing)
    name = f"{parts.path.lstrip('/')}_{suffix}"
    import psycopg

    admin = urlunsplit(parts._replace(path="/postgres", scheme="postgresql"))
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
            conn.execute(f'create database "{name}"')
        off = [setting for setting in DURABILITY if conn.execute(f"show {setting}").fetchone()[0] == "off"]
    print(
        f"PostgreSQL durability: OFF ({', '.join(off)}), not production's configuration; "
        f'start the services with PG_OPTIONS="{DURABLE}"'
        if off
        else "PostgreSQL durability: on, as production runs",
        flush=True,
    )
    return urlunsplit(parts._replace(path="/" + name))


DURABILITY = ("fsync", "synchronous_commit", "full_page_writes")
# scripts/services.sh starts the tests' server without them; the benchmarks want production's.
DURABLE = " ".join(f"-c {setting}=on" for setting in DURABILITY)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    """p50, p95, p99 and max of ``values`` (milliseconds), and how many."""
    return (
        f"p50 {statistics.median(values):6.2f} ms  p95 {percentile(values, 95):6.2f} ms  "
        f"p99 {percentile(values, 99):6.2f} ms  max {max(values):6.2f} ms  (n={len(values)})"
    )
