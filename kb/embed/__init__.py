"""Embedders behind one contract, chosen by name from BACKENDS."""

from __future__ import annotations

from kb.embed.base import Embedder
from kb.errors import KBError


def _e5():
    from kb.embed.e5 import E5Embedder

    return E5Embedder


def _sbert():
    from kb.embed.sbert import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder


BACKENDS = {"e5": _e5, "sbert": _sbert}


def _imported(path: str):
    import importlib

    module, _, attr = path.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise KBError(f"无法加载向量模型后端“{path}”：{exc}") from None


def get_embedder(name: str = "e5", model: str = "", threads: int = 0) -> Embedder:
    """Build the configured embedder: a name from BACKENDS, or "package.module:Class" for a
    deployment's own; unknown names list the valid ones."""
    if ":" in name:
        return _imported(name)(model=model, threads=threads)
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise KBError(f"未知的向量模型后端“{name}”（可选：{', '.join(BACKENDS)}，或 模块:类）") from None
    return factory()(model=model, threads=threads)


__all__ = ["BACKENDS", "Embedder", "get_embedder"]
