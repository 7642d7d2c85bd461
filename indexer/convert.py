"""Uploads (Word, PDF, text, Markdown) → Markdown with inferred structure and front-matter guesses."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field

from indexer.chunk import ARTICLE
from kb.document import load_yaml, split_front_matter
from kb.errors import ConversionError, UploadTooLarge
from kb.vocab import Vocabulary

MAX_UNZIPPED = 200 * 1024 * 1024
MAX_RATIO = 100
_NUM = "一二三四五六七八九十百零〇两"
CHAPTER = re.compile(rf"^第[{_NUM}\d]+[编章节]\s*\S")
SECTION = re.compile(rf"^[{_NUM}]+、\s*\S")
SUBSECTION = re.compile(rf"^（[{_NUM}]+）\s*\S")
DATE = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
ISSUERS = ("中共中央办公厅", "中共中央组织部", "中央组织部", "中共中央", "中央纪委", "国务院")
KIND_HINTS = [
    ("venue", ("红领阵地", "党群服务站", "党群服务中心", "阵地")),
    ("site", ("纪念馆", "陵园", "旧址", "故居", "教育基地")),
    ("plan", ("活动方案", "议程", "方案")),
    ("lecture", ("党课", "讲稿", "提纲", "微宣讲")),
    ("case", ("案例", "做法", "成效", "经验")),
]


@dataclass
class Converted:
    markdown: str
    source_name: str
    fields: dict = field(default_factory=dict)  # front-matter guesses for the curator's form
    warnings: list[str] = field(default_factory=list)


def sniff(data: bytes) -> str:
    """The file's real type from its content, never from its name."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    if data.startswith((b"\xd0\xcf\x11\xe0",)):
        return "doc"
    return "text"


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM), UTF-16 with BOM, else GB18030 — or a clear refusal."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        controls = sum(1 for c in text if ord(c) < 32 and c not in "\n\r\t\f")
        if controls > max(3, len(text) // 100):
            break
        return text
    raise ConversionError("无法识别文件内容：既不是 Word、PDF，也不是 UTF-8 或 GB18030 编码的文本")


def _check_zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ConversionError("Word 文件已损坏，无法打开") from exc
    total = 0
    for member in members:
        name = member.filename
        if name.startswith(("/", "\\")) or ".." in name.replace("\\", "/").split("/") or ":" in name:
            raise ConversionError(f"Word 文件包含不安全的路径“{name}”，已拒绝")
        total += member.file_size
        if member.compress_size and member.file_size / member.compress_size > MAX_RATIO and member.file_size > 1_000_000:
            raise ConversionError("Word 文件解压后异常膨胀（疑似压缩炸弹），已拒绝")
    if total > MAX_UNZIPPED:
        raise ConversionError("Word 文件解压后过大，已拒绝")
    if "word/document.xml" not in {m.filename for m in members}:
        if "EncryptedPackage" in {m.filename for m in members}:
            raise ConversionError("Word 文件已加密，请先取消密码后再上传")
        raise ConversionError("不是有效的 Word（.docx）文件")
    return archive


def docx_to_markdown(data: bytes) -> tuple[str, str]:
    """Headings by paragraph style, lists as items, tables as rows; returns (markdown, title)."""
    _check_zip(data)
    from docx import Document

    try:
        doc = Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds on broken files
        raise ConversionError("Word 文件已损坏，无法读取其内容") from exc
    lines: list[str] = []
    body = doc.element.body
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    for child in body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            para = Paragraph(child, doc)
            text = para.text.strip()
            if not text:
                continue
            style = (para.style.name if para.style is not None else "") or ""
            level = re.search(r"(?:Heading|标题)\s*(\d)", style)
            if style in ("Title", "标题"):
                lines.append(f"# {text}")
            elif level:
                lines.append("#" * min(6, int(level.group(1)) + 1) + " " + text)
            elif "List" in style or "列表" in style:
                lines.append(f"- {text}")
            else:
                lines.append(text)
        elif tag == "tbl":
            table = Table(child, doc)
            rows = [[c.text.strip().replace("\n", " ").replace("|", "｜") for c in r.cells] for r in table.rows]
            if rows:
                width = max(len(r) for r in rows)
                rows = [r + [""] * (width - len(r)) for r in rows]
                lines.append("| " + " | ".join(rows[0]) + " |")
                lines.append("|" + "---|" * width)
                lines.extend("| " + " | ".join(r) + " |" for r in rows[1:])
        lines.append("")
    title = (doc.core_properties.title or "").strip()
    return "\n".join(lines), title


def pdf_to_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                if not reader.decrypt(""):
                    raise ConversionError("PDF 文件已加密，请先取消密码后再上传")
            except ConversionError:
                raise
            except Exception as exc:  # noqa: BLE001
                raise ConversionError("PDF 文件已加密，请先取消密码后再上传") from exc
        pages = [page.extract_text() or "" for page in reader.pages]
    except ConversionError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        raise ConversionError("PDF 文件已损坏，无法读取") from exc
    text = "\n".join(pages)
    if not text.strip():
        raise ConversionError("PDF 中没有可提取的文字（可能是扫描件），请上传文字版或粘贴文本")
    return text


def structure(text: str) -> str:
    """Plain text → Markdown: chapters and "一、" sections become headings; articles start paragraphs."""
    if re.search(r"^#{1,6}\s", text, re.M):
        return text  # already Markdown
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.strip().replace("\u3000", " ")
        if not line:
            out.append("")
        elif CHAPTER.match(line) and len(line) <= 40:
            out += ["", f"## {line}", ""]
        elif SECTION.match(line) and len(line) <= 50:
            out += ["", f"## {line}", ""]
        elif SUBSECTION.match(line) and len(line) <= 40:
            out += ["", f"### {line}", ""]
        elif ARTICLE.match(line):
            out += ["", line]
        else:
            out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip() + "\n"


def guess_fields(markdown: str, title: str, source_name: str, vocab: Vocabulary) -> dict:
    """Front-matter guesses a curator confirms or corrects in the form."""
    text = markdown
    candidates = [line.strip("# ").strip() for line in text.splitlines()[:12] if line.strip()]
    first = next((c for c in candidates if 4 <= len(c) <= 60 and not c.endswith(("：", ":", "。", "；"))
                  and not ARTICLE.match(c)), "")
    title = title or first or source_name.rsplit(".", 1)[0]
    articles = len(re.findall(rf"^\s*(?:#+\s*)?第[{_NUM}\d]+条", text, re.M))
    rules = r"条例|规定|细则|办法|报告|决定|意见|通知"
    kind = "policy" if articles >= 3 or re.search(rules, title) or re.search(rules, text[:300]) else None
    if kind is None:
        kind = next((k for k, words in KIND_HINTS if any(w in title for w in words)), None)
    if kind is None:
        counts = {k: sum(text.count(w) for w in words) for k, words in KIND_HINTS}
        kind = max(counts, key=counts.get) if max(counts.values()) else "lecture"
    mentions = vocab.mentions("themes", text)
    ranked = sorted(mentions, key=lambda t: -sum(text.count(w) for w in mentions[t]))
    body_lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith(("#", "|"))]
    paragraph = next((line for line in body_lines if len(line) >= 20 and line.strip("# ") != title), "")
    summary = re.split(r"(?<=[。！？])", paragraph)[0][:150] if paragraph else title
    if kind == "policy" and articles:
        summary = f"{title}，共 {articles} 条，按条文切分，可按条引用。"
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:6]
    fields = {
        "id": f"{kind}-{dt.date.today():%Y%m%d}-{digest}", "title": title, "kind": kind, "status": "draft",
        "themes": ranked[:3], "summary": summary, "source": f"上传：{source_name}",
        "updated": dt.date.today().isoformat(),
    }
    if kind == "policy":
        issuer = next((i for i in ISSUERS if i in text[:3000]), None)
        date = DATE.search(text[:3000])
        if issuer:
            fields["issuer"] = issuer
        if date:
            try:
                fields["issued"] = dt.date(*map(int, date.groups())).isoformat()
            except ValueError:
                pass
    return fields


