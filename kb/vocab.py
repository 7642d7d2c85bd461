"""The controlled vocabularies (themes, formats, audiences) and their synonyms."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from kb.errors import KBError


@dataclass(frozen=True)
class Term:
    name: str
    synonyms: tuple[str, ...] = ()
    description: str = ""

    @property
    def words(self) -> tuple[str, ...]:
        return (self.name, *self.synonyms)


@dataclass
class Vocabulary:
    themes: list[Term]
    formats: list[Term]
    audiences: list[Term]
    lexicon: list[tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=list)  # (words, expansions)
    _lookup: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    def __post_init__(self):
        for facet, terms in (("themes", self.themes), ("formats", self.formats), ("audience", self.audiences)):
            table: dict[str, str] = {}
            for term in terms:
                for word in term.words:
                    table.setdefault(word, term.name)
            self._lookup[facet] = table

    def names(self, facet: str) -> list[str]:
        return [t.name for t in self.terms(facet)]

    def terms(self, facet: str) -> list[Term]:
        return {"themes": self.themes, "formats": self.formats, "audience": self.audiences}[facet]

    def term(self, facet: str, name: str) -> Term | None:
        return next((t for t in self.terms(facet) if t.name == name), None)

    def canonical(self, facet: str, word: str) -> str | None:
        """The vocabulary name a word (name or synonym) stands for, or None."""
        return self._lookup[facet].get(word)

    def suggest(self, facet: str, value: str) -> str | None:
        """The nearest valid name for an unknown value: a synonym's owner, else the closest spelling."""
        if owner := self.canonical(facet, value):
            return owner
        for word, owner in self._lookup[facet].items():
            if value and (value in word or word in value):
                return owner
        close = difflib.get_close_matches(value, list(self._lookup[facet]), n=1, cutoff=0.3)
        return self._lookup[facet][close[0]] if close else None

    def mentions(self, facet: str, text: str) -> dict[str, list[str]]:
        """Vocabulary names whose name or synonyms occur in ``text``, with the words that matched."""
        found: dict[str, list[str]] = {}
        for word, owner in self._lookup[facet].items():
            if len(word) >= 2 and word.lower() in text.lower():
                found.setdefault(owner, []).append(word)
        return found

    def expansions(self, text: str) -> list[str]:
        """The formal terms for the colloquial words in ``text`` (corpus/lexicon.yaml)."""
        lowered = text.lower()
        found: list[str] = []
        for words, expand in self.lexicon:
            if any(w.lower() in lowered for w in words):
                found.extend(e for e in expand if e not in found)
        return found

    def fingerprint(self) -> str:
        """Changes whenever any name or synonym changes (parsed documents depend on it)."""
        import hashlib

        return hashlib.sha1(repr((self.themes, self.formats, self.audiences, self.lexicon)).encode()).hexdigest()

    def all_words(self) -> set[str]:
        return {w for table in self._lookup.values() for w in table}


def _terms(entries, source: Path, key: str) -> list[Term]:
    if not isinstance(entries, list):
        raise KBError(f"{source}: {key} 应是列表")
    terms = []
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not entry.get("name"):
            raise KBError(f"{source}: {key} 第 {i + 1} 项缺少 name")
        terms.append(
            Term(
                name=str(entry["name"]),
                synonyms=tuple(str(s) for s in entry.get("synonyms") or ()),
                description=str(entry.get("description") or ""),
            )
        )
    return terms


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise KBError(f"资料库缺少词表文件 {path}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise KBError(f"{path}{line}: YAML 格式错误：{getattr(exc, 'problem', exc)}") from exc
    if not isinstance(data, dict):
        raise KBError(f"{path}: 内容应是一个 YAML 映射")
    return data


def _lexicon(path: Path) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    if not path.exists():
        return []  # optional: a library may have no colloquial lexicon
    entries = _read_yaml(path).get("entries")
    if not isinstance(entries, list):
        raise KBError(f"{path}: entries 应是列表")
    lexicon = []
    for i, entry in enumerate(entries, 1):
        words = entry.get("words") if isinstance(entry, dict) else None
        expand = entry.get("expand") if isinstance(entry, dict) else None
        if not isinstance(words, list) or not isinstance(expand, list) or not words or not expand:
            raise KBError(f"{path}: 第 {i} 条应有 words 和 expand 两个列表")
        lexicon.append((tuple(str(w) for w in words if len(str(w)) >= 2), tuple(str(e) for e in expand)))
    return lexicon


def load_vocabulary(library: Path) -> Vocabulary:
    """Read ``themes.yaml``, ``vocab.yaml`` and the optional ``lexicon.yaml`` from a library folder."""
    themes_path, vocab_path = library / "themes.yaml", library / "vocab.yaml"
    themes = _read_yaml(themes_path)
    vocab = _read_yaml(vocab_path)
    return Vocabulary(
        themes=_terms(themes.get("themes"), themes_path, "themes"),
        formats=_terms(vocab.get("formats"), vocab_path, "formats"),
        audiences=_terms(vocab.get("audiences"), vocab_path, "audiences"),
        lexicon=_lexicon(library / "lexicon.yaml"),
    )
