"""A library document: Markdown with YAML front matter, parsed and validated against kb.schema."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from markdown_it import MarkdownIt
from mdit_py_plugins.front_matter import front_matter_plugin

from kb.schema import FIELD_BY_NAME, FIELDS, ID_PATTERN, KINDS, MIN_BODY_CHARS, SLOTS
from kb.vocab import Vocabulary

_md = MarkdownIt("commonmark").use(front_matter_plugin)


_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):
    """SafeLoader (libyaml when available) that leaves dates as text, so a bad date is reported, not raised."""


_Loader.yaml_implicit_resolvers = {
    key: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: str):
    """Parse YAML the way documents are read: safe, with dates kept as text."""
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
_ID_RE = re.compile(ID_PATTERN)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document, printed as ``file:line: field: message``."""

    path: str
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field}: {self.message}"


@dataclass(frozen=True)
class Span:
    """An inclusive integer range: a duration in minutes or a headcount."""

    min: int
    max: int

    def contains(self, value: int) -> bool:
        return self.min <= value <= self.max

    def __str__(self) -> str:
        return str(self.min) if self.min == self.max else f"{self.min}–{self.max}"


@dataclass
class Document:
    id: str
    title: str
    kind: str
    status: str
    themes: list[str]
    summary: str
    source: str
    updated: dt.date
    body: str
    formats: list[str] = field(default_factory=list)
    audience: list[str] = field(default_factory=list)
    duration: Span | None = None
    headcount: Span | None = None
    tags: list[str] = field(default_factory=list)
    meta: dict = field(default_factory=dict)  # kind-specific fields (address, agenda, issuer, ...)
    path: Path | None = None
    body_line: int = 1  # line number of the body's first line in the file

    @property
    def published(self) -> bool:
        return self.status == "published"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.fingerprint().encode("utf-8")).hexdigest()[:16]

    def fingerprint(self) -> str:
        return repr((self.front_matter(), self.body))

    def front_matter(self) -> dict:
        """The front matter as plain data, in schema order (for writing the file back)."""
        data = {
            "id": self.id, "title": self.title, "kind": self.kind, "status": self.status,
            "themes": list(self.themes), "formats": list(self.formats), "audience": list(self.audience),
            "duration_minutes": _span_out(self.duration), "headcount": _span_out(self.headcount),
            "summary": self.summary, "source": self.source, "updated": self.updated, "tags": list(self.tags),
            **self.meta,
        }
        ordered = {f.name: data[f.name] for f in FIELDS if data.get(f.name) not in (None, [], "")}
        return ordered

    def to_markdown(self) -> str:
        fm = yaml.safe_dump(self.front_matter(), allow_unicode=True, sort_keys=False, width=1000)
        return f"---\n{fm}---\n\n{self.body.strip()}\n"

    def to_dict(self) -> dict:
        data = self.front_matter()
        data["updated"] = self.updated.isoformat()
        if "issued" in data:
            data["issued"] = str(data["issued"])
        data["body"] = self.body
        return data


def _span_out(span: Span | None):
    if span is None:
        return None
    return span.min if span.min == span.max else {"min": span.min, "max": span.max}


def split_front_matter(text: str) -> tuple[str | None, str, int, int]:
    """Return (front matter or None, body, front matter's first line, body's first line), 1-based.

    Same rule as markdown-it's front-matter plugin: a first line of ``---`` and the next line
    that is ``---`` (or ``...``); a quick path for the common case, the plugin for the rest.
    """
    lines = text.splitlines(keepends=True)
    if lines and lines[0].rstrip() == "---":
        for i, line in enumerate(lines[1:], start=1):
            if line.rstrip() in ("---", "..."):
                return "".join(lines[1:i]).rstrip("\n"), "".join(lines[i + 1 :]), 2, i + 2
    tokens = _md.parse(text)
    if not tokens or tokens[0].type != "front_matter":
        return None, text, 1, 1
    end = tokens[0].map[1]
    return tokens[0].content, "".join(lines[end:]), 2, end + 1


def _key_lines(fm_text: str, first_line: int) -> dict[str, int]:
    try:
        node = yaml.compose(fm_text)
    except yaml.YAMLError:
        return {}
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + first_line for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def body_chars(body: str) -> int:
    """Characters of real content: CJK characters and words, not whitespace or Markdown markup."""
    return len(re.sub(r"[\s#>*`|\-_=\[\]()]+", "", body))


