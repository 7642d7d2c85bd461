"""FAISS: exact inner-product search below a size threshold, IVF above it."""

from __future__ import annotations

import json
import math
from collections.abc import Collection
from pathlib import Path

import numpy as np

from kb.errors import BackendUnavailable
from kb.vectors.base import VectorIndex

try:
    import faiss
except ImportError as exc:  # pragma: no cover - faiss-cpu is a core dependency
    raise BackendUnavailable("向量检索需要 faiss：pip install faiss-cpu") from exc


class FaissIndex(VectorIndex):
    name = "faiss"

    def __init__(self, index, dimensions: int, nprobe: int = 0):
        super().__init__(dimensions)
        self.index = index
        self.nprobe = nprobe
        if nprobe:
            ivf = faiss.extract_index_ivf(index)
            ivf.nprobe = nprobe
            if ivf.direct_map.type != faiss.DirectMap.Hashtable:
                ivf.set_direct_map_type(faiss.DirectMap.Hashtable)  # reconstruct by id, still removable

    @classmethod
    def create(cls, dimensions: int, size_hint: int = 0, *, exact_threshold: int = 50_000,
               train: np.ndarray | None = None, nprobe: int = 0, **_) -> FaissIndex:
        if size_hint < exact_threshold or train is None:
            return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dimensions)), dimensions)
        nlist = max(16, int(4 * math.sqrt(size_hint)))
        quantizer = faiss.IndexFlatIP(dimensions)
        ivf = faiss.IndexIVFFlat(quantizer, dimensions, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = train[np.random.default_rng(0).permutation(len(train))[: nlist * 40]]
        ivf.train(np.ascontiguousarray(sample, dtype=np.float32))
        # Scan an eighth of the lists by default: bench/ann_recall.py measures recall against exact.
        return cls(ivf, dimensions, nprobe=min(nprobe or max(32, nlist // 8), nlist))

    @property
    def exact(self) -> bool:
        return self.nprobe == 0

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: Collection[int]) -> None:
        if not ids:
            return
        array = np.fromiter(ids, dtype=np.int64)
        if self.nprobe:  # the IVF direct map (hash table) only removes by an explicit id array
            self.index.remove_ids(faiss.IDSelectorArray(len(array), faiss.swig_ptr(array)))
        else:
            self.index.remove_ids(faiss.IDSelectorBatch(array))

    def search(self, query, k, allowed=None):
        if self.index.ntotal == 0 or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        q = np.ascontiguousarray(query, dtype=np.float32).reshape(1, -1)
        params = None
        if allowed is not None:
            selector = faiss.IDSelectorBatch(np.fromiter(allowed, dtype=np.int64))
            params = (faiss.SearchParametersIVF(sel=selector, nprobe=self.nprobe) if self.nprobe
                      else faiss.SearchParameters(sel=selector))
        scores, ids = self.index.search(q, min(k, self.index.ntotal), params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def reconstruct(self, ids):
        ids = list(ids)
        if not ids:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        return np.vstack([self.index.reconstruct(int(i)) for i in ids])

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def save(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))
        path.with_suffix(".json").write_text(json.dumps({"nprobe": self.nprobe}))

    @classmethod
    def load(cls, path: Path) -> FaissIndex:
        index = faiss.read_index(str(path))
        side = path.with_suffix(".json")
        nprobe = json.loads(side.read_text())["nprobe"] if side.exists() else 0
        return cls(index, index.d, nprobe=nprobe)

    def describe(self) -> dict:
        kind = f"IVF{faiss.extract_index_ivf(self.index).nlist},Flat" if self.nprobe else "Flat (exact)"
        return {"backend": self.name, "type": kind, "nprobe": self.nprobe, "vectors": len(self)}
