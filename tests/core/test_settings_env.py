import pytest
from django.core.exceptions import ImproperlyConfigured

from swarmweb.env import env_bool, env_int, env_list, env_url


def test_booleans_accept_the_usual_spellings(monkeypatch):
    for raw, expected in [("1", True), ("yes", True), ("On", True), ("0", False), ("false", False), ("", False)]:
        monkeypatch.setenv("FLAG", raw)
        assert env_bool("FLAG", not expected) is expected


def test_a_bad_boolean_names_the_variable(monkeypatch):
    monkeypatch.setenv("DEBUG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="DEBUG='maybe'"):
        env_bool("DEBUG", False)


def test_integers_are_checked(monkeypatch):
    monkeypatch.setenv("STEP_WORKERS", "two")
    with pytest.raises(ImproperlyConfigured, match="STEP_WORKERS"):
        env_int("STEP_WORKERS", 1)
    monkeypatch.setenv("STEP_WORKERS", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("STEP_WORKERS", 1, minimum=1)


def test_lists_split_on_commas(monkeypatch):
    monkeypatch.setenv("ALLOWED_HOSTS", "a.example, b.example,")
    assert env_list("ALLOWED_HOSTS", []) == ["a.example", "b.example"]


def test_urls_must_have_a_known_scheme(monkeypatch):
    monkeypatch.setenv("REDIS_URL", "localhost:6379")
    with pytest.raises(ImproperlyConfigured, match="REDIS_URL"):
        env_url("REDIS_URL", "redis://x", schemes=("redis",))


def test_the_default_secret_key_raises_a_system_check_warning(settings):
    from apps.core.checks import check_secret_key

    settings.SECRET_KEY = settings.DEV_SECRET_KEY
    assert [w.id for w in check_secret_key(None)] == ["swarmweb.W001"]
    settings.SECRET_KEY = "something-else"
    assert check_secret_key(None) == []