class _Checker:
    def __init__(self, path: str, fm_text: str, fm_line: int, vocab: Vocabulary):
        self.path, self.fm_text, self.default_line, self.vocab = path, fm_text, fm_line, vocab
        self.problems: list[Problem] = []
        self._lines: dict[str, int] | None = None

    @property
    def lines(self) -> dict[str, int]:
        if self._lines is None:  # only composed when there is a problem to place
            self._lines = _key_lines(self.fm_text, self.default_line)
        return self._lines

    def add(self, fld: str, message: str, line: int | None = None) -> None:
        key = fld.split("[")[0]
        self.problems.append(Problem(self.path, line or self.lines.get(key, self.default_line), fld, message))

    def text(self, name: str, value) -> str | None:
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            return str(value).strip()
        self.add(name, f"应是文本，实际是 {type(value).__name__}")
        return None

    def integer(self, name: str, value, low: int = 0, high: int = 100_000) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(name, f"应是整数，实际是 {value!r}")
            return None
        if not low <= value <= high:
            self.add(name, f"应在 {low}–{high} 之间，实际是 {value}")
            return None
        return value

    def span(self, name: str, value, high: int) -> Span | None:
        if isinstance(value, dict):
            unknown = set(value) - {"min", "max"}
            if unknown:
                self.add(name, f"只能有 min 和 max，多了 {', '.join(map(str, unknown))}")
                return None
            low = self.integer(name, value.get("min"), 1, high)
            top = self.integer(name, value.get("max"), 1, high)
            if low is None or top is None:
                return None
            if low > top:
                self.add(name, f"min（{low}）不能大于 max（{top}）")
                return None
            return Span(low, top)
        number = self.integer(name, value, 1, high)
        return Span(number, number) if number is not None else None

    def date(self, name: str, value) -> dt.date | None:
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value).strip())
        except ValueError:
            self.add(name, f"日期格式应为 YYYY-MM-DD，实际是 {value!r}")
            return None

    def string_list(self, name: str, value) -> list[str] | None:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
            self.add(name, "应是文本列表，例如 [甲, 乙]")
            return None
        return [str(v).strip() for v in value if str(v).strip()]

    def vocab_list(self, name: str, value, facet: str, max_items: int) -> list[str] | None:
        items = self.string_list(name, value)
        if items is None:
            return None
        valid = []
        for item in items:
            if item in self.vocab.names(facet):
                valid.append(item)
                continue
            hint = self.vocab.suggest(facet, item)
            advice = f"，最接近的是“{hint}”" if hint else ""
            self.add(name, f"未知的取值“{item}”{advice}（可选：{'、'.join(self.vocab.names(facet))}）")
        if max_items and len(items) > max_items:
            self.add(name, f"最多 {max_items} 个，实际 {len(items)} 个")
        return valid

    def agenda(self, name: str, value) -> list[dict] | None:
        if not isinstance(value, list) or not value:
            self.add(name, "应是议程列表，每项 {minutes: 10, step: 名称, slot: opening}")
            return None
        steps = []
        for i, item in enumerate(value, 1):
            if not isinstance(item, dict):
                self.add(name, f"第 {i} 项应是 {{minutes, step, slot}}")
                continue
            minutes = self.integer(f"{name}[{i}].minutes", item.get("minutes"), 1, 1440)
            step = item.get("step")
            slot = item.get("slot")
            if not isinstance(step, str) or not step.strip():
                self.add(f"{name}[{i}].step", "缺少环节名称")
            if slot not in SLOTS:
                self.add(f"{name}[{i}].slot", f"未知的环节类型 {slot!r}（可选：{', '.join(SLOTS)}）")
            if minutes and isinstance(step, str) and slot in SLOTS:
                steps.append({"minutes": minutes, "step": step.strip(), "slot": slot})
        return steps


