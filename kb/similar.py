"""Documents like this one: same substance (vectors), same context (industry, size, form), well rated."""

from __future__ import annotations

from kb.errors import DocumentNotFound
from kb.filters import Filters
from kb.fusion import best_per_group, ranked, rrf
from kb.index import DocRecord
from kb.search import Hit, Searcher
from kb.store import Rating

CONTEXT_POOL = 20
CONTEXT_WEIGHT = 0.7


def size_band(size) -> str | None:
    if not isinstance(size, int):
        return None
    return "3 人以下" if size <= 3 else "4–10 人" if size <= 10 else "11–50 人" if size <= 50 else "50 人以上"


def context_match(doc: DocRecord, other: DocRecord) -> tuple[float, list[str]]:
    """How alike two documents' situations are, and the words that say so."""
    score, why = 0.0, []
    industry = doc.meta.get("industry")
    if industry and industry == other.meta.get("industry"):
        score += 2
        why.append(f"同为{industry}")
    band = size_band(doc.meta.get("branch_size"))
    if band and band == size_band(other.meta.get("branch_size")):
        score += 1
        why.append(f"支部规模相近（{band}）")
    if doc.meta.get("branch_type") and doc.meta.get("branch_type") == other.meta.get("branch_type"):
        score += 0.5
        why.append(f"同为{doc.meta['branch_type']}")
    shared_formats = [f for f in other.formats if f in doc.formats]
    if shared_formats:
        score += min(2, len(shared_formats))
        why.append("同样采用" + "、".join(shared_formats[:3]))
    shared_themes = [t for t in other.themes if t in doc.themes]
    if shared_themes:
        score += min(2, len(shared_themes))
        why.append("主题相同：" + "、".join(shared_themes[:3]))
    return score, why


def similar(searcher: Searcher, doc_id: str, *, limit: int = 5, kind: str | None = None,
            ratings: dict[str, Rating] | None = None) -> list[Hit]:
    """Documents like ``doc_id`` (itself excluded). Cases default to other cases."""
    index = searcher.index()
    doc = index.docs.get(doc_id)
    if doc is None:
        raise DocumentNotFound(f"找不到文档“{doc_id}”")
    kinds = (kind,) if kind else (("case",) if doc.kind == "case" else ())
    admitted, allowed = searcher.admitted(Filters(kind=kinds))
    admitted.discard(doc_id)
    vector = index.doc_vector(doc_id)
    found = index.dense(vector, 200, allowed) if vector is not None else []
    owner = {cid: c.doc_id for cid, c in index.chunks({cid for cid, _ in found}, text=False).items()}
    dense_docs = {d: s for d, s in best_per_group(dict(found), owner).items() if d in admitted}
    # Substance first: the context (industry, size, form) re-orders the documents alike in content.
    alike = ranked(dense_docs)[:CONTEXT_POOL]
    contexts = {d: context_match(doc, index.docs[d]) for d in admitted}
    context_rank = ranked({d: contexts[d][0] for d in alike if contexts[d][0] > 0})
    fused = rrf([ranked(dense_docs), context_rank], weights=[1.0, CONTEXT_WEIGHT])
    ratings = ratings or {}
    for d in list(fused):
        if d in ratings:
            fused[d] *= ratings[d].factor
    hits = []
    for d in ranked(fused)[:limit]:
        other = index.docs[d]
        why = list(contexts[d][1])
        if d in ratings and ratings[d].smoothed > ratings[d].prior and ratings[d].count >= 2:
            why.append(f"{ratings[d].count} 位书记用过，平均 {ratings[d].mean:.1f} 分")
        if not why:
            why.append("内容相近")
        hits.append(Hit(d, other.title, other.kind, fused[d], other.summary, "概要", None, why, [], other))
    return hits
