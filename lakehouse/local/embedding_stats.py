"""The benchmark's view into the sink's Spark workers: an embedder factory that records every embedding call.

`lakehouse bench stream` hands `RecordingEmbedderFactory` to the local engine's sink in place of the model's own
factory; the pipeline code knows nothing of it. Each call appends one JSON line to `path`: the worker's pid, how
many texts, how long, and whether this call loaded the model (a worker's first call). The sink pickles the factory
into its embedding UDF, so this module stays small: a Spark worker imports it.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pipelines.correlate import TextEmbedder, Vectors
from pipelines.transforms.correlation_sink import EmbedderFactory, model_embedder


@dataclass(frozen=True)
class RecordingEmbedderFactory:
    path: str
    inner: EmbedderFactory = model_embedder

    def __call__(self) -> TextEmbedder:
        return RecordingEmbedder(self.inner(), self.path)


@dataclass(frozen=True)
class RecordingEmbedder:
    inner: TextEmbedder
    path: str

    def embed(self, texts: Sequence[str]) -> Vectors:
        # pipelines.embedding.Embedder counts what it encoded; 0 before its first call, which loads the model.
        loads_model = getattr(self.inner, "encoded_texts", None) == 0
        started = time.perf_counter()
        vectors = self.inner.embed(texts)
        record = {
            "pid": os.getpid(),
            "texts": len(texts),
            "seconds": round(time.perf_counter() - started, 3),
            "loaded_model": loads_model,
        }
        with open(self.path, "a", encoding="utf-8") as out:
            out.write(json.dumps(record) + "\n")
        return vectors
