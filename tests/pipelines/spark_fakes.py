"""Stand-ins shared by the Spark transform tests: an embedder that needs no model.

Spark's Python workers cannot import test modules, so this module is shipped to them by value (cloudpickle).
"""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Sequence

import numpy as np
from pyspark import cloudpickle

cloudpickle.register_pickle_by_value(sys.modules[__name__])


class WordEmbedder:
    """Unit vectors of hashed lower-case words: texts sharing words have a high cosine. Deterministic."""

    dim = 256

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1, norms)


def word_embedder() -> WordEmbedder:
    return WordEmbedder()
