"""Vector indexes behind one contract (VectorIndex), chosen by name from BACKENDS."""

from __future__ import annotations

from kb.errors import KBError
from kb.vectors.base import VectorIndex


def _faiss():
    from kb.vectors.faiss_index import FaissIndex

    return FaissIndex


def _numpy():
    from kb.vectors.numpy_index import NumpyIndex

    return NumpyIndex


BACKENDS = {"faiss": _faiss, "numpy": _numpy}


def backend(name: str) -> type[VectorIndex]:
    try:
        return BACKENDS[name]()
    except KeyError:
        raise KBError(f"未知的向量索引后端“{name}”（可选：{', '.join(BACKENDS)}）") from None


__all__ = ["BACKENDS", "VectorIndex", "backend"]
