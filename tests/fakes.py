"""A small deterministic embedder for tests that are not about embedding quality."""

from __future__ import annotations

import hashlib
import zlib

import numpy as np

from kb.embed.base import Embedder


class HashEmbedder(Embedder):
    """Character-bigram hashing into 256 dimensions: similar texts get similar vectors."""

    model_id = "test/hash-bigram-256"
    dimensions = 256
    batch_size = 32

    def __init__(self, fail_after: int | None = None, model: str = "", threads: int = 0):
        self.calls = 0
        self.embedded = 0
        self.fail_after = fail_after

    def embed_batch(self, texts, role):
        self.calls += 1
        if self.fail_after is not None and self.embedded >= self.fail_after:
            raise RuntimeError("embedder failed on purpose")
        self.embedded += len(texts)
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for a, b in zip(text, text[1:], strict=False):
                out[row, zlib.crc32((a + b).encode()) % self.dimensions] += 1.0
            if not text:
                out[row, int(hashlib.md5(b"").hexdigest(), 16) % self.dimensions] = 1.0
        return out


class OtherHashEmbedder(HashEmbedder):
    model_id = "test/other-model"


class SlowHashEmbedder(HashEmbedder):
    """The hash embedder, one passage at a time and slowly: gives a test time to kill a build."""

    model_id = "test/slow-hash"
    batch_size = 1

    def embed_batch(self, texts, role):
        import os
        import time

        if role == "passage":
            time.sleep(float(os.environ.get("SLOW_EMBED_SECONDS", "0.25")))
        return super().embed_batch(texts, role)
