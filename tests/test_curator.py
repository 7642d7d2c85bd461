"""Curators: upload, convert, edit, validate, publish, find by search; retire, restore, history, audit."""

from __future__ import annotations

import io
import re
import time

import pytest

from tests.conftest import REALDOCS, csrf_of, login


def wait_for_index(app, timeout=60):
    deadline = time.time() + timeout
    while app.state.index_job.state.running and time.time() < deadline:
        time.sleep(0.05)
    return app.state.index_job.state


def form_of(draft: dict, **changes) -> dict:
    data = dict(draft["fields"])
    data.update(changes)
    data["body"] = changes.get("body", draft["body"])
    return data


def make_docx(paragraphs: list[tuple[str, str]]) -> bytes:
    from docx import Document

    doc = Document()
    for style, text in paragraphs:
        doc.add_paragraph(text, style=style)
    buffer = io.BytesIO()
    doc.save(buffer)
    return buffer.getvalue()


def upload(client, name: str, data: bytes, kind: str = ""):
    token = csrf_of(client, "/curator/new")
    return client.post("/curator/upload", data={"csrf": token, "kind": kind},
                       files={"file": (name, data, "application/octet-stream")}, follow_redirects=False)


def test_upload_real_regulation_publish_and_find_by_article(curator_app):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    response = upload(client, "zhibu.md", (REALDOCS / "zhibu_gongzuo_tiaoli_shixing_2018.md").read_bytes())
    assert response.status_code == 303
    draft_url = response.headers["location"]
    draft = client.get(draft_url + ".json").json()
    assert draft["fields"]["kind"] == "policy" and "支部工作条例" in draft["fields"]["title"]
    assert draft["problems"]  # issuer and issued are not in the text: the curator must add them
    token = csrf_of(client, draft_url)
    form = form_of(draft, id="policy-zhibu-upload", status="published", issuer="中共中央", issued="2018-10-28",
                   csrf=token, op="publish")
    published = client.post(draft_url, data=form, follow_redirects=False)
    assert published.status_code == 303 and published.headers["location"].startswith("/docs/policy-zhibu-upload")
    state = wait_for_index(app)
    assert not state.error and "policy-zhibu-upload" in state.report["added"]
    hits = client.get("/search.json", params={"q": "正式党员不足3人 联合党支部", "kind": "policy"}).json()["hits"]
    top = next(h for h in hits if h["doc_id"] == "policy-zhibu-upload")
    assert "第五条" in top["heading"]  # chunked by article, cited by article
    assert (app.state.kb.settings.library / "policy" / "policy-zhibu-upload.md").exists()


def test_docx_upload_becomes_a_searchable_case(curator_app):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    data = make_docx([("Title", "电竞公司党支部的红色主题观影夜"), ("Heading 1", "背景"),
                      ("Normal", "某电竞公司党支部有党员九名，平均年龄二十六岁，过去的组织生活大家提不起兴趣。" * 4),
                      ("Heading 1", "做法"),
                      ("Normal", "支部选了一部反映科技报国的纪录片，先用十分钟导读，观影后分三组讨论，每组派一人发言。" * 3),
                      ("Heading 1", "成效"),
                      ("Normal", "参与率从五成提高到九成，两名青年员工递交了入党申请书，活动记录被片区党委收入资料库。" * 3)])
    response = upload(client, "观影夜.docx", data, kind="case")
    draft_url = response.headers["location"]
    draft = client.get(draft_url + ".json").json()
    assert draft["fields"]["title"] == "电竞公司党支部的红色主题观影夜"
    assert "## 背景" in draft["body"] and "## 做法" in draft["body"]
    form = form_of(draft, id="case-esports-film-night", status="published", themes=["青年成长", "红色文化"],
                   formats=["观影", "研讨"], duration_minutes="120", headcount="8-30", branch_type="单独组建党支部",
                   industry="电子竞技", branch_size="9", summary="电竞公司支部用纪录片观影和分组讨论提高青年党员参与率。",
                   csrf=csrf_of(client, draft_url), op="publish")
    published = client.post(draft_url, data=form, follow_redirects=False)
    assert published.status_code == 303, re.findall(r"<li>(.*?)</li>", published.text)
    assert not wait_for_index(app).error
    hits = client.get("/search.json", params={"q": "电竞 观影"}).json()["hits"]
    assert hits[0]["doc_id"] == "case-esports-film-night"
    assert client.get("/docs/case-esports-film-night").status_code == 200


