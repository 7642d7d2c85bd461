"""Hybrid search: dense (e5 + FAISS) and keyword (BM25 over jieba terms) fused per document."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kb.embed import Embedder
from kb.filters import Filters
from kb.fusion import best_per_group, ranked, rrf, weighted
from kb.index import ASKED, QUESTIONS, ROW_BUDGET, ChunkRecord, DocRecord, Index
from kb.query import Query, understand
from kb.text import tokens
from kb.vocab import Vocabulary

MODES = ("hybrid", "keyword", "dense")
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kb-embed")
RESULT_CACHE = 1024
EXPANSION_TERMS = 8  # the lexicon's first formal terms searched as keywords


def _done(value) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


@dataclass(frozen=True)
class SearchConfig:
    """The knobs `kb eval` compares; the defaults are the measured best (see README)."""

    fusion: str = "weighted"  # weighted | rrf
    rrf_k: float = 60.0
    dense_weight: float = 1.0
    keyword_weight: float = 1.2
    vocab_weight: float = 1.0  # the vote of documents tagged with the themes/formats the query names
    pool: int = 100  # chunks taken from each method before fusion
    expand_keyword: float = 1.0  # weight of a keyword search for the lexicon's formal terms (0: off)
    expand_dense: int = 0  # embed the query with this many of its formal terms (0: off; each costs model time)
    question_weight: float = 1.0  # the query's likeness to the questions curators noted on a document
    row_budget: int = ROW_BUDGET  # matched rows a keyword query may score (bounds its cost at scale)


@dataclass
class Hit:
    doc_id: str
    title: str
    kind: str
    score: float
    passage: str
    heading: str
    chunk_id: int | None
    why: list[str]
    terms: list[str]
    doc: DocRecord

    def to_dict(self) -> dict:
        return {
            "doc_id": self.doc_id, "title": self.title, "kind": self.kind, "score": round(self.score, 5),
            "passage": self.passage, "heading": self.heading, "why": self.why, "terms": self.terms,
            "summary": self.doc.summary, "themes": self.doc.themes, "formats": self.doc.formats,
            "duration_minutes": self.doc.to_dict()["duration_minutes"],
            "headcount": self.doc.to_dict()["headcount"],
        }


@dataclass
class SearchResult:
    query: Query
    hits: list[Hit]
    filters: Filters
    mode: str
    notices: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "query": self.query.text, "mode": self.mode, "filters": self.filters.to_dict(),
            "notices": self.notices, "understood": {
                "themes": list(self.query.themes), "formats": list(self.query.formats),
                "audience": list(self.query.audience), "terms": self.query.terms,
            },
            "hits": [h.to_dict() for h in self.hits],
        }


class Searcher:
    """Finds documents. Reloads the index by itself when a new build is swapped in."""

    def __init__(self, index_root: Path, embedder: Embedder, vocab: Vocabulary,
                 config: SearchConfig | None = None):
        self.index_root = index_root
        self.embedder = embedder
        self.vocab = vocab
        self.config = config or SearchConfig()
        self._index: Index | None = None
        self._target: str | None = None
        self._lock = threading.Lock()
        self._vectors: dict[str, object] = {}
        self._results: OrderedDict = OrderedDict()
        self._understood: dict[str, Query] = {}
        self._filtered: dict[Filters, tuple] = {}
        self._filtered_for: Index | None = None

    def index(self) -> Index:
        link = self.index_root / "current"
        try:
            target = os.readlink(link)
        except OSError:
            target = None
        with self._lock:
            if self._index is None or target != self._target:
                fresh = Index.open(self.index_root, expected_model=self.embedder.model_id)
                self._index, self._target = fresh, target
            return self._index

    def admitted(self, filters: Filters) -> tuple[set[str], list[int] | None]:
        """Ids of documents that pass the filters, and their chunk ids (None when none is filtered out)."""
        ids, chunk_ids = self._admitted(filters, self.index())
        return set(ids), None if chunk_ids is None else list(chunk_ids)

    def _admitted(self, filters: Filters, index: Index) -> tuple[frozenset[str], frozenset[int] | None]:
        """As ``admitted``, remembered per index build: a kit filters by the same kinds every time."""
        with self._lock:
            if self._filtered_for is not index:  # a new build: the remembered sets are stale
                self._filtered, self._filtered_for = {}, index
            known = self._filtered.get(filters)
        if known is not None:
            return known
        if filters == Filters():  # the common case: everything published
            ids = frozenset(index.published)
        else:
            ids = frozenset(d.id for d in index.docs.values() if filters.admits(d))
        known = (ids, None if len(ids) == len(index.docs) else frozenset(index.chunk_ids_for(ids)))
        with self._lock:
            if self._filtered_for is index and len(self._filtered) < 256:
                self._filtered[filters] = known
        return known

    def search(self, text: str, filters: Filters | None = None, *, limit: int = 10, mode: str = "hybrid",
               boosts: Mapping[str, float] | None = None, factors: Mapping[str, float] | None = None,
               exclude: Collection[str] = (),
               config: SearchConfig | None = None) -> SearchResult:
        """Rank documents for a query. ``boosts`` (doc id → weight, in RRF units) add to a document's
        score, e.g. for an upcoming anniversary; ``factors`` multiply it, e.g. for its ratings."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode}")
        cfg = config or self.config
        filters = filters or Filters()
        index = self.index()
        key = None
        if not boosts and not factors:  # plain searches are deterministic: remember recent ones
            key = (text, filters, limit, mode, cfg, tuple(exclude), self._target)
            with self._lock:
                if key in self._results:
                    self._results.move_to_end(key)
                    return self._results[key]
        result = self._search(text, filters, limit, mode, boosts, factors, exclude, cfg, index)
        if key is not None:
            with self._lock:
                self._results[key] = result
                while len(self._results) > RESULT_CACHE:
                    self._results.popitem(last=False)
        return result

    def _search(self, text, filters, limit, mode, boosts, factors, exclude, cfg, index) -> SearchResult:
        query = self.understand(text)
        admitted, allowed = self._admitted(filters, index)
        if exclude:
            admitted = admitted - set(exclude)

        keyword: list[tuple[int, float]] = []
        dense: list[tuple[int, float]] = []
        searchable = allowed is None or bool(allowed)
        # The model (C, outside the GIL) embeds the query while SQLite runs the keyword search.
        dense_text = query.text
        if cfg.expand_dense and query.expansions:
            dense_text = f"{query.text}（{'、'.join(query.expansions[:cfg.expand_dense])}）"
        vector = None
        if mode != "keyword" and searchable:
            known = self._remembered_vector(dense_text)
            # a kit searches five times with one query text: only the first needs the model
            vector = _pool.submit(self.query_vector, dense_text) if known is None else _done(known)
        expanded_job = None
        if mode == "hybrid" and cfg.expand_keyword and query.expansions and searchable:
            extra = [t for e in query.expansions[:EXPANSION_TERMS] for t in tokens(e, self.vocab.all_words())]
            expanded_job = _pool.submit(index.keyword, extra, cfg.pool, allowed, cfg.row_budget)
        if mode in ("hybrid", "keyword") and searchable:
            keyword = index.keyword([*query.terms, *query.themes, *query.formats], cfg.pool, allowed, cfg.row_budget)
        expanded: list[tuple[int, float]] = expanded_job.result() if expanded_job else []
        if vector is not None:
            dense = index.dense(vector.result(), cfg.pool * 2, allowed)
        chunks = index.chunks({cid for cid, _ in keyword + dense}, text=False)
        # A question noted on a document is compared query to query: its own ranking, not the passages'.
        asked = [(cid, s) for cid, s in dense if chunks[cid].heading == ASKED]
        dense = [(cid, s) for cid, s in dense if chunks[cid].heading != ASKED][: cfg.pool]
        owner = {cid: c.doc_id for cid, c in chunks.items()}
        kw_docs = {d: s for d, s in best_per_group(dict(keyword), owner).items() if d in admitted}
        owner.update({cid: c.doc_id for cid, c in index.chunks({cid for cid, _ in expanded} - set(owner), text=False).items()})
        expanded_docs = {d: s for d, s in best_per_group(dict(expanded), owner).items() if d in admitted}
        dense_docs = {d: s for d, s in best_per_group(dict(dense), owner).items() if d in admitted}
        asked_docs = {d: s for d, s in best_per_group(dict(asked), owner).items() if d in admitted}

        rankings, weights, scores = [], [], []
        if mode in ("hybrid", "dense"):
            rankings.append(ranked(dense_docs)), weights.append(cfg.dense_weight), scores.append(dense_docs)
        if asked_docs and cfg.question_weight:
            rankings.append(ranked(asked_docs)), weights.append(cfg.question_weight), scores.append(asked_docs)
        if mode in ("hybrid", "keyword"):
            rankings.append(ranked(kw_docs)), weights.append(cfg.keyword_weight), scores.append(kw_docs)
        if expanded_docs:
            rankings.append(ranked(expanded_docs)), weights.append(cfg.expand_keyword), scores.append(expanded_docs)
        vocab_docs = self._vocab_votes(query, index, admitted, dense_docs) if mode == "hybrid" else {}
        if vocab_docs and cfg.vocab_weight:
            rankings.append(ranked(vocab_docs)), weights.append(cfg.vocab_weight), scores.append(vocab_docs)
        if cfg.fusion == "weighted" and mode == "hybrid":
            fused = weighted(scores, weights)
            unit = 1.0
        else:
            fused = rrf(rankings, k=cfg.rrf_k, weights=weights)
            unit = 1.0 / (cfg.rrf_k + 1)
        for doc_id, weight in (boosts or {}).items():
            if doc_id in fused or (doc_id in admitted and weight > 0 and doc_id in vocab_docs):
                fused[doc_id] = fused.get(doc_id, 0.0) + weight * unit

        for doc_id, factor in (factors or {}).items():
            if doc_id in fused:
                fused[doc_id] *= factor

        chunk_rank = rrf([ranked(dict(dense)), ranked(dict(keyword))])
        passages: dict[str, list[int]] = {}  # a document's matched chunks that may be quoted
        for cid, c in chunks.items():
            if cid in chunk_rank and c.heading not in (QUESTIONS, ASKED):
                passages.setdefault(c.doc_id, []).append(cid)
        top = ranked(fused)[:limit]
        best = {d: max(passages[d], key=lambda cid: (chunk_rank[cid], -cid)) for d in top if d in passages}
        texts = index.chunks(best.values())
        hits = [self._hit(doc_id, fused[doc_id], query, index, texts.get(best.get(doc_id)), dense_docs, kw_docs)
                for doc_id in top]
        return SearchResult(query, hits, filters, mode, list(query.notices))

    @staticmethod
    def _vocab_votes(query: Query, index: Index, admitted: set[str],
                     dense_docs: Mapping[str, float]) -> dict[str, float]:
        """Documents tagged with a theme or format the query names, most matches first."""
        votes: dict[str, float] = {}
        for table, named, weight in ((index.by_theme, query.themes, 2.0), (index.by_format, query.formats, 1.0)):
            for name in named:
                for doc_id in table.get(name, set()) & admitted:
                    votes[doc_id] = votes.get(doc_id, 0.0) + weight
        return {d: v + 0.5 * dense_docs.get(d, 0.0) for d, v in votes.items()}

    def _hit(self, doc_id: str, score: float, query: Query, index: Index, best: ChunkRecord | None,
             dense_docs, kw_docs) -> Hit:
        doc = index.docs[doc_id]
        if best is None:  # found by its questions or its tags alone: quote the summary card
            card = index.doc_chunks(doc_id)
            best = card[0] if card else None
        passage = best.text if best else doc.summary
        why, terms = explain(query, doc, passage, in_dense=doc_id in dense_docs, in_keyword=doc_id in kw_docs)
        return Hit(doc_id, doc.title, doc.kind, score, passage, best.heading if best else "",
                   best.id if best else None, why, terms, doc)

    def understand(self, text: str) -> Query:
        """What the query says (terms, themes, lexicon expansions), remembered: a kit asks five times."""
        with self._lock:
            known = self._understood.get(text)
        if known is None:
            known = understand(text, self.vocab)
            with self._lock:
                self._understood[text] = known
                while len(self._understood) > RESULT_CACHE:
                    self._understood.pop(next(iter(self._understood)))
        return known

    def clear_caches(self) -> None:
        """Forget remembered results and query vectors (benchmarks measure the uncached cost)."""
        with self._lock:
            self._results.clear()
            self._vectors.clear()
            self._understood.clear()

    def _remembered_vector(self, text: str):
        with self._lock:
            return self._vectors.get(text)

    def query_vector(self, text: str):
        """The query's embedding, remembered for repeated queries (kits search several times)."""
        cached = self._remembered_vector(text)
        if cached is None:
            cached = self.embedder.embed_query(text)
            with self._lock:
                self._vectors[text] = cached
                while len(self._vectors) > 512:
                    self._vectors.pop(next(iter(self._vectors)))
        return cached


def explain(query: Query, doc: DocRecord, passage: str, *, in_dense: bool, in_keyword: bool) -> tuple[list[str], list[str]]:
    """A short, human "why": the themes and formats the order named, the words found."""
    why: list[str] = []
    for theme in doc.themes:
        if theme in query.themes:
            words = [w for w in query.themes[theme] if w != theme]
            why.append(f"主题“{theme}”" + (f"（{'、'.join(words[:3])}）" if words else ""))
    for fmt in doc.formats:
        if fmt in query.formats:
            why.append(f"形式“{fmt}”")
    haystack = f"{doc.title}\n{doc.summary}\n{passage}".lower()
    terms = [t for t in dict.fromkeys(query.terms) if len(t) >= 2 and t in haystack]
    if terms:
        why.append("命中：" + "、".join(terms[:6]))
    if in_dense and not terms and not why:
        why.append("内容语义相近")
    return why, terms
