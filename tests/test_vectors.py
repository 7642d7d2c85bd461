"""One contract, every vector backend; plus IVF recall against exact search."""

from __future__ import annotations

import numpy as np
import pytest

from kb.vectors import BACKENDS, backend


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return unit(rng.normal(size=(300, 32))), np.arange(1000, 1300, dtype=np.int64)


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_backend_contract(name, data, tmp_path):
    vectors, ids = data
    index = backend(name).create(32)
    index.add(vectors, ids)
    assert len(index) == 300
    found, scores = index.search(vectors[5], 3)
    assert found[0] == 1005 and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert list(scores) == sorted(scores, reverse=True)
    allowed = {1010, 1020, 1030}
    found, _ = index.search(vectors[5], 10, allowed)
    assert set(found) == allowed
    index.remove([1005, 1006])
    assert len(index) == 298 and 1005 not in index.search(vectors[5], 5)[0]
    path = tmp_path / "vectors.bin"
    index.save(path)
    loaded = backend(name).load(path)
    assert len(loaded) == 298
    assert list(loaded.search(vectors[7], 4)[0]) == list(index.search(vectors[7], 4)[0])
    empty = backend(name).create(32)
    assert len(empty.search(vectors[0], 5)[0]) == 0


def test_ivf_recall_against_exact_on_clustered_vectors():
    rng = np.random.default_rng(3)
    # clustered like text embeddings are (topics), not uniform noise, on which no IVF can work
    centres = unit(rng.normal(size=(200, 64)))
    vectors = unit(centres[rng.integers(0, 200, 20_000)] + 0.12 * rng.normal(size=(20_000, 64)))
    ids = np.arange(20_000, dtype=np.int64)
    exact = backend("numpy").create(64)
    exact.add(vectors, ids)
    ivf = backend("faiss").create(64, 20_000, exact_threshold=1000, train=vectors)
    ivf.add(vectors, ids)
    assert ivf.describe()["type"].startswith("IVF")
    queries = unit(vectors[rng.integers(0, 20_000, 50)] + 0.2 * rng.normal(size=(50, 64)))
    recall = np.mean([len(set(ivf.search(q, 10)[0]) & set(exact.search(q, 10)[0])) / 10 for q in queries])
    assert recall >= 0.95
