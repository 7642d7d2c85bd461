"""Curators' changes to the library: drafts, atomic writes with history, retire and restore."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path

import yaml

from kb.document import Document, Problem, load_yaml, parse_document, split_front_matter
from kb.errors import Conflict, DocumentNotFound, InvalidDocument, NotFound
from kb.library import Library
from kb.schema import FIELDS, ID_PATTERN
from kb.store import Store
from kb.vocab import Vocabulary

_SAFE_ID = re.compile(ID_PATTERN)


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, fsync, rename over it, fsync the folder: all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def safe_id(doc_id: str) -> str:
    """Ids become file names: anything but a plain slug is refused (no path tricks)."""
    if not isinstance(doc_id, str) or not _SAFE_ID.match(doc_id):
        raise NotFound(f"无效的文档标识“{doc_id}”")
    return doc_id


def render_markdown(fields: dict, body: str) -> str:
    ordered = {f.name: fields[f.name] for f in FIELDS if fields.get(f.name) not in (None, "", [])}
    front = yaml.safe_dump(ordered, allow_unicode=True, sort_keys=False, width=1000)
    return f"---\n{front}---\n\n{body.strip()}\n"


def _span(text: str):
    numbers = [int(n) for n in re.findall(r"\d+", text or "")]
    if not numbers:
        return text or None
    return numbers[0] if len(numbers) == 1 else {"min": numbers[0], "max": numbers[1]}


def fields_from_form(form: dict) -> dict:
    """Form strings → front-matter values (lists, spans, integers, agenda lines "10 | 步骤 | slot")."""
    fields: dict = {}
    for spec in FIELDS:
        raw = form.get(spec.name)
        if isinstance(raw, list) and spec.type not in ("vocab", "list", "lines"):
            raw = raw[-1] if raw else ""
        if raw is None:
            continue
        if spec.type == "vocab":
            items = raw if isinstance(raw, list) else re.split(r"[,，、\s]+", raw)
            fields[spec.name] = [i.strip() for i in items if i and i.strip()]
        elif spec.type in ("list", "lines"):  # lines: one item per line, commas are part of the text
            items = raw if isinstance(raw, list) else re.split(r"\n+" if spec.type == "lines" else r"[,，、\n]+", raw)
            fields[spec.name] = [i.strip() for i in items if i and i.strip()]
        elif spec.type == "range":
            fields[spec.name] = _span(raw.strip())
        elif spec.type == "int":
            fields[spec.name] = int(raw) if raw.strip().isdigit() else (raw.strip() or None)
        elif spec.type == "agenda":
            steps = []
            for line in raw.splitlines():
                parts = [p.strip() for p in re.split(r"[|｜]", line)]
                if len(parts) == 3 and parts[0].isdigit():
                    steps.append({"minutes": int(parts[0]), "step": parts[1], "slot": parts[2]})
                elif line.strip():
                    steps.append({"minutes": parts[0], "step": line.strip(), "slot": "?"})
            fields[spec.name] = steps
        else:
            fields[spec.name] = raw.strip()
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


def form_from_fields(fields: dict) -> dict:
    """Front-matter values → strings for the form's inputs."""
    out: dict = {}
    for spec in FIELDS:
        value = fields.get(spec.name)
        if value is None:
            continue
        if spec.type == "vocab":
            out[spec.name] = list(value) if isinstance(value, list) else [str(value)]
        elif spec.type in ("list", "lines"):
            joiner = "\n" if spec.type == "lines" else "，"
            out[spec.name] = joiner.join(map(str, value)) if isinstance(value, list) else str(value)
        elif spec.type == "range" and isinstance(value, dict):
            out[spec.name] = f"{value.get('min')}-{value.get('max')}"
        elif spec.type == "agenda" and isinstance(value, list):
            out[spec.name] = "\n".join(f"{s.get('minutes')} | {s.get('step')} | {s.get('slot')}"
                                       for s in value if isinstance(s, dict))
        else:
            out[spec.name] = str(value)
    return out


