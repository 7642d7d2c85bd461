"""`kb validate`: every broken document is reported as file:line: field: problem; valid ones pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from kb.cli import cli
from kb.library import load_library, validate
from tests.conftest import CORPUS


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems_for(tmp_path: Path, name: str, text) -> list[str]:
    path = write(tmp_path / "docs", name, text)
    checked, problems = validate([path], CORPUS)
    assert checked == 1
    return [str(p) for p in problems]


def test_valid_document_passes(tmp_path, make_doc):
    assert problems_for(tmp_path, "case-sample.md", make_doc()) == []


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"themes": ["英烈"]}, "themes", "最接近的是“革命传统”"),
        ({"themes": ["廉政建设"]}, "themes", "最接近的是“廉洁教育”"),
        ({"formats": ["看电影"]}, "formats", "最接近的是“观影”"),
        ({"title": None}, "title", "缺少必填字段"),
        ({"summary": None}, "summary", "缺少必填字段"),
        ({"branch_size": None}, "branch_size", "缺少必填字段"),
        ({"id": "case-other"}, "id", "与文件名“case-sample.md”不一致"),
        ({"id": "Case Sample!"}, "id", "不合规"),
        ({"updated": "2026-13-45"}, "updated", "YYYY-MM-DD"),
        ({"updated": "去年"}, "updated", "YYYY-MM-DD"),
        ({"kind": "essay"}, "kind", "未知的类型 'essay'"),
        ({"kind": None}, "kind", "缺少必填字段"),
        ({"status": "live"}, "status", "未知的取值 'live'"),
        ({"headcount": {"min": 30, "max": 8}}, "headcount", "min（30）不能大于 max（8）"),
        ({"duration_minutes": "一小时"}, "duration_minutes", "应是整数"),
        ({"colour": "red"}, "colour", "未知字段"),
    ],
)
def test_broken_field_is_reported_with_its_line(tmp_path, make_doc, overrides, field, message):
    problems = problems_for(tmp_path, "case-sample.md", make_doc(**overrides))
    assert len(problems) == 1, problems
    path, line, got_field, text = problems[0].split(":", 3)
    assert path.endswith("case-sample.md")
    assert got_field == f" {field}"
    assert message in text
    source = (tmp_path / "docs" / "case-sample.md").read_text(encoding="utf-8").splitlines()
    if overrides.get(field, "present") is not None:  # a present field: the line is the field's own line
        assert source[int(line) - 1].startswith(f"{field}:"), (line, source[int(line) - 1])


def test_empty_and_short_bodies(tmp_path, make_doc):
    empty = problems_for(tmp_path, "case-sample.md", make_doc(body="\n\n"))
    assert len(empty) == 1 and ": body: 正文为空" in empty[0]
    short = problems_for(tmp_path, "case-sample.md", make_doc(body="## 背景\n\n太短了。\n"))
    assert len(short) == 1 and "正文太短" in short[0]
    line = int(short[0].split(":")[1])
    text = (tmp_path / "docs" / "case-sample.md").read_text(encoding="utf-8").splitlines()
    assert text[line - 2] == "---"  # the body starts right after the closing marker


def test_invalid_yaml_reports_its_line(tmp_path):
    text = "---\nid: case-sample\ntitle: 标题\nthemes: [革命传统\nkind: case\n---\n\n正文\n"
    problems = problems_for(tmp_path, "case-sample.md", text)
    assert len(problems) == 1
    assert "YAML 格式错误" in problems[0]
    assert int(problems[0].split(":")[1]) in (4, 5)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# 没有 front matter\n\n正文", "缺少开头的 YAML front matter"),
        ("---\n- a\n- b\n---\n\n正文", "映射"),
        (b"---\nid: x\n---\n\n\xd6\xd0\xce\xc4\xff\xfe", "不是 UTF-8"),
        ("---\n---\n\n正文", "映射"),
    ],
)
def test_malformed_files_never_crash(tmp_path, text, message):
    problems = problems_for(tmp_path, "broken.md", text)
    assert len(problems) == 1 and message in problems[0]


def test_plan_agenda_must_add_up(tmp_path, make_doc):
    agenda = [{"minutes": 10, "step": "开场", "slot": "opening"}, {"minutes": 30, "step": "党课", "slot": "lecture"}]
    text = make_doc(id="plan-sample", kind="plan", agenda=agenda, budget_yuan=0, duration_minutes=45,
                    branch_type=None, industry=None, branch_size=None)
    problems = problems_for(tmp_path, "plan-sample.md", text)
    assert len(problems) == 1 and "合计 40 分钟" in problems[0]
    bad_slot = make_doc(id="plan-sample", kind="plan", budget_yuan=0, duration_minutes=10,
                        agenda=[{"minutes": 10, "step": "开场", "slot": "dance"}],
                        branch_type=None, industry=None, branch_size=None)
    problems = problems_for(tmp_path, "plan-sample.md", bad_slot)
    assert len(problems) == 1 and "agenda[1].slot" in problems[0]


def test_duplicate_ids_across_folders(tmp_path, make_doc):
    write(tmp_path / "lib" / "a", "case-sample.md", make_doc())
    write(tmp_path / "lib" / "b", "case-sample.md", make_doc())
    checked, problems = validate([tmp_path / "lib"], CORPUS)
    assert checked == 2
    assert [p.field for p in problems] == ["id"] and "重复的 id" in problems[0].message


def test_cli_exit_codes_and_output(tmp_path, make_doc):
    good = write(tmp_path / "ok", "case-sample.md", make_doc())
    bad = write(tmp_path / "bad", "case-sample.md", make_doc(themes=["英烈"], title=None))
    runner = CliRunner()
    ok = runner.invoke(cli, ["validate", str(good)])
    assert ok.exit_code == 0, ok.output
    failed = runner.invoke(cli, ["validate", str(bad)])
    assert failed.exit_code == 1
    lines = [line for line in failed.output.splitlines() if line.startswith(str(bad))]
    assert len(lines) == 2
    missing = runner.invoke(cli, ["validate", str(tmp_path / "nope")])
    assert missing.exit_code == 1 and "不存在" in missing.output


def test_bundled_corpus_is_valid():
    checked, problems = validate([CORPUS], CORPUS)
    assert checked >= 1
    assert [str(p) for p in problems] == []


def test_library_skips_invalid_documents_but_lists_them(tmp_path, make_doc):
    lib = tmp_path / "lib"
    for name in ("themes.yaml", "vocab.yaml", "calendar.yaml"):
        write(lib, name, (CORPUS / name).read_text(encoding="utf-8"))
    write(lib / "case", "case-sample.md", make_doc())
    write(lib / "case", "case-broken.md", make_doc(id="case-broken", themes=["不存在的主题"]))
    library = load_library(lib)
    assert list(library.documents) == ["case-sample"]
    assert len(library.problems) == 1 and library.problems[0].path.endswith("case-broken.md")
