"""The vector-index contract: inner-product search over L2-normalised vectors with int64 ids."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

import numpy as np


class VectorIndex:
    """Implementations persist to one file and support incremental add/remove."""

    name = ""

    def __init__(self, dimensions: int):
        self.dimensions = dimensions

    @classmethod
    def create(cls, dimensions: int, size_hint: int = 0, **options) -> VectorIndex:
        """A new empty index suited to about ``size_hint`` vectors."""
        raise NotImplementedError

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        raise NotImplementedError

    def remove(self, ids: Collection[int]) -> None:
        raise NotImplementedError

    def search(
        self, query: np.ndarray, k: int, allowed: Collection[int] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top ``k`` (ids, scores) for one query vector, best first; ``allowed`` restricts the ids."""
        raise NotImplementedError

    def reconstruct(self, ids: Collection[int]) -> np.ndarray:
        """The stored vectors for ``ids``, as an (n, dimensions) array."""
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        raise NotImplementedError

    def describe(self) -> dict:
        """What the manifest records about this index (type and search parameters)."""
        return {"backend": self.name}
