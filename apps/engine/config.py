"""Validation of JSON configs (strategies, providers) that reports every problem at once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ConfigError


class ConfigReader:
    """Reads typed values out of a config mapping, recording errors instead of raising.

    Call ``raise_if_invalid()`` at the end to report all problems together.
    """

    def __init__(
        self, config: Mapping[str, Any] | None, *, allowed: set[str], error: type[ConfigError] = ConfigError
    ) -> None:
        self.error_class = error
        self.config = dict(config or {})
        self.errors: dict[str, list[str]] = {}
        for key in sorted(set(self.config) - allowed):
            self.error(key, f"Unknown setting. Allowed: {', '.join(sorted(allowed))}.")

    def error(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def integer(self, key: str, default: int | None, *, minimum: int = 0, maximum: int | None = None) -> int | None:
        value = self.config.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(key, "Must be a whole number.")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f"at least {minimum}"
            self.error(key, f"Must be {bound}.")
            return default
        return value

    def string(self, key: str, default: str, *, required: bool = False) -> str:
        value = self.config.get(key, default)
        if not isinstance(value, str):
            self.error(key, "Must be a string.")
            return default
        if required and not value.strip():
            self.error(key, "This field is required.")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.string(key, default)
        if value not in choices:
            self.error(key, f"Must be one of: {', '.join(choices)}.")
            return default
        return value

    def number(self, key: str, default: float | None, *, minimum: float, maximum: float) -> float | None:
        value = self.config.get(key, default)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.error(key, "Must be a number.")
            return default
        if not minimum <= value <= maximum:
            self.error(key, f"Must be between {minimum:g} and {maximum:g}.")
            return default
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.config.get(key, default)
        if not isinstance(value, bool):
            self.error(key, "Must be true or false.")
            return default
        return value

    def raise_if_invalid(self, what: str) -> None:
        if self.errors:
            raise self.error_class(f"Invalid {what} configuration.", fields=self.errors)
