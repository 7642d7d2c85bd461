"""Chinese tokenisation with jieba and the domain dictionary kept in kb/data/userdict.txt."""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Iterable
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
_TOKEN_RE = re.compile(r"[\w\u4e00-\u9fff]")
_lock = threading.Lock()


@functools.cache
def stopwords() -> frozenset[str]:
    return frozenset(w.strip() for w in (DATA / "stopwords.txt").read_text(encoding="utf-8").split() if w.strip())


@functools.cache
def _tokenizer(extra: frozenset[str]):
    import jieba

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()
    tok.initialize()
    tok.load_userdict(str(DATA / "userdict.txt"))
    for word in sorted(extra):
        if len(word) >= 2:
            tok.add_word(word, freq=20000)
    return tok


def tokenizer(extra_words: Iterable[str] = ()):
    """A jieba tokenizer with the domain dictionary plus ``extra_words`` (e.g. the theme vocabulary)."""
    with _lock:
        return _tokenizer(frozenset(extra_words))


def tokens(text: str, extra_words: Iterable[str] = (), *, search: bool = True) -> list[str]:
    """Content tokens of ``text``: search-mode jieba cut (whole terms plus their sub-words), no stopwords."""
    tok = tokenizer(extra_words)
    cut = tok.cut_for_search(text) if search else tok.cut(text)
    stop = stopwords()
    return [t.lower() for t in cut if _TOKEN_RE.search(t) and t not in stop and not t.isspace()]
