"""Build or update the index: incremental by content hash, atomic by directory swap."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from indexer.chunk import CHUNKER_VERSION, chunk_document
from indexer.embcache import EmbeddingCache
from kb.document import Document, Span
from kb.embed import Embedder
from kb.errors import Conflict
from kb.index import (
    DATABASE,
    FORMAT_VERSION,
    MANIFEST,
    SCHEMA,
    VECTORS,
    Chunk,
    connect,
    current_build,
    ensure_dir,
    fsync_dir,
    read_manifest,
)
from kb.library import Library
from kb.vectors import backend

Progress = Callable[[str, int, int], None]  # (stage, done, total)
KEEP_BUILDS = 2
EMBEDDINGS = "embeddings.sqlite"


@dataclass
class BuildReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    skipped: list[str] = field(default_factory=list)  # invalid documents, as "file:line: field: problem"
    seconds: float = 0.0
    build: str = ""
    full_rebuild: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def build_lock(index_root: Path) -> Iterator[None]:
    """One build at a time per data folder (CLI and web may both ask)."""
    ensure_dir(index_root)
    with open(index_root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict("另一个索引任务正在进行，请稍后再试") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _vocab_hash(library: Library) -> str:
    text = "".join((library.root / name).read_text(encoding="utf-8") for name in ("themes.yaml", "vocab.yaml"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _facet_rows(doc: Document) -> list[tuple[str, str, str]]:
    rows = [(doc.id, "themes", v) for v in doc.themes]
    rows += [(doc.id, "formats", v) for v in doc.formats]
    rows += [(doc.id, "audience", v) for v in doc.audience]
    return rows


def _insert_doc(db: sqlite3.Connection, doc: Document) -> None:
    data = doc.to_dict()
    data.pop("body", None)
    dur, head = doc.duration, doc.headcount
    if head is None and isinstance(doc.meta.get("capacity"), int):
        head = Span(1, doc.meta["capacity"])  # a venue holds up to its capacity
    db.execute(
        "INSERT INTO docs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (doc.id, doc.kind, doc.status, doc.title, doc.summary, doc.content_hash,
         str(doc.path or ""), doc.updated.isoformat(), dur and dur.min, dur and dur.max,
         head and head.min, head and head.max, json.dumps(data, ensure_ascii=False, default=str)),
    )
    db.executemany("INSERT INTO facets VALUES (?,?,?)", _facet_rows(doc))


def _delete_doc(db: sqlite3.Connection, doc_id: str) -> list[int]:
    ids = [r[0] for r in db.execute("SELECT id FROM chunks WHERE doc_id = ?", [doc_id])]
    db.executemany("DELETE FROM chunks_fts WHERE rowid = ?", [(i,) for i in ids])
    db.execute("DELETE FROM chunks WHERE doc_id = ?", [doc_id])
    db.execute("DELETE FROM facets WHERE doc_id = ?", [doc_id])
    db.execute("DELETE FROM docs WHERE id = ?", [doc_id])
    return ids


def _copy_database(source: Path, target: Path) -> sqlite3.Connection:
    src = sqlite3.connect(source)
    dst = connect(target)
    with src:
        src.backup(dst)
    src.close()
    return dst


def _timestamp() -> str:
    """Build names sort in creation order (nanoseconds), readable at a glance."""
    ns = time.time_ns()
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y%m%dT%H%M%S") + f".{ns % 10**9:09d}"


def _cleanup(index_root: Path, keep: Path) -> None:
    builds = index_root / "builds"
    for stale in builds.glob(".tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    done = sorted((p for p in builds.iterdir() if p.is_dir() and not p.name.startswith(".")), key=lambda p: p.name)
    for old in done[:-KEEP_BUILDS]:
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


def _swap_current(index_root: Path, build: Path) -> None:
    link, tmp = index_root / "current", index_root / f".current-{uuid.uuid4().hex[:6]}"
    os.symlink(os.path.relpath(build, index_root), tmp)
    os.replace(tmp, link)  # atomic: readers see the old build or the new one, never neither
    fsync_dir(index_root)


def build_index(
    library: Library,
    index_root: Path,
    embedder: Embedder,
    *,
    chunk_chars: int = 360,
    exact_threshold: int = 50_000,
    rebuild: bool = False,
    progress: Progress | None = None,
) -> BuildReport:
    """Bring the index in step with the library, embedding only chunks not embedded before."""
    started = time.perf_counter()
    report = BuildReport(skipped=[str(p) for p in library.problems])
    chunker = {"version": CHUNKER_VERSION, "chunk_chars": chunk_chars}
    vocab_hash = _vocab_hash(library)
    with build_lock(index_root):
        builds = ensure_dir(index_root / "builds")
        previous = current_build(index_root)
        manifest = read_manifest(previous) if previous else {}
        reusable = (
            previous is not None and not rebuild and manifest.get("format") == FORMAT_VERSION
            and manifest.get("model_id") == embedder.model_id and manifest.get("chunker") == chunker
        )
        report.full_rebuild = not reusable
        tmp = builds / f".tmp-{_timestamp()}"
        tmp.mkdir()
        try:
            db, vectors, old_hashes = _open_target(tmp, previous if reusable else None, embedder)
            if manifest.get("vocab_hash") != vocab_hash:
                old_hashes = dict.fromkeys(old_hashes, "")  # synonyms changed: refresh keyword terms
            cache = EmbeddingCache(index_root / EMBEDDINGS, embedder.model_id, embedder.dimensions)
            try:
                _apply_changes(db, vectors, library, old_hashes, embedder, cache, chunk_chars, report, progress)
                vectors = _right_sized(db, vectors, cache, embedder.dimensions, exact_threshold)
                if report.full_rebuild:
                    cache.prune({r[0] for r in db.execute("SELECT hash FROM chunks")})
            finally:
                cache.close()
            vectors.save(tmp / VECTORS)
            report.chunks_total = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            corpus_hash = hashlib.sha256(
                "".join(f"{r[0]}:{r[1]};" for r in db.execute("SELECT id, content_hash FROM docs ORDER BY id"))
                .encode()).hexdigest()[:16]
            db.commit()
            db.execute("PRAGMA journal_mode=DELETE")
            db.close()
            built_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
            new_manifest = {
                "format": FORMAT_VERSION, "model_id": embedder.model_id, "dimensions": embedder.dimensions,
                "chunker": chunker, "vocab_hash": vocab_hash, "corpus_hash": corpus_hash,
                "built_at": built_at, "library": str(library.root),
                "documents": len(library.documents), "chunks": report.chunks_total,
                "vector_index": vectors.describe(),
            }
            (tmp / MANIFEST).write_text(json.dumps(new_manifest, ensure_ascii=False, indent=2), encoding="utf-8")
            for name in (MANIFEST, DATABASE, VECTORS):
                with open(tmp / name, "rb") as fh:
                    os.fsync(fh.fileno())
            final = builds / tmp.name.removeprefix(".tmp-")
            os.rename(tmp, final)
            fsync_dir(builds)
            _swap_current(index_root, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _cleanup(index_root, final)
    report.build = final.name
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _open_target(tmp: Path, previous: Path | None, embedder: Embedder):
    if previous is None:
        db = connect(tmp / DATABASE)
        db.executescript(SCHEMA)
        vectors = backend("faiss").create(embedder.dimensions)
        return db, vectors, {}
    db = _copy_database(previous / DATABASE, tmp / DATABASE)
    manifest = read_manifest(previous)
    vectors = backend(manifest["vector_index"]["backend"]).load(previous / VECTORS)
    hashes = {r[0]: r[1] for r in db.execute("SELECT id, content_hash FROM docs")}
    return db, vectors, hashes


def _apply_changes(db, vectors, library: Library, old_hashes: dict[str, str], embedder: Embedder,
                   cache: EmbeddingCache, chunk_chars: int, report: BuildReport,
                   progress: Progress | None) -> None:
    docs = library.documents
    report.removed = sorted(set(old_hashes) - set(docs))
    changed: list[Document] = []
    for doc_id, doc in sorted(docs.items()):
        if doc_id not in old_hashes:
            report.added.append(doc_id)
            changed.append(doc)
        elif old_hashes[doc_id] != doc.content_hash:
            report.updated.append(doc_id)
            changed.append(doc)
        else:
            report.unchanged += 1

    dead: list[int] = []
    for doc_id in [*report.removed, *(d.id for d in changed if d.id in old_hashes)]:
        dead.extend(_delete_doc(db, doc_id))
    vectors.remove(dead)

    chunks: list[Chunk] = []
    for i, doc in enumerate(changed, 1):
        chunks.extend(chunk_document(doc, library.vocab, chunk_chars))
        if progress:
            progress("chunk", i, len(changed))
    known = cache.get_many(c.hash for c in chunks)
    missing = list({c.hash: (c.passage, c.role) for c in chunks if c.hash not in known}.items())
    report.chunks_embedded = len(missing)
    report.chunks_reused = sum(1 for c in chunks if c.hash in known)
    if missing:
        done = 0

        def step(n: int) -> None:
            nonlocal done
            done += n
            if progress:
                progress("embed", done, len(missing))

        step_size = max(4, embedder.batch_size * 4)
        for start in range(0, len(missing), step_size):  # cache as we go: an interrupted build resumes
            part = missing[start : start + step_size]
            batch = {}
            for role in ("passage", "query"):
                mine = [(h, text) for h, (text, r) in part if r == role]
                fresh = embedder.embed_passages([text for _, text in mine], progress=step, role=role)
                batch.update({h: v for (h, _), v in zip(mine, fresh, strict=True)})
            cache.put_many(batch)
            known.update(batch)

    for doc in changed:
        _insert_doc(db, doc)
    new_ids = []
    for chunk in chunks:
        cur = db.execute("INSERT INTO chunks (doc_id, ordinal, heading, text, hash) VALUES (?,?,?,?,?)",
                         (chunk.doc_id, chunk.ordinal, chunk.heading, chunk.text, chunk.hash))
        db.execute("INSERT INTO chunks_fts (rowid, title, body, meta) VALUES (?,?,?,?)",
                   (cur.lastrowid, chunk.title_terms, chunk.body_terms, chunk.meta_terms))
        new_ids.append(cur.lastrowid)
    if new_ids:
        vectors.add(np.vstack([known[c.hash] for c in chunks]), np.asarray(new_ids, dtype=np.int64))


def _right_sized(db, vectors, cache: EmbeddingCache, dimensions: int, exact_threshold: int):
    """Switch between exact and IVF when the collection crosses the threshold."""
    count = len(vectors)
    wants_exact = count < exact_threshold
    if getattr(vectors, "exact", True) == wants_exact:
        return vectors
    rows = db.execute("SELECT id, hash FROM chunks").fetchall()
    stored = cache.get_many(r[1] for r in rows)
    ids = np.asarray([r[0] for r in rows], dtype=np.int64)
    matrix = np.vstack([stored[r[1]] for r in rows])
    fresh = backend("faiss").create(dimensions, count, exact_threshold=exact_threshold, train=matrix)
    fresh.add(matrix, ids)
    return fresh


def update_index(kb, *, rebuild: bool = False, progress: Progress | None = None) -> BuildReport:
    """Re-read the library of a ``kb.service.KB`` and bring its index in step."""
    library = kb.library(reload=True)
    s = kb.settings
    return build_index(library, s.index_root, kb.embedder, chunk_chars=s.chunk_chars,
                       exact_threshold=s.exact_threshold, rebuild=rebuild, progress=progress)
