"""Test settings: every override for the test suite lives here.

Tests use the same services as production (a real database from
DATABASE_URL, real Redis from REDIS_URL), kept apart from a running
SwarmWeb by a separate Redis database number and key prefixes.
"""

from urllib.parse import urlparse, urlunparse

from swarmweb.settings import *  # noqa: F403
from swarmweb.settings import CHANNEL_LAYERS, DATABASES, REDIS_URL, SWARMWEB, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
SECRET_KEY = "swarmweb-tests-only"


def _redis_db(url: str, db: int) -> str:
    parts = urlparse(url)
    return urlunparse(parts._replace(path=f"/{db}"))


TEST_REDIS_URL = _redis_db(REDIS_URL, 15)
CELERY_BROKER_URL = TEST_REDIS_URL
CELERY_RESULT_BACKEND = TEST_REDIS_URL
CHANNEL_LAYERS["default"]["CONFIG"] = {"hosts": [TEST_REDIS_URL], "prefix": "swarmweb-test"}

# Worker and server threads must not keep connections open past a test,
# or PostgreSQL refuses to drop the test database at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory: worker and server threads share it, with WAL and a busy timeout.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

SWARMWEB = {**SWARMWEB, "REDISPATCH_AFTER_SECONDS": 30, "STEP_TIMEOUT_SECONDS": 20}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
