"""Structure-following chunker: headings and regulation articles are boundaries, never crossed."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kb.document import Document
from kb.index import ASKED, QUESTIONS, Chunk
from kb.schema import KINDS
from kb.text import tokens
from kb.vocab import Vocabulary

CHUNKER_VERSION = 5
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_NUM = "一二三四五六七八九十百零〇两"
ARTICLE = re.compile(rf"^\s*(第[{_NUM}\d]+条)[\s　:：]*(.*)$")
CHAPTER = re.compile(rf"^(第[{_NUM}\d]+[章节编])\s*(.*)$")
_SENTENCE_END = re.compile(r"(?<=[。！？；!?;])")


@dataclass
class _Block:
    section: str  # the heading path, e.g. "第二章 组织设置"
    text: str
    article: str = ""  # the regulation article this paragraph belongs to, e.g. "第五条"
    starts_article: bool = False


def _blocks(body: str) -> list[_Block]:
    """Split a Markdown body into paragraphs, each labelled with its section and article."""
    path: dict[int, str] = {}
    blocks: list[_Block] = []
    buffer: list[str] = []
    article, starts = "", False

    def flush() -> None:
        nonlocal starts
        text = "\n".join(buffer).strip()
        buffer.clear()
        if text:
            blocks.append(_Block(" · ".join(path[k] for k in sorted(path)), text, article, starts))
            starts = False

    for line in body.splitlines():
        heading = _HEADING.match(line)
        title = heading.group(2).strip() if heading else ""
        art = ARTICLE.match(title if heading else line)
        if art and (heading or not line.startswith((" ", "\t"))):
            # "## 第五条 正文……" or a bare "第五条 ……" line: an article starts, its text included
            flush()
            article, starts = art.group(1), True
            buffer.append((title if heading else line).strip())
            continue
        if heading:
            flush()
            level = len(heading.group(1))
            path = {lvl: t for lvl, t in path.items() if lvl < level}
            path[level] = title
            article = ""
            continue
        if not line.strip():
            flush()
            continue
        buffer.append(line.rstrip())
    flush()
    return blocks


def _split_long(text: str, limit: int) -> list[str]:
    """Split an over-long paragraph at sentence ends, then hard-wrap what is still too long."""
    pieces: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(text) if s):
        if current and len(current) + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current += sentence
    if current:
        pieces.append(current)
    return [p[i : i + limit] for p in pieces for i in range(0, len(p), limit)]


def _pack(blocks: list[_Block], target: int) -> list[tuple[str, str]]:
    """Group consecutive blocks of one section into (heading, text) chunks of about ``target`` chars.

    A regulation article starts a new chunk once the current one is half full; the heading names
    the section and the article range, so a hit can be cited as "第二章 组织设置 · 第五条—第六条".
    """
    chunks: list[tuple[str, str]] = []
    section, parts, articles = "", [], []
    limit = int(target * 1.5)

    def size() -> int:
        return sum(len(p) for p in parts)

    def emit() -> None:
        if parts:
            label = f"{articles[0]}—{articles[-1]}" if len(articles) > 1 else "".join(articles)
            chunks.append((" · ".join(x for x in (section, label) if x), "\n".join(parts)))
        parts.clear()
        articles.clear()

    for block in blocks:
        if parts and (block.section != section
                      or (size() + len(block.text) > target and size() >= target // 4)
                      or (block.starts_article and size() >= target // 2)):
            emit()
        section = block.section
        if block.article and block.article not in articles:
            articles.append(block.article)
        for piece in _split_long(block.text, limit):
            if parts and size() + len(piece) > limit:
                emit()
                if block.article:
                    articles.append(block.article)
            parts.append(piece)
    emit()
    return chunks


def _describe(doc: Document, vocab: Vocabulary) -> str:
    lines = [f"摘要：{doc.summary}", f"主题：{'、'.join(doc.themes)}"]
    if doc.formats:
        lines.append(f"活动形式：{'、'.join(doc.formats)}")
    if doc.audience:
        lines.append(f"受众：{'、'.join(doc.audience)}")
    if doc.duration:
        lines.append(f"时长：{doc.duration} 分钟")
    if doc.headcount:
        lines.append(f"人数：{doc.headcount} 人")
    labels = {"industry": "行业", "branch_type": "支部类型", "branch_size": "党员人数", "address": "地址",
              "city": "城市", "district": "区", "capacity": "容纳人数", "issuer": "发布机关"}
    lines.extend(f"{label}：{doc.meta[key]}" for key, label in labels.items() if doc.meta.get(key))
    return "\n".join(lines)


def _meta_terms(doc: Document, vocab: Vocabulary) -> list[str]:
    words = [KINDS[doc.kind]]
    for facet, values in (("themes", doc.themes), ("formats", doc.formats), ("audience", doc.audience)):
        for value in values:
            term = vocab.term(facet, value)
            words.extend(term.words if term else [value])
    words.extend(doc.tags)
    words.extend(str(doc.meta[k]) for k in ("industry", "branch_type", "district", "city") if doc.meta.get(k))
    return words


def chunk_document(doc: Document, vocab: Vocabulary, target_chars: int = 360) -> list[Chunk]:
    """Chunks for one document: a summary card first, then the body by structure."""
    extra = vocab.all_words()
    header = f"{KINDS[doc.kind]}《{doc.title}》"
    title_terms = " ".join(tokens(doc.title, extra))
    card = _describe(doc, vocab)
    chunks = [Chunk(
        doc_id=doc.id, ordinal=0, heading="概要", text=card, passage=f"{header}\n{card}",
        title_terms=title_terms, body_terms=" ".join(tokens(card, extra)),
        meta_terms=" ".join(dict.fromkeys(t for w in _meta_terms(doc, vocab) for t in tokens(w, extra))),
    )]
    for ordinal, (heading, text) in enumerate(_pack(_blocks(doc.body), target_chars), start=1):
        context = f"{header} {heading}".strip()
        chunks.append(Chunk(
            doc_id=doc.id, ordinal=ordinal, heading=heading, text=text, passage=f"{context}\n{text}",
            title_terms=title_terms, body_terms=" ".join(tokens(f"{heading}\n{text}", extra)),
        ))
    questions = doc.meta.get("questions") or []
    if questions:
        # The curators' "how secretaries ask for this" (never shown as the passage): all of them as
        # one chunk for the keyword search, and each embedded as a query, since it is one.
        text = "\n".join(questions)
        chunks.append(Chunk(
            doc_id=doc.id, ordinal=len(chunks), heading=QUESTIONS, text=text, passage=f"{header}\n{text}",
            title_terms=title_terms, body_terms=" ".join(tokens(text, extra)),
        ))
        first = len(chunks)
        chunks.extend([Chunk(doc_id=doc.id, ordinal=first + i, heading=ASKED, text=question,
                             passage=f"{doc.title}：{question}", role="query")
                       for i, question in enumerate(questions)])
    return chunks
