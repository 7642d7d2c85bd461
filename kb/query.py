"""Understanding what a secretary typed: normalised text, terms, vocabulary mentions, constraints."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from kb.errors import InvalidQuery
from kb.text import tokens
from kb.vocab import Vocabulary

MAX_QUERY_CHARS = 200
_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUMBER = r"[\d零〇一二两三四五六七八九十百半]+"


def chinese_number(text: str) -> float | None:
    """'二十' → 20, '一百二' → 120, '45' → 45, '半' → 0.5, '一个半' is handled by callers."""
    text = text.strip()
    if not text:
        return None
    if text.isdigit():
        return float(text)
    if text == "半":
        return 0.5
    total, current = 0, 0
    for char in text:
        if char in _DIGITS:
            current = _DIGITS[char]
        elif char == "十":
            total += (current or 1) * 10
            current = 0
        elif char == "百":
            total += (current or 1) * 100
            current = 0
        else:
            return None
    return float(total + current)


@dataclass
class Constraints:
    """Hard limits read from the order text or given explicitly."""

    duration: int | None = None  # minutes available
    headcount: int | None = None  # people expected
    local: bool = False  # must happen in the building / office (no travel)
    found: list[str] = field(default_factory=list)  # the phrases that set them, for the "why"


def parse_constraints(text: str) -> Constraints:
    """Read '一小时', '45分钟', '半天', '二十人', '在楼里' and the like from an order."""
    found = Constraints()
    hours = re.search(rf"({_NUMBER})\s*个?\s*(半)?\s*(小时|钟头)", text)
    minutes = re.search(rf"({_NUMBER})\s*分钟", text)
    if minutes and (value := chinese_number(minutes.group(1))):
        found.duration = int(value)
        found.found.append(minutes.group(0))
    elif hours and (value := chinese_number(hours.group(1))):
        found.duration = int(value * 60 + (30 if hours.group(2) else 0))
        found.found.append(hours.group(0))
    elif match := re.search(r"半天|半日", text):
        found.duration = 240  # half a working day
        found.found.append(match.group(0))
    elif match := re.search(r"一天|全天|一整天", text):
        found.duration = 480
        found.found.append(match.group(0))
    elif match := re.search(r"午休|午间|中午", text):
        found.duration = 40
        found.found.append(match.group(0))
    # "二十人" counts the group; "各自一两个人", "每家三五个人" count each unit, not the group
    people = next((m for m in re.finditer(rf"({_NUMBER})\s*(?:来)?\s*(?:个)?\s*(?:人|名党员|位|名)", text)
                   if not re.search(r"[各每]", text[max(0, m.start() - 3):m.start()])), None)
    if people and (value := chinese_number(people.group(1))) and value >= 1:
        found.headcount = int(value)
        found.found.append(people.group(0))
    elif match := re.search(r"人少|人不多|人数少|就几个人|几个党员", text):
        found.headcount = 5
        found.found.append(match.group(0))
    if match := re.search(r"楼里|楼内|办公室|会议室|不出门|不外出|公司里|本楼|楼宇内", text):
        found.local = True
        found.found.append(match.group(0))
    return found


@dataclass
class Query:
    text: str
    terms: list[str]
    themes: dict[str, list[str]]  # theme → the words of the query that named it
    formats: dict[str, list[str]]
    audience: dict[str, list[str]]
    constraints: Constraints
    notices: list[str] = field(default_factory=list)
    expansions: list[str] = field(default_factory=list)  # formal terms for the colloquial words used


def normalise(text: str) -> tuple[str, list[str]]:
    """NFKC, collapsed whitespace, no control characters; long input truncated with a notice."""
    if not isinstance(text, str):
        raise InvalidQuery("查询内容应是文本")
    clean = unicodedata.normalize("NFKC", text)
    clean = "".join(c if unicodedata.category(c)[0] != "C" else " " for c in clean)
    clean = re.sub(r"\s+", " ", clean).strip()
    if not clean:
        raise InvalidQuery("请输入要查找的内容，例如“清明节带大家去缅怀先烈”")
    notices = []
    if len(clean) > MAX_QUERY_CHARS:
        clean = clean[:MAX_QUERY_CHARS]
        notices.append(f"查询内容过长，已只使用前 {MAX_QUERY_CHARS} 个字")
    return clean, notices


def understand(text: str, vocab: Vocabulary) -> Query:
    clean, notices = normalise(text)
    constraints = parse_constraints(clean)
    topical = clean
    for phrase in constraints.found:  # "一小时", "二十人" limit the kit; they are not what it is about
        topical = topical.replace(phrase, " ")
    terms = tokens(topical, vocab.all_words())
    if not terms:
        terms = [clean.lower()]
    return Query(
        text=clean, terms=terms,
        themes=vocab.mentions("themes", clean), formats=vocab.mentions("formats", clean),
        audience=vocab.mentions("audience", clean), constraints=constraints, notices=notices,
        expansions=vocab.expansions(topical),
    )
