"""Optional embedder: any sentence-transformers model on local disk (e.g. a bge-zh model)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kb.embed.base import Embedder
from kb.errors import BackendUnavailable, KBError


class SentenceTransformerEmbedder(Embedder):
    batch_size = 32

    def __init__(self, model: str = "", threads: int = 0):
        if not model:
            raise KBError("sbert 后端需要设置 KB_MODEL：本地模型目录或已缓存的模型名称")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never download at run time
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendUnavailable(
                "sbert 后端需要 sentence-transformers：先 pip install torch==2.13.0（CPU 版），"
                "再 pip install 'hongling-kb[sbert]'"
            ) from exc
        if threads:
            import torch

            torch.set_num_threads(threads)
        try:
            self._model = SentenceTransformer(model, device="cpu")
        except Exception as exc:  # noqa: BLE001 - any load failure is a configuration problem
            raise KBError(f"无法加载本地模型“{model}”：{exc}") from exc
        self.model_id = f"sbert/{Path(model).name if Path(model).exists() else model}"
        self.dimensions = int(self._model.get_sentence_embedding_dimension())
        self._prefixes = self._role_prefixes(model)

    @staticmethod
    def _role_prefixes(model: str) -> dict[str, str]:
        name = model.lower()
        if "e5" in name:
            return {"query": "query: ", "passage": "passage: "}
        if "bge" in name and "zh" in name:
            return {"query": "为这个句子生成表示以用于检索相关文章：", "passage": ""}
        return {"query": "", "passage": ""}

    def embed_batch(self, texts: Sequence[str], role: str) -> np.ndarray:
        prefix = self._prefixes.get(role, "")
        return self._model.encode([prefix + t for t in texts], normalize_embeddings=True, convert_to_numpy=True)
