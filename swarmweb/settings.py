"""SwarmWeb settings. Everything configurable comes from the environment (see README).

Defaults run with nothing configured: SQLite under var/, Redis on localhost.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url

from celery_worker.queues import CONTROL, beat_schedule, task_queues, task_routes

from .env import env_bool, env_int, env_list, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SWARMWEB_VAR_DIR", str(BASE_DIR / "var")))

DEV_SECRET_KEY = "swarmweb-dev-only-secret-key-change-me-in-production"
SECRET_KEY = env_str("SECRET_KEY", DEV_SECRET_KEY)  # a system check warns while this is the default
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "apps.core",
    "apps.agents",
    "apps.swarms",
    "apps.runs",
    "apps.memory",
    "apps.learning",
    "apps.tools",
    "apps.arena",
    "apps.dashboard",
    "apps.api",
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
]

ROOT_URLCONF = "swarmweb.urls"
ASGI_APPLICATION = "swarmweb.asgi.application"

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

# ---- database ---------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'swarmweb.sqlite3'}")
_db = dj_database_url.parse(
    DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    Path(_db["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Writers queue up instead of failing with "database is locked"; WAL lets
    # readers (the dashboard) run while a worker writes.
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=30000;",
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ---- redis, celery, channels ---------------------------------------------

REDIS_URL = env_url("REDIS_URL", "redis://127.0.0.1:6379/0", schemes=("redis", "rediss", "unix"))

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# Tasks are idempotent (steps are claimed atomically), so late acks are safe
# and a worker that dies mid-step leaves its message for another worker.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# Connections are recycled by swarmweb.celery (CONN_MAX_AGE), not closed after every task.
CELERY_DB_REUSE_MAX = 1_000_000
CELERY_TASK_QUEUES = task_queues()
CELERY_TASK_ROUTES = task_routes()
CELERY_TASK_DEFAULT_QUEUE = CONTROL
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60)}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNELS_PREFIX", "swarmweb")},
    }
}

# ---- run engine ------------------------------------------------------------

SWARMWEB = {
    # A claimed step must finish or renew within this time, else the sweeper re-queues it.
    "STEP_LEASE_SECONDS": env_int("STEP_LEASE_SECONDS", 300, minimum=5),
    # How often the sweeper looks for lost work.
    "SWEEP_INTERVAL_SECONDS": env_int("SWEEP_INTERVAL_SECONDS", 15, minimum=1),
    # A queued step or run not picked up within this time is dispatched again.
    "REDISPATCH_AFTER_SECONDS": env_int("REDISPATCH_AFTER_SECONDS", 60, minimum=1),
    # How many times a step is attempted when its worker disappears.
    "STEP_MAX_ATTEMPTS": env_int("STEP_MAX_ATTEMPTS", 3, minimum=1),
    # Timeout handed to providers for one step.
    "STEP_TIMEOUT_SECONDS": env_int("STEP_TIMEOUT_SECONDS", 120, minimum=1),
    # Steps queued together (a wide fan-out) travel to a worker in batches of at most this many.
    "STEP_BATCH_SIZE": env_int("STEP_BATCH_SIZE", 256, minimum=1),
    # Agent calls one step worker process waits on at once (its agent-call pool; see README).
    "AGENT_CALLS_PER_WORKER": env_int("AGENT_CALLS_PER_WORKER", 256, minimum=1),
    # Of those, how many may use the database at once (a tool, memory recall): each holds a
    # connection only for that moment, so PostgreSQL's connection limit is never reached.
    "AGENT_CALL_DB_CONNECTIONS": env_int("AGENT_CALL_DB_CONNECTIONS", 8, minimum=1),
    # Room history (messages) an agent sees on a step.
    "HISTORY_MESSAGES": env_int("HISTORY_MESSAGES", 50, minimum=0),
    # How deep swarms of swarms may nest at run time (a top-level run is depth 0).
    "MAX_RUN_NESTING": env_int("MAX_RUN_NESTING", 3, minimum=0),
    # Deepest level an agent hierarchy may reach (the board is level 0).
    "MAX_DEPTH": env_int("MAX_HIERARCHY_DEPTH", 4, minimum=1),
    # Budget applied to runs whose swarm sets none.
    "DEFAULT_MAX_STEPS": env_int("DEFAULT_MAX_STEPS", 200, minimum=1),
    "DEFAULT_MAX_SECONDS": env_int("DEFAULT_MAX_SECONDS", 3600, minimum=1),
    # Torch threads of a training epoch (the policy is tiny: one thread is fastest on a busy machine).
    "TRAINING_THREADS": env_int("TRAINING_THREADS", 1, minimum=1),
    # Tools made by agents wait for a person's approval before their first use.
    "MADE_TOOLS_NEED_APPROVAL": env_bool("MADE_TOOLS_NEED_APPROVAL", True),
    # Limits of one made-tool call in the sandbox.
    "MADE_TOOL_TIMEOUT_SECONDS": env_int("MADE_TOOL_TIMEOUT_SECONDS", 5, minimum=1),
    "MADE_TOOL_MEMORY_MB": env_int("MADE_TOOL_MEMORY_MB", 256, minimum=32),
}

CELERY_BEAT_SCHEDULE = beat_schedule(sweep_interval_s=float(SWARMWEB["SWEEP_INTERVAL_SECONDS"]))

# ---- auth, i18n, static ----------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard:swarm-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = True  # serve straight from static/ without a collectstatic step

# ---- REST API --------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "apps.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SwarmWeb API",
    "DESCRIPTION": "Design, run and watch swarms of AI agents.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
