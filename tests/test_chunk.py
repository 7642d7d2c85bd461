"""The chunker follows structure: headings and regulation articles are boundaries."""

from __future__ import annotations

from dataclasses import replace

import pytest

from indexer.chunk import _blocks, _pack, chunk_document
from kb.document import parse_document
from kb.index import ASKED, QUESTIONS
from kb.vocab import load_vocabulary
from tests.conftest import CORPUS, REALDOCS, front_matter, render


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("## 背景\n\n甲。\n\n## 做法\n\n乙。", [("背景", "甲。"), ("做法", "乙。")]),
        ("## 做法\n\n### 第一步\n\n甲。\n\n### 第二步\n\n乙。",
         [("做法 · 第一步", "甲。"), ("做法 · 第二步", "乙。")]),
        ("## 第一章 总则\n\n## 第一条 为了甲。\n\n## 第二条 乙。",
         [("第一章 总则 · 第一条—第二条", "第一条 为了甲。\n第二条 乙。")]),
        ("## 第二章\n\n第三条 甲。\n\n（一）子项。\n\n第四条 乙。",
         [("第二章 · 第三条—第四条", "第三条 甲。\n（一）子项。\n第四条 乙。")]),
        ("没有标题的一段。", [("", "没有标题的一段。")]),
    ],
)
def test_pack_follows_structure(markdown, expected):
    assert _pack(_blocks(markdown), 360) == expected


def test_long_articles_start_their_own_chunk():
    long = "甲" * 300
    chunks = _pack(_blocks(f"## 第一章\n\n第一条 {long}\n\n第二条 {long}\n\n第三条 短。"), 360)
    assert [h for h, _ in chunks] == ["第一章 · 第一条", "第一章 · 第二条", "第一章 · 第三条"]


def test_very_long_paragraph_is_split_at_sentences():
    text = "。".join(["这是一句比较长的话用来测试切分"] * 80) + "。"
    chunks = _pack(_blocks(f"## 节\n\n{text}"), 200)
    assert len(chunks) > 3
    assert all(len(t) <= 300 for _, t in chunks)
    assert all(t.endswith("。") for _, t in chunks[:-1])
    assert "".join(t for _, t in chunks) == text


def test_chunks_carry_title_and_metadata():
    vocab = load_vocabulary(CORPUS)
    doc, problems = parse_document(render(front_matter()), CORPUS / "case" / "case-sample.md", vocab)
    assert not problems or all(p.field == "id" for p in problems)
    doc, _ = parse_document(render(front_matter()), "case-sample.md", vocab)
    chunks = chunk_document(doc, vocab)
    assert chunks[0].heading == "概要" and "雨花英烈精神" in chunks[0].text
    assert all(c.passage.startswith("组织生活案例《示例支部清明节缅怀英烈》") for c in chunks)
    assert "先烈" in chunks[0].meta_terms.split()  # theme synonyms indexed with the document
    assert [c.heading for c in chunks[1:]] == ["背景", "做法", "成效", "可借鉴之处与注意事项"]


def test_real_regulation_is_chunked_by_article():
    vocab = load_vocabulary(CORPUS)
    text = (REALDOCS / "zhibu_gongzuo_tiaoli_shixing_2018.md").read_text(encoding="utf-8")
    fm = front_matter(id="policy-zhibu", kind="policy", issuer="中共中央", issued="2018-10-28",
                      formats=None, duration_minutes=None, headcount=None, branch_type=None,
                      industry=None, branch_size=None)
    doc, problems = parse_document(render(fm, text), "policy-zhibu.md", vocab)
    assert problems == []
    chunks = chunk_document(doc, vocab)
    article_chunks = [c for c in chunks if "第五条" in c.heading]
    assert article_chunks and article_chunks[0].heading.startswith("第二章 组织设置")
    assert "联合党支部" in "".join(c.text for c in article_chunks)
    # every article of the regulation is in exactly one chunk's text
    for number in ("第一条", "第十九条", "第三十七条"):
        assert sum(c.text.count(number + " ") for c in chunks) == 1, number


def test_questions_are_one_keyword_chunk_and_each_a_query():
    vocab = load_vocabulary(CORPUS)
    asked = ["楼里的年轻人不爱来开会", "清明想带大家出去走走"]
    doc, problems = parse_document(render(front_matter(questions=asked)), "case-sample.md", vocab)
    assert problems == []
    chunks = chunk_document(doc, vocab)
    combined = [c for c in chunks if c.heading == QUESTIONS]
    assert len(combined) == 1 and combined[0].text == "\n".join(asked) and combined[0].role == "passage"
    assert "年轻人" in combined[0].body_terms.split()
    single = [c for c in chunks if c.heading == ASKED]
    assert [c.text for c in single] == asked
    assert all(c.role == "query" and not c.body_terms for c in single)
    assert single[0].passage == f"示例支部清明节缅怀英烈：{asked[0]}"
    # the same text embedded in another role is another vector: the cache must not mix them up
    assert replace(single[0], role="passage").hash != single[0].hash
    assert [c.ordinal for c in chunks] == list(range(len(chunks)))


def test_too_many_questions_are_refused():
    vocab = load_vocabulary(CORPUS)
    doc, problems = parse_document(render(front_matter(questions=[f"问法{i}" for i in range(21)])),
                                   "case-sample.md", vocab)
    assert doc is None and [(p.field, p.message) for p in problems] == [("questions", "最多 20 条，实际 21 条")]
