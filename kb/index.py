"""The index on disk and its reader.

An index is a directory under ``<data_dir>/index/builds/`` holding ``manifest.json``,
``index.sqlite`` (documents, chunks, FTS5 keyword index) and the vector file. The
``<data_dir>/index/current`` symlink names the build that serves; a new build is made beside
it and swapped in with one atomic rename, so a crash mid-build leaves the old one serving.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kb.document import Span
from kb.errors import IndexMismatch, IndexNotBuilt
from kb.vectors import backend

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
DATABASE = "index.sqlite"
VECTORS = "vectors.bin"

SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, status TEXT NOT NULL, title TEXT NOT NULL,
    summary TEXT NOT NULL, content_hash TEXT NOT NULL, path TEXT, updated TEXT,
    dur_min INTEGER, dur_max INTEGER, head_min INTEGER, head_max INTEGER, data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS facets (doc_id TEXT NOT NULL, facet TEXT NOT NULL, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS facets_by_value ON facets (facet, value);
CREATE INDEX IF NOT EXISTS facets_by_doc ON facets (doc_id);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL, ordinal INTEGER NOT NULL, heading TEXT NOT NULL,
    text TEXT NOT NULL, hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_doc ON chunks (doc_id);
CREATE INDEX IF NOT EXISTS chunks_by_hash ON chunks (hash);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(title, body, meta, tokenize='unicode61 remove_diacritics 0');
"""
# Column weights for bm25(): the vocabulary terms (themes, synonyms, tags) count most, then title, then body.
BM25_WEIGHTS = (2.0, 1.0, 2.5)
COMMON_SHARE = 0.3  # terms in more of the chunks than this carry (almost) no BM25 weight
# Matched rows one keyword query may score. Measured at the bundled library's size with the same
# share of the corpus (200 of 3371 chunks ~ 6000 of 100k): nDCG@10 0.803 vs 0.805 unpruned
# (`kb eval --variants`, hybrid-pruned-as-at-100k), while it halves a keyword query at 100k.
ROW_BUDGET = 6_000
QUESTIONS = "常见问法"  # heading of the chunk holding all of a document's `questions` (keyword search)
ASKED = "常见问法（单条）"  # heading of one question embedded as a query: a query-to-query match


@dataclass(frozen=True)
class Chunk:
    """A passage of a document, sized for the embedder, with the context it is embedded with."""

    doc_id: str
    ordinal: int
    heading: str
    text: str
    passage: str  # what the embedder sees: title, kind and heading carried into the text
    title_terms: str = ""
    body_terms: str = ""
    meta_terms: str = ""
    role: str = "passage"  # how it is embedded: passage, or query for a question secretaries ask

    @property
    def hash(self) -> str:
        import hashlib

        text = self.passage if self.role == "passage" else f"{self.role}\0{self.passage}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


@dataclass
class DocRecord:
    """What the index knows of a document (its metadata, without the body)."""

    id: str
    kind: str
    status: str
    title: str
    summary: str
    themes: list[str]
    formats: list[str]
    audience: list[str]
    duration: Span | None
    headcount: Span | None
    updated: str
    path: str
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "status": self.status, "title": self.title,
            "summary": self.summary, "themes": self.themes, "formats": self.formats,
            "audience": self.audience, "updated": self.updated,
            "duration_minutes": _span(self.duration), "headcount": _span(self.headcount), **self.meta,
        }


def _span(span: Span | None):
    return None if span is None else {"min": span.min, "max": span.max}


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    id: int
    doc_id: str
    ordinal: int
    heading: str
    text: str


def current_build(index_root: Path) -> Path | None:
    link = index_root / "current"
    if not link.is_symlink() and not link.exists():
        return None
    target = link.resolve()
    return target if (target / MANIFEST).is_file() else None


def read_manifest(build: Path) -> dict:
    return json.loads((build / MANIFEST).read_text(encoding="utf-8"))


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
    conn = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=30)
    conn.row_factory = sqlite3.Row
    return conn


def fts_query(terms: Iterable[str]) -> str:
    """An FTS5 OR-query of quoted terms (quotes inside terms doubled, so any input is safe)."""
    quoted = ['"' + t.replace('"', '""') + '"' for t in dict.fromkeys(terms) if t.strip()]
    return " OR ".join(quoted)


