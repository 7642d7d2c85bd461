"""Search: hybrid ranking, filters, query handling, best passage and why."""

from __future__ import annotations

import pytest

from kb.errors import InvalidFilter, InvalidQuery
from kb.filters import Filters
from kb.fusion import best_per_group, minmax, ranked, rrf, weighted
from kb.index import ASKED, QUESTIONS
from kb.query import MAX_QUERY_CHARS, parse_constraints
from kb.search import SearchConfig
from tests.fakes import HashEmbedder


@pytest.mark.parametrize(
    ("rankings", "k", "expected_order"),
    [
        ([["a", "b", "c"], ["a", "b", "c"]], 60, ["a", "b", "c"]),
        ([["a", "b"], ["b", "c"]], 60, ["b", "a", "c"]),
        ([["x"], []], 60, ["x"]),
    ],
)
def test_rrf_orders_by_summed_reciprocal_ranks(rankings, k, expected_order):
    fused = rrf(rankings, k=k)
    assert ranked(fused) == expected_order
    assert fused[expected_order[0]] == pytest.approx(sum(1 / (k + r.index(expected_order[0]) + 1)
                                                          for r in rankings if expected_order[0] in r))


def test_weighted_and_minmax():
    assert minmax({"a": 2.0, "b": 4.0}) == {"a": 0.0, "b": 1.0}
    assert minmax({"a": 3.0}) == {"a": 1.0}
    fused = weighted([{"a": 1.0, "b": 0.0}, {"b": 10.0, "c": 5.0}], [1.0, 2.0])
    assert fused == {"a": 1.0, "b": 2.0, "c": 0.0}
    assert best_per_group({1: 0.2, 2: 0.9, 3: 0.5}, {1: "d1", 2: "d1", 3: "d2"}) == {"d1": 0.9, "d2": 0.5}


@pytest.mark.parametrize(
    ("text", "duration", "headcount", "local"),
    [
        ("廉洁教育 一小时", 60, None, False),
        ("一个半小时的主题党日 二十人", 90, 20, False),
        ("45分钟 党课", 45, None, False),
        ("半天 参观", 240, None, False),
        ("在楼里搞个活动 十来个人", None, 10, True),
        ("支部人少 活动没法开展", None, 5, False),
        ("清明节带大家去缅怀先烈", None, None, False),
        ("几家小公司 各自一两个人 想合起来", None, None, False),  # each firm's size, not the group's
        ("每家三五个人 一共三十人", None, 30, False),
    ],
)
def test_constraints_are_read_from_the_order(text, duration, headcount, local):
    found = parse_constraints(text)
    assert (found.duration, found.headcount, found.local) == (duration, headcount, local)


def test_hybrid_finds_by_synonym_and_explains(small_kb):
    result = small_kb.searcher.search("清明节带大家去缅怀先烈")
    top = [h.doc_id for h in result.hits[:4]]
    assert "plan-qingming-martyrs-tribute" in top or "site-yuhuatai-martyrs-cemetery" in top
    first = result.hits[0]
    assert any("革命传统" in why for why in first.why)
    assert first.passage and first.chunk_id is not None


def test_best_passage_is_the_matching_section(small_kb):
    hit = small_kb.searcher.search("轮值表 承办月份", limit=1).hits[0]
    assert hit.doc_id == "case-rotating-open-party-day"
    assert "轮值" in hit.passage and hit.heading == "做法"
    assert "轮值" in hit.terms


@pytest.mark.parametrize("mode", ["keyword", "dense", "hybrid"])
def test_each_mode_returns_ranked_documents(small_kb, mode):
    hits = small_kb.searcher.search("廉洁 纪律 警示教育", mode=mode).hits
    assert hits and len({h.doc_id for h in hits}) == len(hits)
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_filters_restrict_results(small_kb):
    vocab = small_kb.vocab
    cases = small_kb.searcher.search("党员 活动", Filters.build(vocab, kind="case"), limit=20).hits
    assert cases and {h.kind for h in cases} == {"case"}
    short = small_kb.searcher.search("党员 活动", Filters.build(vocab, duration=60), limit=20).hits
    assert short and all(h.doc.duration is None or h.doc.duration.min <= 60 for h in short)
    small = small_kb.searcher.search("党员 活动", Filters.build(vocab, headcount=6, kind="case"), limit=20).hits
    assert all(h.doc.headcount.contains(6) for h in small)
    themed = small_kb.searcher.search("党员", Filters.build(vocab, themes=["廉洁教育"]), limit=20).hits
    assert themed and all("廉洁教育" in h.doc.themes for h in themed)