class Editor:
    """All writes to the library and the drafts folder go through here, and into the audit log."""

    def __init__(self, library_root: Path, data_dir: Path, store: Store):
        self.root = library_root
        self.drafts = data_dir / "drafts"
        self.uploads = data_dir / "uploads"
        self.history = data_dir / "history"
        self.store = store

    # drafts -----------------------------------------------------------------------------------
    def keep_upload(self, draft_id: str, name: str, data: bytes) -> Path:
        """The original file, kept whatever happens to its conversion."""
        clean = re.sub(r"[^\w.\-]+", "_", Path(name).name)[-80:] or "upload"
        path = self.uploads / safe_id(draft_id) / clean
        atomic_write(path, data)
        return path

    def save_draft(self, fields: dict, body: str, user: str) -> str:
        draft_id = safe_id(str(fields.get("id") or ""))
        atomic_write(self.drafts / f"{draft_id}.md", render_markdown(fields, body).encode("utf-8"))
        self.store.audit(user, "save_draft", draft_id)
        return draft_id

    def load_draft(self, draft_id: str) -> tuple[dict, str]:
        path = self.drafts / f"{safe_id(draft_id)}.md"
        if not path.exists():
            raise NotFound(f"找不到草稿“{draft_id}”")
        return self._read(path)

    def list_drafts(self) -> list[dict]:
        drafts = []
        for path in sorted(self.drafts.glob("*.md"), key=lambda p: -p.stat().st_mtime):
            fields, _ = self._read(path)
            drafts.append({"id": path.stem, "title": fields.get("title", ""), "kind": fields.get("kind", ""),
                           "saved": dt.datetime.fromtimestamp(path.stat().st_mtime).strftime("%Y-%m-%d %H:%M")})
        return drafts

    def discard_draft(self, draft_id: str, user: str) -> None:
        (self.drafts / f"{safe_id(draft_id)}.md").unlink(missing_ok=True)
        self.store.audit(user, "discard_draft", draft_id)

    @staticmethod
    def _read(path: Path) -> tuple[dict, str]:
        text = path.read_text(encoding="utf-8")
        fm, body, _, _ = split_front_matter(text)
        try:
            fields = load_yaml(fm) if fm else {}
        except yaml.YAMLError:
            fields = {}
        return (fields if isinstance(fields, dict) else {}), body

    # checking and publishing ------------------------------------------------------------------
    def check(self, fields: dict, body: str, vocab: Vocabulary) -> tuple[Document | None, list[Problem]]:
        """The same rules as `kb validate`, applied to what the form holds."""
        kind = fields.get("kind") or "case"
        doc_id = str(fields.get("id") or "")
        path = Path(str(kind)) / f"{doc_id}.md"  # shown relative to the library, never the server's folders
        return parse_document(render_markdown(fields, body), path, vocab)

    def publish(self, fields: dict, body: str, library: Library, user: str, *, replace: str | None = None) -> Document:
        """Write a valid document into the library (a new one, or ``replace`` an existing id)."""
        doc, problems = self.check(fields, body, library.vocab)
        if doc is None:
            raise InvalidDocument("文档未通过检查", detail=problems)
        existing = library.documents.get(doc.id)
        if existing and replace != doc.id:
            raise Conflict(f"标识“{doc.id}”已被《{existing.title}》使用，请换一个")
        if replace and replace != doc.id:
            raise Conflict("不能修改已发布文档的标识")
        target = self.root / doc.kind / f"{doc.id}.md"
        if existing and existing.path and existing.path.exists():
            self._remember(existing.path, doc.id)
        atomic_write(target, doc.to_markdown().encode("utf-8"))
        if existing and existing.path and existing.path.resolve() != target.resolve():
            existing.path.unlink(missing_ok=True)  # the kind changed: the file moved folders
        self.store.audit(user, "update" if existing else "publish", doc.id, doc.title)
        return doc

    def set_status(self, library: Library, doc_id: str, status: str, user: str) -> Document:
        doc = library.get(safe_id(doc_id))
        doc.status = status
        self._remember(doc.path, doc.id)
        atomic_write(doc.path, doc.to_markdown().encode("utf-8"))
        self.store.audit(user, {"retired": "retire", "published": "restore"}.get(status, status), doc.id, doc.title)
        return doc

    # history ----------------------------------------------------------------------------------
    def _remember(self, path: Path, doc_id: str) -> None:
        stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S%f")
        atomic_write(self.history / doc_id / f"{stamp}.md", path.read_bytes())

    def versions(self, doc_id: str) -> list[str]:
        folder = self.history / safe_id(doc_id)
        return sorted((p.stem for p in folder.glob("*.md")), reverse=True) if folder.exists() else []

    def restore_version(self, library: Library, doc_id: str, version: str, user: str) -> Document:
        if not re.fullmatch(r"\d{8}T\d{12}", version or ""):
            raise NotFound(f"没有版本“{version}”")
        source = self.history / safe_id(doc_id) / f"{version}.md"
        if not source.exists():
            raise NotFound(f"没有版本“{version}”")
        fields, body = self._read(source)
        if doc_id not in library.documents:
            raise DocumentNotFound(f"找不到文档“{doc_id}”")
        doc = self.publish(fields, body, library, user, replace=doc_id)
        self.store.audit(user, "restore_version", doc_id, version)
        return doc

