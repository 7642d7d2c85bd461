"""A kit on paper: printable HTML, Markdown, and Word (.docx) for the 主题党日 record."""

from __future__ import annotations

import io
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from kb.kit import Kit

_env = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                   autoescape=select_autoescape(["html"]))
FORMATS = {"html": "text/html; charset=utf-8", "md": "text/markdown; charset=utf-8",
           "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


def to_html(kit: Kit) -> str:
    return _env.get_template("kit.html").render(kit=kit)


def _md_escape(text: str) -> str:
    return "".join("\\" + c if c in "\\`*_[]<>|#" else c for c in str(text))


def to_markdown(kit: Kit) -> str:
    e = _md_escape
    lines = [f"# 活动资料包：{e(kit.order['text'])}", ""]
    facts = [f"时长 {kit.understood['duration']} 分钟" if kit.understood.get("duration") else "",
             f"人数 {kit.understood['headcount']} 人" if kit.understood.get("headcount") else "",
             "主题 " + "、".join(kit.understood["themes"]) if kit.understood.get("themes") else ""]
    if any(facts):
        lines += ["　".join(f for f in facts if f), ""]
    lines += [f"> {e(note)}" for note in kit.notes]
    if kit.agenda:
        lines += ["", f"## 活动议程（共 {kit.total_minutes} 分钟）", "", "| 时间 | 分钟 | 环节 |", "|---|---|---|"]
        lines += [f"| {s.start} | {s.minutes} | {e(s.step)} |" for s in kit.agenda]
        if kit.plan:
            lines += ["", f"议程依据：《{e(kit.plan.title)}》"]
    if kit.lecture:
        lines += ["", f"## 党课：{e(kit.lecture.title)}", "", e(kit.lecture.summary), ""]
        lines += [f"{i}. {e(h)}" for i, h in enumerate(kit.lecture.detail.get("outline", []), 1)]
        lines += ["", f"为什么选它：{e('；'.join(kit.lecture.why))}"]
    if kit.cases:
        lines += ["", "## 相似支部的做法"]
        for case in kit.cases:
            lines += ["", f"### {e(case.title)}", "", e(case.summary), "", f"为什么选它：{e('；'.join(case.why))}"]
    if kit.places:
        lines += ["", "## 去哪里"]
        for place in kit.places:
            lines += ["", f"### {e(place.title)}", "", e(place.summary)]
            for key, label in (("address", "地址"), ("booking_note", "预约"), ("open_hours", "开放时间")):
                if place.detail.get(key):
                    lines += ["", f"{label}：{e(place.detail[key])}"]
            lines += ["", f"为什么选它：{e('；'.join(place.why))}"]
    lines += ["", f"由红领资源库生成 · 资料编号 {kit.id}", ""]
    return "\n".join(lines)


def to_docx(kit: Kit) -> bytes:
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    doc.styles["Normal"].font.size = Pt(11)
    doc.add_heading(f"活动资料包：{kit.order['text']}", level=1)
    for note in kit.notes:
        doc.add_paragraph(note)
    if kit.agenda:
        doc.add_heading(f"活动议程（共 {kit.total_minutes} 分钟）", level=2)
        table = doc.add_table(rows=1, cols=3)
        table.style = "Table Grid"
        for cell, text in zip(table.rows[0].cells, ("时间", "分钟", "环节"), strict=True):
            cell.text = text
        for step in kit.agenda:
            row = table.add_row().cells
            row[0].text, row[1].text, row[2].text = step.start, str(step.minutes), step.step
    if kit.lecture:
        doc.add_heading(f"党课：{kit.lecture.title}", level=2)
        doc.add_paragraph(kit.lecture.summary)
        for heading in kit.lecture.detail.get("outline", []):
            doc.add_paragraph(heading, style="List Number")
        doc.add_paragraph("为什么选它：" + "；".join(kit.lecture.why))
    if kit.cases:
        doc.add_heading("相似支部的做法", level=2)
        for case in kit.cases:
            doc.add_heading(case.title, level=3)
            doc.add_paragraph(case.summary)
            doc.add_paragraph("为什么选它：" + "；".join(case.why))
    if kit.places:
        doc.add_heading("去哪里", level=2)
        for place in kit.places:
            doc.add_heading(place.title, level=3)
            doc.add_paragraph(place.summary)
            for key, label in (("address", "地址"), ("booking_note", "预约"), ("open_hours", "开放时间")):
                if place.detail.get(key):
                    doc.add_paragraph(f"{label}：{place.detail[key]}")
    doc.add_paragraph(f"由红领资源库生成 · 资料编号 {kit.id}")
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def render(kit: Kit, fmt: str) -> bytes:
    if fmt == "html":
        return to_html(kit).encode("utf-8")
    if fmt == "md":
        return to_markdown(kit).encode("utf-8")
    if fmt == "docx":
        return to_docx(kit)
    raise ValueError(fmt)