def test_filter_that_matches_nothing_returns_nothing(small_kb):
    hits = small_kb.searcher.search("党员", Filters.build(small_kb.vocab, kind="venue", headcount=99999)).hits
    assert hits == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kind": "essay"}, "kind 的取值“essay”无效，可选：case"),
        ({"themes": ["英烈"]}, "可选：党章党规"),
        ({"formats": "跳舞"}, "formats"),
        ({"duration": "一小时"}, "duration 应是正整数"),
        ({"headcount": -3}, "headcount 应是正整数"),
    ],
)
def test_unknown_filter_values_list_valid_ones(small_kb, values, message):
    with pytest.raises(InvalidFilter, match=message):
        Filters.build(small_kb.vocab, **values)


@pytest.mark.parametrize("text", ["", "   ", "\n\t", "\u200b\u0000"])
def test_empty_queries_are_refused(small_kb, text):
    with pytest.raises(InvalidQuery, match="请输入"):
        small_kb.searcher.search(text)


def test_long_query_is_truncated_with_notice(small_kb):
    result = small_kb.searcher.search("清明缅怀先烈" * 100)
    assert result.notices and str(MAX_QUERY_CHARS) in result.notices[0]
    assert len(result.query.text) == MAX_QUERY_CHARS and result.hits


@pytest.mark.parametrize("text", ["🇨🇳🎉 党课", "שלום 党史", "' OR 1=1; --", '"三会一课" AND NOT', "NEAR(a b)", "ｆｕｌｌ－ｗｉｄｔｈ　党员"])
def test_any_unicode_or_syntax_is_safe(small_kb, text):
    result = small_kb.searcher.search(text)
    assert isinstance(result.hits, list)


def test_json_shape(small_kb):
    data = small_kb.searcher.search("廉洁教育 一小时").to_dict()
    assert data["understood"]["themes"] == ["廉洁教育"]
    hit = data["hits"][0]
    assert {"doc_id", "title", "kind", "why", "passage", "heading", "score"} <= set(hit)


def test_a_noted_question_finds_its_document_but_is_never_the_passage(small_kb):
    index = small_kb.searcher.index()
    doc_id = "case-rotating-open-party-day"
    question = small_kb.library().documents[doc_id].meta["questions"][0]
    assert any(c.heading == ASKED for c in index.doc_chunks(doc_id))
    for mode in ("dense", "hybrid"):
        hit = small_kb.searcher.search(question, mode=mode, limit=1).hits[0]
        assert hit.doc_id == doc_id, mode
        assert hit.heading not in (QUESTIONS, ASKED) and question not in hit.passage
    without = small_kb.searcher.search(question, mode="dense", config=SearchConfig(question_weight=0)).hits
    assert all(h.heading not in (QUESTIONS, ASKED) for h in without)


def test_index_embeds_questions_in_the_query_role(small_library, tmp_path):
    from indexer.build import update_index
    from kb.service import KB
    from kb.settings import Settings

    class Recording(HashEmbedder):
        roles: dict[str, str] = {}

        def embed_batch(self, texts, role):
            self.roles.update(dict.fromkeys(texts, role))
            return super().embed_batch(texts, role)

    kb = KB(Settings(library=small_library, data_dir=tmp_path / "data"), embedder=Recording())
    update_index(kb)
    doc = kb.library().documents["case-rotating-open-party-day"]
    assert Recording.roles[f"{doc.title}：{doc.meta['questions'][0]}"] == "query"
    assert Recording.roles[f"组织生活案例《{doc.title}》\n" + "\n".join(doc.meta["questions"])] == "passage"
