"""Retrieval quality on the labelled orders in corpus/eval/queries.yaml: nDCG@10, Recall@10, MRR@10."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kb.document import load_yaml
from kb.errors import KBError


@dataclass(frozen=True)
class LabelledQuery:
    id: str
    text: str
    relevant: dict[str, int]  # doc id → grade (2 = ideal, 1 = useful)
    constraints: dict = field(default_factory=dict)

    @property
    def ideal(self) -> list[str]:
        return [d for d, g in self.relevant.items() if g >= 2]


def load_queries(path: Path, known_ids: set[str] | None = None) -> list[LabelledQuery]:
    """Read the evaluation set; labels naming unknown documents are an error (the set must not rot)."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KBError(f"找不到评测集 {path}") from None
    entries = data.get("queries") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise KBError(f"{path}: 应有 queries 列表")
    queries, problems = [], []
    for i, entry in enumerate(entries, 1):
        qid = str(entry.get("id") or f"#{i}")
        relevant = {str(k): int(v) for k, v in (entry.get("relevant") or {}).items()}
        if not entry.get("text") or not relevant:
            problems.append(f"{qid}: 缺少 text 或 relevant")
            continue
        if known_ids is not None:
            problems.extend(f"{qid}: 未知文档 {d}" for d in relevant if d not in known_ids)
        queries.append(LabelledQuery(qid, str(entry["text"]), relevant, dict(entry.get("constraints") or {})))
    if problems:
        raise KBError(f"评测集有 {len(problems)} 处问题", detail=problems)
    return queries


def dcg(grades: Sequence[int]) -> float:
    return sum((2**g - 1) / math.log2(rank + 1) for rank, g in enumerate(grades, start=1))


def ndcg_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    ideal = dcg(sorted(relevant.values(), reverse=True)[:k])
    return dcg([relevant.get(d, 0) for d in ranking[:k]]) / ideal if ideal else 0.0


def recall_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    wanted = {d for d, g in relevant.items() if g > 0}
    return len(wanted & set(ranking[:k])) / len(wanted) if wanted else 0.0


def mrr_at(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if relevant.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


@dataclass
class Scores:
    name: str
    ndcg: float
    recall: float
    mrr: float
    per_query: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "ndcg@10": round(self.ndcg, 4), "recall@10": round(self.recall, 4),
                "mrr@10": round(self.mrr, 4)}


def score(name: str, queries: Sequence[LabelledQuery], rank: Callable[[LabelledQuery], list[str]],
          k: int = 10) -> Scores:
    """Run ``rank`` on every query and average the three metrics."""
    ndcgs, recalls, mrrs, per = [], [], [], {}
    for query in queries:
        ranking = rank(query)
        ndcgs.append(ndcg_at(ranking, query.relevant, k))
        recalls.append(recall_at(ranking, query.relevant, k))
        mrrs.append(mrr_at(ranking, query.relevant, k))
        per[query.id] = ndcgs[-1]
    return Scores(name, statistics.fmean(ndcgs), statistics.fmean(recalls), statistics.fmean(mrrs), per)


def evaluate_search(searcher, queries: Sequence[LabelledQuery], variants: Mapping[str, dict]) -> list[Scores]:
    """Score search variants: each maps to keyword arguments of ``Searcher.search`` (mode, config)."""
    results = []
    for name, options in variants.items():
        results.append(score(name, queries, lambda q, o=options: [
            h.doc_id for h in searcher.search(q.text, limit=10, **o).hits]))
    return results


@dataclass
class KitScores:
    kits: int
    judged: int  # kits whose order has labelled lectures and cases
    lecture_relevant: float
    case_relevant: float  # share of proposed cases labelled relevant
    on_target: float  # lecture relevant and at least one case relevant
    violations: int
    distinct_lectures: int
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def evaluate_kits(kb, queries: Sequence[LabelledQuery], today) -> KitScores:
    """Build the kit for every labelled order (with its constraints) and check it against the labels."""
    from kb.kit import Order, constraint_violations

    docs = kb.searcher.index().docs
    builder = kb.kit_builder()
    lectures, cases, on_target, judged, violations, chosen, examples = [], [], [], 0, 0, set(), []
    for q in queries:
        c = q.constraints
        order = Order(q.text, formats=list(c.get("formats") or []), duration=c.get("duration"),
                      headcount=c.get("headcount"), audience=list(c.get("audience") or []))
        kit = builder.build(order, today=today)
        broken = constraint_violations(kit, docs)
        violations += len(broken)
        examples.extend(f"{q.id}: {b}" for b in broken)
        kinds = {docs[d].kind for d in q.relevant if d in docs}
        if kit.lecture:
            chosen.add(kit.lecture.doc_id)
        if not {"lecture", "case"} <= kinds:
            continue
        judged += 1
        lecture_ok = bool(kit.lecture and q.relevant.get(kit.lecture.doc_id, 0) > 0)
        case_hits = [q.relevant.get(item.doc_id, 0) > 0 for item in kit.cases]
        lectures.append(lecture_ok)
        cases.extend(case_hits)
        on_target.append(lecture_ok and any(case_hits))
    share = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return KitScores(len(queries), judged, share(lectures), share(cases), share(on_target), violations,
                     len(chosen), examples[:10])
