"""The library folder: every document in it, read and validated together."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kb.document import Document, Problem, parse_document
from kb.errors import DocumentNotFound, KBError
from kb.vocab import Vocabulary, load_vocabulary

SKIP_DIRS = {"eval", ".history", ".git"}
SKIP_FILES = {"README.md"}


def document_paths(root: Path) -> list[Path]:
    """Every document file under ``root`` (a folder or a single file), in a stable order."""
    if root.is_file():
        return [root]
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.startswith("."))
        found.extend(Path(dirpath) / f for f in sorted(filenames) if f.endswith(".md") and f not in SKIP_FILES)
    return found


def read_text(path: Path) -> tuple[str | None, Problem | None]:
    """Read a document's text as UTF-8, or explain why it can't be read."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, Problem(str(path), 1, "file", f"无法读取：{exc.strerror}")
    return decode(path, raw)


def decode(path: Path, raw: bytes) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(str(path), line, "file", "不是 UTF-8 编码的文本（请另存为 UTF-8）")


@dataclass
class Library:
    root: Path
    vocab: Vocabulary
    documents: dict[str, Document] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, doc_id: str) -> Document:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise DocumentNotFound(f"找不到文档“{doc_id}”") from None


# Parsed documents by path, reused while the file's bytes and the vocabulary are unchanged:
# a long-running server re-reads a 10,000-document library in a fraction of a second.
_parsed: dict[str, tuple[tuple, Document | None, list[Problem]]] = {}


def _parse_file(path: Path, vocab: Vocabulary, vocab_key: str) -> tuple[Document | None, list[Problem]]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Problem(str(path), 1, "file", f"无法读取：{exc.strerror}")]
    key = (hashlib.sha1(raw).digest(), vocab_key)
    cached = _parsed.get(str(path))
    if cached is not None and cached[0] == key:
        return cached[1], cached[2]
    text, problem = decode(path, raw)
    doc, found = (None, [problem]) if problem else parse_document(text, path, vocab)
    _parsed[str(path)] = (key, doc, found)
    return doc, found


def check_documents(paths: Iterable[Path], vocab: Vocabulary) -> tuple[list[Document], list[Problem]]:
    """Parse and validate files; also reports ids used by more than one file."""
    docs: list[Document] = []
    problems: list[Problem] = []
    seen: dict[str, Document] = {}
    vocab_key = vocab.fingerprint()
    for path in paths:
        doc, found = _parse_file(path, vocab, vocab_key)
        problems.extend(found)
        if doc is None:
            continue
        if doc.id in seen:
            first = seen[doc.id].path
            problems.append(Problem(str(path), 2, "id", f"重复的 id“{doc.id}”，已用于 {first}"))
            continue
        seen[doc.id] = doc
        docs.append(doc)
    return docs, problems


def load_library(root: Path, *, strict: bool = False) -> Library:
    """Read every document of a library folder. Invalid files are skipped and listed in ``problems``."""
    if not root.is_dir():
        raise KBError(f"资料库文件夹不存在：{root}")
    vocab = load_vocabulary(root)
    docs, problems = check_documents(document_paths(root), vocab)
    if strict and problems:
        raise KBError(f"资料库有 {len(problems)} 处问题，请先运行 kb validate", detail=problems)
    return Library(root, vocab, {d.id: d for d in docs}, problems)


def _library_root_for(path: Path, default: Path) -> Path:
    for candidate in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (candidate / "themes.yaml").is_file():
            return candidate
    return default


def validate(paths: list[Path], default_library: Path) -> tuple[int, list[Problem]]:
    """Validate files or folders; returns (documents checked, problems).

    Each path is checked against the vocabulary of the library it lives in (the nearest folder
    with a themes.yaml), falling back to ``default_library``. Library roots also get their
    calendar checked.
    """
    from kb.calendar import check_calendar

    checked, problems = 0, []
    for path in paths or [default_library]:
        if not path.exists():
            problems.append(Problem(str(path), 1, "file", "文件或文件夹不存在"))
            continue
        root = _library_root_for(path, default_library)
        try:
            vocab = load_vocabulary(root)
        except KBError as exc:
            problems.append(Problem(str(root / "themes.yaml"), 1, "vocabulary", exc.message))
            continue
        files = document_paths(path)
        checked += len(files)
        problems.extend(check_documents(files, vocab)[1])
        if path.is_dir() and (path / "themes.yaml").is_file():
            problems.extend(check_calendar(path / "calendar.yaml", vocab)[1])
    return checked, problems
