"""The curator's form round-trips every document's front matter: what is saved is what was there."""

from __future__ import annotations

from kb.editing import fields_from_form, form_from_fields
from kb.library import load_library
from tests.conftest import CORPUS


def test_every_document_survives_the_form_unchanged():
    library = load_library(CORPUS)
    with_commas = 0
    for doc in library.documents.values():
        fields = doc.front_matter()
        back = fields_from_form(form_from_fields(fields))
        for name in ("questions", "tags", "themes", "formats", "audience", "equipment"):
            assert back.get(name) == fields.get(name), (doc.id, name)
        with_commas += any("，" in q or "、" in q for q in fields.get("questions", []))
    assert with_commas > 10  # the questions this guards: commas are part of them, not separators


def test_questions_are_one_per_line_in_the_form():
    form = form_from_fields({"questions": ["去完中山陵，顺路还能看哪", "纪念碑前献花篮、重温誓词"]})
    assert form["questions"] == "去完中山陵，顺路还能看哪\n纪念碑前献花篮、重温誓词"
    assert fields_from_form({"questions": "第一句，带逗号\r\n\n第二句  \n"})["questions"] == ["第一句，带逗号", "第二句"]