def test_invalid_publish_keeps_the_draft_and_lists_problems(curator_app):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    token = csrf_of(client, "/curator/new")
    response = client.post("/curator/paste", data={"csrf": token, "title": "一篇粘贴的稿子",
                                                   "text": "第一段内容比较短。\n\n第二段也不长，但足够二十个字以上了吧。"},
                           follow_redirects=False)
    draft_url = response.headers["location"]
    draft = client.get(draft_url + ".json").json()
    form = form_of(draft, themes=["不存在的主题"], csrf=csrf_of(client, draft_url), op="publish")
    failed = client.post(draft_url, data=form)
    assert failed.status_code == 422
    assert "未知的取值" in failed.text and "正文太短" in failed.text
    assert client.get(draft_url + ".json").status_code == 200  # the draft is still there


@pytest.mark.parametrize(
    ("name", "data", "message", "status"),
    [
        ("bad.pdf", b"%PDF-1.4\n garbage garbage", "PDF 文件已损坏", 415),
        ("bad.docx", b"PK\x03\x04 not really a zip", "Word 文件已损坏", 415),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "不支持旧版 .doc", 415),
        ("binary.txt", bytes(range(256)) * 4, "无法识别文件内容", 415),
        ("empty.txt", b"   ", "文件是空的", 415),
    ],
)
def test_bad_uploads_get_a_clear_message(curator_app, name, data, message, status):
    _, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    response = upload(client, name, data)
    assert response.status_code == status
    assert message in response.text


def test_gb18030_text_is_decoded(curator_app):
    _, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    text = "关于开展主题党日活动的通知\n\n一、活动主题\n\n学习党章，重温入党誓词，交流体会，每人发言三分钟。\n"
    response = upload(client, "通知.txt", text.encode("gb18030"))
    draft = client.get(response.headers["location"] + ".json").json()
    assert "## 一、活动主题" in draft["body"] and "重温入党誓词" in draft["body"]


def test_edit_retire_restore_and_history(curator_app):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    doc_id = "case-rotating-open-party-day"
    edit = client.get(f"/curator/docs/{doc_id}/edit.json").json()
    form = form_of(edit, summary=edit["fields"]["summary"] + "（已修订）", csrf=csrf_of(client, f"/curator/docs/{doc_id}/edit"),
                   op="publish")
    assert client.post(f"/curator/docs/{doc_id}/edit", data=form, follow_redirects=False).status_code == 303
    assert "（已修订）" in client.get(f"/docs/{doc_id}.json").json()["doc"]["summary"]
    token = csrf_of(client, f"/docs/{doc_id}")
    assert client.post(f"/curator/docs/{doc_id}/retire", data={"csrf": token}, follow_redirects=False).status_code == 303
    wait_for_index(app)
    assert client.get(f"/docs/{doc_id}.json").json()["doc"]["status"] == "retired"
    hits = client.get("/search.json", params={"q": "轮值 开放式主题党日"}).json()["hits"]
    assert doc_id not in [h["doc_id"] for h in hits]
    client.post(f"/curator/docs/{doc_id}/restore", data={"csrf": token}, follow_redirects=False)
    versions = client.get(f"/curator/docs/{doc_id}/history.json").json()["versions"]
    assert len(versions) == 3  # before the edit, before retiring, before restoring
    oldest = versions[-1]
    client.post(f"/curator/docs/{doc_id}/history/{oldest}", data={"csrf": token}, follow_redirects=False)
    assert "（已修订）" not in client.get(f"/docs/{doc_id}.json").json()["doc"]["summary"]
    actions = [a["action"] for a in client.get("/curator/audit.json").json()["audit"]]
    assert {"update", "retire", "restore", "restore_version", "login"} <= set(actions)


def test_failed_indexing_keeps_the_document_and_shows_the_error(curator_app, monkeypatch):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("web.indexing.update_index", broken)
    token = csrf_of(client, "/curator")
    client.post("/curator/reindex", data={"csrf": token}, follow_redirects=False)
    state = wait_for_index(app)
    assert "disk full" in state.error
    dashboard = client.get("/curator").text
    assert "上次索引失败" in dashboard and "文档没有丢失" in dashboard
    assert client.get("/search.json", params={"q": "轮值"}).json()["hits"]  # the old index still serves
