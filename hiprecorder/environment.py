"""Reading the settings' environment: each helper parses one variable and stops start-up with
``ImproperlyConfigured`` naming it when its value is malformed (``hiprecorder.settings`` uses
them; they import nothing of Django's configuration, so settings can)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, name: str = "DATABASE_URL") -> dict[str, object]:
    """Parse ``postgres://user:pass@host:port/db?opt=v`` or ``sqlite:///path`` into a DATABASES entry."""
    parts = urlsplit(url)
    if parts.scheme in {"postgres", "postgresql", "pgsql"}:
        if not parts.path.strip("/"):
            raise ImproperlyConfigured(f"{name} names no database: {url!r}")
        try:
            port = parts.port
        except ValueError:
            raise ImproperlyConfigured(f"{name} has a malformed port: {url!r}") from None
        options = dict(parse_qsl(parts.query))
        # No JIT compilation for our sessions: it starts above a cost estimate, and the lists'
        # per-row checks (a walk of an index testing each row's transcript, the per-owner merge)
        # are estimated far above it while they stop after a page. Compiling their expressions
        # cost 40-80 ms of a search that runs in 5-40 ms (bench/bench_transcript_search.py). An
        # ``options`` in the URL comes after, so a deployment can still turn it on.
        options["options"] = f"-c jit=off {options.get('options', '')}".strip()
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(parts.path.lstrip("/")),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": parts.hostname or "",
            "PORT": str(port or ""),
            "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": options,
        }
    if parts.scheme == "sqlite":
        path = unquote(parts.path)
        if path.startswith("//"):  # sqlite:////abs/path
            path = path[1:]
        elif path.startswith("/") and parts.netloc == "":  # sqlite:///relative
            path = path[1:] if not Path(path).is_absolute() else path
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": path or ":memory:"}
    raise ImproperlyConfigured(f"{name} must start with postgres:// or sqlite:///, got {url!r}")


_SEAL_KEY_ID = re.compile(r"[A-Za-z0-9._-]{1,32}")


def audit_seal_keys(name: str, raw: str) -> dict[str, str]:
    """Parse ``id:secret[,id:secret...]``; a malformed entry names the variable and stops start-up."""
    keys: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key_id, sep, secret = item.partition(":")
        if not sep or not _SEAL_KEY_ID.fullmatch(key_id):
            raise ImproperlyConfigured(
                f"{name} must be <key id>:<secret> (id: 1-32 of A-Z a-z 0-9 . _ -), comma-separated"
            )
        if len(secret) < 32:
            raise ImproperlyConfigured(f"{name}: the secret of key {key_id!r} must be at least 32 characters")
        if key_id in keys:
            raise ImproperlyConfigured(f"{name}: key id {key_id!r} appears twice")
        keys[key_id] = secret
    return keys


def s3_transfer_config(part_mb: int) -> object:
    """One part in memory at a time. boto3's default transfer reads up to ten 8 MiB parts into
    memory at once in threads of its own: a 2-hour upload grew the telephony process by ~110 MB,
    so a few long calls at once would exhaust it. Parts one after another keep each upload in
    flight to one part's worth of memory; many calls upload at once anyway."""
    from boto3.s3.transfer import TransferConfig

    part = part_mb * 1024 * 1024
    return TransferConfig(multipart_threshold=part, multipart_chunksize=part, use_threads=False)
