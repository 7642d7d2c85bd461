"""The embedder contract: implement ``embed_batch``; batching and roles are built on top."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


class Embedder:
    """Subclasses set ``model_id`` and ``dimensions`` and implement ``embed_batch``."""

    model_id: str = ""
    dimensions: int = 0
    batch_size: int = 16

    def busy(self) -> int:
        """How many other requests this process is serving (the KB sets this from its web requests
        in flight); a backend may give a query fewer threads when the cores are wanted elsewhere."""
        return 0

    def embed_batch(self, texts: Sequence[str], role: str) -> np.ndarray:
        """Return an (n, dimensions) float32 array of L2-normalised vectors; role is query|passage."""
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        return self._normalise(self.embed_batch([text], "query"))[0]

    def embed_passages(
        self, texts: Sequence[str], progress: Callable[[int], None] | None = None, *, role: str = "passage"
    ) -> np.ndarray:
        """Embed many texts in batches; ``progress`` is called with the count done after each batch."""
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        parts = []
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            parts.append(self._normalise(self.embed_batch(batch, role)))
            if progress:
                progress(len(batch))
        return np.vstack(parts)

    def _normalise(self, vectors) -> np.ndarray:
        array = np.asarray(vectors, dtype=np.float32).reshape(-1, self.dimensions)
        norms = np.linalg.norm(array, axis=1, keepdims=True)
        return array / np.maximum(norms, 1e-12)