def parse_document(text: str, path: str | Path, vocab: Vocabulary) -> tuple[Document | None, list[Problem]]:
    """Parse and validate one document. Never raises on bad input: problems are returned."""
    shown = str(path)
    fm_text, body, fm_line, body_line = split_front_matter(text)
    if fm_text is None:
        return None, [Problem(shown, 1, "front matter", "缺少开头的 YAML front matter（以 --- 开始和结束）")]
    try:
        data = load_yaml(fm_text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = fm_line + mark.line if mark else fm_line
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return None, [Problem(shown, line, "front matter", f"YAML 格式错误：{reason}")]
    if not isinstance(data, dict):
        return None, [Problem(shown, fm_line, "front matter", "front matter 应是“字段: 值”的映射")]
    data = {str(k): v for k, v in data.items()}
    check = _Checker(shown, fm_text, fm_line, vocab)

    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        check.add("kind", f"未知的类型 {kind!r}（可选：{', '.join(KINDS)}）" if kind else "缺少必填字段")
        kind = None
    values: dict = {}
    for spec in FIELDS:
        if spec.name == "kind":
            continue
        raw = data.get(spec.name)
        if raw is None or raw == "" or raw == []:
            if kind and spec.required(kind):
                check.add(spec.name, "缺少必填字段")
            continue
        if kind and not spec.applies(kind):
            continue
        values[spec.name] = _coerce(check, spec, raw)
    for key in data:
        if key not in FIELD_BY_NAME:
            check.add(key, f"未知字段（可用字段：{', '.join(FIELD_BY_NAME)}）")

    doc_id = values.get("id")
    if doc_id is not None:
        if not _ID_RE.match(doc_id):
            check.add("id", f"“{doc_id}”不合规：只能用小写字母、数字和 -，3–80 个字符")
        elif isinstance(path, Path) and path.stem != doc_id:
            check.add("id", f"“{doc_id}”与文件名“{path.name}”不一致")
    summary = values.get("summary")
    if summary is not None and not 10 <= len(summary) <= 300:
        check.add("summary", f"摘要应为 10–300 字，实际 {len(summary)} 字")
    if kind == "plan" and values.get("agenda") and values.get("duration_minutes"):
        total = sum(step["minutes"] for step in values["agenda"])
        if total != values["duration_minutes"].max:
            check.add("agenda", f"各环节合计 {total} 分钟，与 duration_minutes（{values['duration_minutes']}）不一致")
    if not body.strip():
        check.add("body", "正文为空", body_line)
    elif body_chars(body) < MIN_BODY_CHARS:
        check.add("body", f"正文太短：{body_chars(body)} 字，至少需要 {MIN_BODY_CHARS} 字", body_line)

    if check.problems or kind is None:
        return None, check.problems
    core = {"id", "title", "kind", "status", "themes", "summary", "source", "updated", "formats",
            "audience", "duration_minutes", "headcount", "tags"}
    doc = Document(
        id=values["id"], title=values["title"], kind=kind, status=values["status"],
        themes=values["themes"], summary=values["summary"], source=values["source"],
        updated=values["updated"], body=body.strip() + "\n", formats=values.get("formats", []),
        audience=values.get("audience", []), duration=values.get("duration_minutes"),
        headcount=values.get("headcount"), tags=values.get("tags", []),
        meta={k: v for k, v in values.items() if k not in core},
        path=path if isinstance(path, Path) else None, body_line=body_line,
    )
    return doc, []


def _coerce(check: _Checker, spec, raw):
    name = spec.name
    match spec.type:
        case "id" | "text" | "longtext":
            return check.text(name, raw)
        case "enum":
            value = check.text(name, raw)
            if value is not None and value not in spec.choices:
                check.add(name, f"未知的取值 {value!r}（可选：{', '.join(spec.choices)}）")
            return value
        case "vocab":
            return check.vocab_list(name, raw, spec.facet, spec.max_items)
        case "range":
            return check.span(name, raw, 100_000 if name == "headcount" else 7 * 24 * 60)
        case "int":
            return check.integer(name, raw)
        case "date":
            return check.date(name, raw)
        case "list" | "lines":
            items = check.string_list(name, raw)
            if items is not None and spec.max_items and len(items) > spec.max_items:
                check.add(name, f"最多 {spec.max_items} 条，实际 {len(items)} 条")
            return items
        case "agenda":
            return check.agenda(name, raw)
    raise AssertionError(spec.type)
