"""The benchmark's recording embedder: one JSON line per embedding call, the model load flagged on the first."""

from __future__ import annotations

import json
import pickle
from collections.abc import Sequence

import numpy as np

from lakehouse.local.bench import _worker_stats
from lakehouse.local.embedding_stats import RecordingEmbedderFactory
from pipelines.correlate import Vectors


class CountingEmbedder:
    """Counts what it encoded, as pipelines.embedding.Embedder does (0 until its first call loads the model)."""

    def __init__(self) -> None:
        self.encoded_texts = 0

    def embed(self, texts: Sequence[str]) -> Vectors:
        self.encoded_texts += len(texts)
        return np.ones((len(texts), 3), dtype=np.float32)


_WORKER = CountingEmbedder()


def worker_embedder() -> CountingEmbedder:
    return _WORKER  # one per process, like the sink's model_embedder


def test_each_call_is_recorded_and_only_the_first_loads_the_model(tmp_path) -> None:
    path = tmp_path / "stats.jsonl"
    factory = RecordingEmbedderFactory(str(path), worker_embedder)
    # The sink pickles the factory into its UDF: it must survive the trip to a worker.
    factory = pickle.loads(pickle.dumps(factory))
    first = factory().embed(["a", "b", "c"])
    factory().embed(["d"])
    assert first.shape == (3, 3)  # the vectors are the inner embedder's, unchanged
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["texts"], r["loaded_model"]) for r in records] == [(3, True), (1, False)]
    loads, busiest = _worker_stats(path.read_text().splitlines())
    assert loads == 1 and busiest == sum(r["seconds"] for r in records)
