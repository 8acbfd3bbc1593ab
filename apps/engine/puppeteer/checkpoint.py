"""Checkpoints as bytes: tensors and plain dicts only, loaded with ``weights_only=True``."""

from __future__ import annotations

import io
from typing import Any

import torch

FORMAT = 1


class CheckpointError(ValueError):
    """The bytes are not a Puppeteer checkpoint this code can read, or do not fit the environment."""


def dump(state: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, **state}, buffer)
    return buffer.getvalue()


def load(blob: bytes) -> dict[str, Any]:
    try:
        state = torch.load(io.BytesIO(blob), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several unrelated types for bad bytes
        raise CheckpointError(f"Not a readable checkpoint: {exc}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"Unsupported checkpoint format (expected {FORMAT}).")
    return state
