"""Embeddings by (model, passage hash), shared by all builds: nothing is embedded twice."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np


class EmbeddingCache:
    """Append-only: a crash can only leave extra rows, never a wrong one."""

    def __init__(self, path: Path, model_id: str, dimensions: int):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.model_id, self.dimensions = model_id, dimensions
        self.db = sqlite3.connect(path, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (model TEXT NOT NULL, hash TEXT NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (model, hash)) WITHOUT ROWID")

    def get_many(self, hashes: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, np.ndarray] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows = self.db.execute(
                f"SELECT hash, vector FROM vectors WHERE model = ? AND hash IN ({','.join('?' * len(part))})",
                [self.model_id, *part])
            found.update({h: np.frombuffer(v, dtype=np.float32) for h, v in rows})
        return found

    def put_many(self, items: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO vectors (model, hash, vector) VALUES (?,?,?)",
                [(self.model_id, h, np.asarray(v, dtype=np.float32).tobytes()) for h, v in items.items()])

    def prune(self, keep: set[str]) -> int:
        """Drop this model's vectors no chunk uses any more (run on full rebuilds)."""
        stored = [h for (h,) in self.db.execute("SELECT hash FROM vectors WHERE model = ?", [self.model_id])]
        dead = [h for h in stored if h not in keep]
        with self.db:
            self.db.executemany("DELETE FROM vectors WHERE model = ? AND hash = ?", [(self.model_id, h) for h in dead])
        return len(dead)

    def close(self) -> None:
        self.db.close()
