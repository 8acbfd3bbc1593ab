"""Test settings: every override for the test suite lives here.

Tests use the same services as production (a real database from
DATABASE_URL, real Redis from REDIS_URL), kept apart from a running
SwarmWeb by a separate Redis database number and key prefixes.
"""

import os
import uuid
from urllib.parse import urlparse, urlunparse

from swarmweb.settings import *  # noqa: F403
from swarmweb.settings import CHANNEL_LAYERS, DATABASES, REDIS_URL, SWARMWEB, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET_KEY = "swarmweb-tests-only"


def _redis_db(url: str, db: int) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{db}"))


TEST_REDIS_URL = _redis_db(REDIS_URL, 15)
# Every test session gets its own key prefix, so two suites sharing one Redis
# (a developer's run beside CI, say) never consume each other's tasks or events.
SESSION_PREFIX = f"swarmweb-test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
CELERY_BROKER_URL = TEST_REDIS_URL
CELERY_RESULT_BACKEND = TEST_REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"{SESSION_PREFIX}:"}
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"global_keyprefix": f"{SESSION_PREFIX}:"}
CHANNEL_LAYERS["default"]["CONFIG"] = {"hosts": [TEST_REDIS_URL], "prefix": SESSION_PREFIX}

# Worker and server threads must not keep connections open past a test,
# or PostgreSQL refuses to drop the test database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: worker and server threads share it, with WAL and a busy timeout.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

SWARMWEB = {**SWARMWEB, "REDISPATCH_AFTER_SECONDS": 30, "STEP_TIMEOUT_SECONDS": 20}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