def convert(name: str, data: bytes, vocab: Vocabulary, *, max_bytes: int = 20 * 1024 * 1024) -> Converted:
    """Any upload to Markdown plus guessed fields. Bad input raises ConversionError with the reason."""
    if len(data) > max_bytes:
        raise UploadTooLarge(f"文件过大：{len(data) / 1024 / 1024:.1f} MB，上限 {max_bytes / 1024 / 1024:.0f} MB")
    if not data.strip():
        raise ConversionError("文件是空的")
    kind = sniff(data)
    title = ""
    warnings: list[str] = []
    fields_from_file: dict = {}
    if kind == "pdf":
        markdown = structure(pdf_to_text(data))
    elif kind == "docx":
        markdown, title = docx_to_markdown(data)
        markdown = structure(markdown)
    elif kind == "doc":
        raise ConversionError("不支持旧版 .doc 格式，请在 Word 中另存为 .docx 后上传")
    else:
        text = decode_text(data)
        fm, body, _, _ = split_front_matter(text)
        if fm is not None:
            try:
                loaded = load_yaml(fm)
                fields_from_file = loaded if isinstance(loaded, dict) else {}
            except Exception:  # noqa: BLE001 - a broken header is reported by validation later
                warnings.append("文件开头的 front matter 无法解析，已忽略")
            text = body
        markdown = structure(text)
    if len(re.sub(r"\s", "", markdown)) < 20:
        raise ConversionError("文件中几乎没有文字内容")
    fields = guess_fields(markdown, title, name, vocab)
    fields.update({k: v for k, v in fields_from_file.items() if v not in (None, "", [])})
    # The title lives in the front matter; a first line repeating it is dropped from the body.
    lines = markdown.lstrip().splitlines()
    if lines and lines[0].lstrip("# ").strip() == str(fields.get("title", "")).strip():
        markdown = "\n".join(lines[1:]).lstrip() + "\n"
    return Converted(markdown, name, fields, warnings)
