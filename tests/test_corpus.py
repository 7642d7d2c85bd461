"""The bundled library: counts per kind, substance, no near-duplicates, a sound evaluation set."""

from __future__ import annotations

import re
from collections import Counter
from itertools import combinations

import pytest

from kb.calendar import check_calendar
from kb.document import body_chars
from kb.evaluate import load_queries
from kb.library import load_library
from kb.text import tokens
from tests.conftest import CORPUS

MINIMUM = {"case": 50, "lecture": 30, "site": 20, "plan": 25, "venue": 10, "policy": 5}


@pytest.fixture(scope="module")
def library():
    return load_library(CORPUS)


def test_counts_per_kind(library):
    published = [d for d in library.documents.values() if d.published]
    counts = Counter(d.kind for d in published)
    assert len(published) >= 160
    assert {k: counts[k] for k in MINIMUM if counts[k] < MINIMUM[k]} == {}
    assert library.problems == []


def test_every_format_has_a_plan(library):
    plans = [d for d in library.documents.values() if d.kind == "plan"]
    covered = {f for d in plans for f in d.formats}
    assert set(library.vocab.names("formats")) <= covered


def test_substance_and_markings(library):
    for doc in library.documents.values():
        assert body_chars(doc.body) >= 400, doc.id
        if doc.kind in ("case", "venue"):
            assert "示例" in doc.source, doc.id  # invented branches and venues say so
        if doc.kind == "site":
            hedge = re.search(r"以[^。，]{0,10}公告为准", doc.body + doc.meta.get("booking_note", ""))
            assert hedge, doc.id  # booking details are hedged: "以场馆公告为准"
        if doc.kind == "lecture":
            assert re.search(r"讨论|研讨", doc.body) and doc.duration.min <= 15 <= 45 <= doc.duration.max, doc.id


def shingles(text: str, n: int = 5) -> set[str]:
    clean = re.sub(r"\s+", "", text)
    return {clean[i : i + n] for i in range(0, max(0, len(clean) - n + 1))}


def test_no_two_documents_are_near_duplicates(library):
    docs = list(library.documents.values())
    sets = {d.id: shingles(d.body) for d in docs}
    close = []
    for a, b in combinations(docs, 2):
        sa, sb = sets[a.id], sets[b.id]
        jaccard = len(sa & sb) / max(1, len(sa | sb))
        if jaccard > 0.3:
            close.append((a.id, b.id, round(jaccard, 2)))
    assert close == []


def test_the_calendar_is_valid(library):
    calendar, problems = check_calendar(CORPUS / "calendar.yaml", library.vocab)
    assert problems == [] and len(calendar.events) >= 12


def test_evaluation_set(library):
    queries = load_queries(CORPUS / "eval" / "queries.yaml", set(library.documents))
    assert len(queries) >= 100
    assert all(set(q.relevant.values()) <= {1, 2} and q.ideal for q in queries)
    words = library.vocab.all_words()
    no_shared = 0
    for q in queries:
        terms = {t for t in tokens(q.text, words) if len(t) >= 2}
        if not any(t in library.documents[d].title for t in terms for d in q.ideal):
            no_shared += 1
    assert no_shared / len(queries) >= 0.5
    assert sum(1 for q in queries if q.constraints) >= 20