class Index:
    """Read access to one built index: documents, chunks, keyword and vector search."""

    def __init__(self, build: Path, expected_model: str | None = None):
        self.build = build
        self.manifest = read_manifest(build)
        if self.manifest.get("format") != FORMAT_VERSION:
            raise IndexMismatch("索引格式版本不符，请重新运行 kb index --rebuild")
        if expected_model and self.manifest["model_id"] != expected_model:
            raise IndexMismatch(
                f"索引由模型“{self.manifest['model_id']}”建立，当前配置的是“{expected_model}”，"
                "不能混用。请运行 kb index --rebuild 重建索引。"
            )
        self.vectors = backend(self.manifest["vector_index"]["backend"]).load(build / VECTORS)
        self._local = threading.local()
        self._df: dict[str, int] | None = None
        self._lazy = threading.Lock()  # for what is read once per build
        self._outline: dict[int, ChunkRecord] | None = None  # every chunk without its text
        self._doc_vectors: dict[str, np.ndarray | None] = {}
        self.docs: dict[str, DocRecord] = {}
        for row in self.db.execute("SELECT * FROM docs"):
            data = json.loads(row["data"])
            self.docs[row["id"]] = DocRecord(
                id=row["id"], kind=row["kind"], status=row["status"], title=row["title"],
                summary=row["summary"], themes=data.get("themes", []), formats=data.get("formats", []),
                audience=data.get("audience", []),
                duration=Span(row["dur_min"], row["dur_max"]) if row["dur_min"] is not None else None,
                headcount=Span(row["head_min"], row["head_max"]) if row["head_min"] is not None else None,
                updated=row["updated"] or "", path=row["path"] or "",
                meta={k: v for k, v in data.items() if k not in _CORE},
            )
        self.published = frozenset(d.id for d in self.docs.values() if d.status == "published")
        self.by_theme: dict[str, set[str]] = {}
        self.by_format: dict[str, set[str]] = {}
        for doc in self.docs.values():
            for theme in doc.themes:
                self.by_theme.setdefault(theme, set()).add(doc.id)
            for fmt in doc.formats:
                self.by_format.setdefault(fmt, set()).add(doc.id)

    @classmethod
    def open(cls, index_root: Path, expected_model: str | None = None) -> Index:
        build = current_build(index_root)
        if build is None:
            raise IndexNotBuilt("索引尚未建立：请先运行 kb index（kb serve 首次启动时会自动建立）")
        return cls(build, expected_model)

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.build / DATABASE, readonly=True)
            conn.execute("CREATE VIRTUAL TABLE temp.terms USING fts5vocab(main, 'chunks_fts', 'row')")
        return conn

    @property
    def model_id(self) -> str:
        return self.manifest["model_id"]

    def chunk_ids_for(self, doc_ids: Collection[str]) -> list[int]:
        found: list[int] = []
        ids = list(doc_ids)
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            marks = ",".join("?" * len(part))
            found.extend(r[0] for r in self.db.execute(f"SELECT id FROM chunks WHERE doc_id IN ({marks})", part))
        return found

    @property
    def chunk_count(self) -> int:
        return self.manifest.get("chunks") or 1

    def doc_frequency(self, term: str) -> int:
        """How many chunks contain ``term``, from FTS5's own vocabulary, read once per index
        (one pass costs about a quarter second at 100k chunks; a lookup per term costs more)."""
        if self._df is None:
            with self._lazy:
                if self._df is None:
                    self._df = dict(self.db.execute("SELECT term, doc FROM temp.terms").fetchall())
        return self._df.get(term, 0)

    def selective_terms(self, terms: Iterable[str], budget: int = ROW_BUDGET) -> list[str]:
        """The terms worth scoring. BM25 gives a term in over ``COMMON_SHARE`` of the chunks (almost)
        no weight, yet scoring it costs a pass over those chunks; and the rarest terms carry the most
        weight, so terms are taken rarest first until they would match more than ``budget`` rows
        (always at least one). On a library of a few thousand chunks nothing is dropped but the
        near-universal words; at 100k chunks this bounds the cost of a query."""
        unique = list(dict.fromkeys(t for t in terms if t.strip()))
        n = self.chunk_count
        candidates = [t for t in unique if self.doc_frequency(t) <= COMMON_SHARE * n] or unique
        kept, rows = [], 0
        for term in sorted(candidates, key=self.doc_frequency):
            if kept and rows + self.doc_frequency(term) > budget:
                break
            kept.append(term)
            rows += self.doc_frequency(term)
        return kept

    def keyword(self, terms: Iterable[str], limit: int, allowed: Collection[int] | None = None,
                budget: int = ROW_BUDGET) -> list[tuple[int, float]]:
        """BM25 over the FTS5 index: (chunk id, score) best first; higher is better.

        A filter is applied to the ranked matches here, not inside SQLite: FTS5 cannot use a rowid
        list while matching, and checking one per match is 20x slower than ranking a larger pool."""
        query = fts_query(self.selective_terms(terms, budget))
        if not query:
            return []
        weights = ", ".join(map(str, BM25_WEIGHTS))
        wanted = limit
        if allowed is not None:
            share = max(len(allowed), 1) / self.chunk_count
            wanted = min(self.chunk_count, int(limit / share * 2) + limit)
        rows = self.db.execute(
            f"SELECT rowid, -bm25(chunks_fts, {weights}) AS score FROM chunks_fts WHERE chunks_fts MATCH ?"
            " ORDER BY score DESC LIMIT ?", [query, wanted])
        if allowed is None:
            return [(r[0], r[1]) for r in rows]
        keep = allowed if isinstance(allowed, set | frozenset) else set(allowed)
        return [(r[0], r[1]) for r in rows if r[0] in keep][:limit]

    def dense(self, vector: np.ndarray, limit: int, allowed: Collection[int] | None = None) -> list[tuple[int, float]]:
        ids, scores = self.vectors.search(vector, limit, allowed)
        return list(zip(ids.tolist(), scores.tolist(), strict=True))

    def outline(self) -> dict[int, ChunkRecord]:
        """Every chunk's owner, ordinal and heading, without its text: read once per index build
        (a few ms for the bundled library, about 0.2 s at 100k chunks), then ranking asks SQLite
        nothing (under load each query to SQLite also hands the GIL to another request)."""
        if self._outline is None:
            with self._lazy:
                if self._outline is None:
                    owners = {d: d for d in self.docs}  # one string object per document id
                    self._outline = {
                        r[0]: ChunkRecord(r[0], owners.get(r[1], r[1]), r[2], r[3], "")
                        for r in self.db.execute("SELECT id, doc_id, ordinal, heading FROM chunks")}
        return self._outline

    def chunks(self, ids: Iterable[int], *, text: bool = True) -> dict[int, ChunkRecord]:
        """Chunks by id; ``text=False`` leaves their text out (for ranking, which needs only owners)."""
        ids = list(ids)
        if not ids:
            return {}
        if not text:
            outline = self.outline()
            return {i: outline[i] for i in ids if i in outline}
        found = {}
        for start in range(0, len(ids), 500):  # explicit rowids: SQLite looks each one up directly
            part = ids[start : start + 500]
            rows = self.db.execute(
                f"SELECT id, doc_id, ordinal, heading, text FROM chunks WHERE id IN ({','.join('?' * len(part))})",
                part)
            found.update({r[0]: ChunkRecord(r[0], r[1], r[2], r[3], r[4]) for r in rows})
        return found

    def doc_chunks(self, doc_id: str) -> list[ChunkRecord]:
        rows = self.db.execute(
            "SELECT id, doc_id, ordinal, heading, text FROM chunks WHERE doc_id = ? ORDER BY ordinal", [doc_id]
        )
        return [ChunkRecord(r["id"], r["doc_id"], r["ordinal"], r["heading"], r["text"]) for r in rows]

    def doc_vector(self, doc_id: str) -> np.ndarray | None:
        """The mean of a document's chunk vectors, normalised: what "a document like this" means.
        Remembered per build (a kit compares twenty documents with its lecture)."""
        if doc_id in self._doc_vectors:
            return self._doc_vectors[doc_id]
        ids = [r[0] for r in self.db.execute("SELECT id FROM chunks WHERE doc_id = ?", [doc_id])]
        vector = None
        if ids:
            mean = self.vectors.reconstruct(ids).mean(axis=0)
            vector = mean / max(float(np.linalg.norm(mean)), 1e-12)
            vector.setflags(write=False)
        if len(self._doc_vectors) < 100_000:
            self._doc_vectors[doc_id] = vector
        return vector

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


_CORE = {"id", "kind", "status", "title", "summary", "themes", "formats", "audience", "updated",
         "duration_minutes", "headcount", "body"}


def ensure_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
