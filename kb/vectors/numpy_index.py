"""Exact search with NumPy: the reference the approximate indexes are measured against."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np

from kb.vectors.base import VectorIndex


class NumpyIndex(VectorIndex):
    name = "numpy"

    def __init__(self, dimensions: int, vectors: np.ndarray | None = None, ids: np.ndarray | None = None):
        super().__init__(dimensions)
        self.vectors = vectors if vectors is not None else np.zeros((0, dimensions), dtype=np.float32)
        self.ids = ids if ids is not None else np.zeros(0, dtype=np.int64)

    @classmethod
    def create(cls, dimensions: int, size_hint: int = 0, **_) -> NumpyIndex:
        return cls(dimensions)

    def add(self, vectors, ids):
        self.vectors = np.vstack([self.vectors, np.asarray(vectors, dtype=np.float32)])
        self.ids = np.concatenate([self.ids, np.asarray(ids, dtype=np.int64)])

    def remove(self, ids):
        keep = ~np.isin(self.ids, np.fromiter(ids, dtype=np.int64))
        self.vectors, self.ids = self.vectors[keep], self.ids[keep]

    def search(self, query, k, allowed: Collection[int] | None = None):
        scores = self.vectors @ np.asarray(query, dtype=np.float32).reshape(-1)
        if allowed is not None:
            scores = np.where(np.isin(self.ids, np.fromiter(allowed, dtype=np.int64)), scores, -np.inf)
        order = np.argsort(-scores, kind="stable")[:k]
        order = order[np.isfinite(scores[order])]
        return self.ids[order], scores[order]

    def reconstruct(self, ids):
        position = {int(i): n for n, i in enumerate(self.ids)}
        return self.vectors[[position[int(i)] for i in ids]]

    def __len__(self):
        return len(self.ids)

    def save(self, path: Path) -> None:
        with path.open("wb") as fh:
            np.savez(fh, vectors=self.vectors, ids=self.ids)

    @classmethod
    def load(cls, path: Path) -> NumpyIndex:
        data = np.load(path)
        return cls(data["vectors"].shape[1], data["vectors"], data["ids"])

    def describe(self):
        return {"backend": self.name, "type": "exact", "vectors": len(self)}
