"""Curators: add documents (upload or paste), edit, publish, retire/restore, re-index, demand gaps, audit."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse

from indexer.convert import convert, structure
from kb.editing import Editor, fields_from_form, form_from_fields, safe_id
from kb.errors import ConversionError, InvalidDocument, UploadTooLarge
from kb.gaps import demand_gaps
from kb.schema import FIELDS, KINDS
from web.deps import CSRFDep, CuratorDep, KBDep
from web.rendering import page, twin

router = APIRouter(prefix="/curator", tags=["curators"], include_in_schema=False)


def editor(kb) -> Editor:
    return Editor(kb.settings.library, kb.settings.data_dir, kb.store)


def reindex(request: Request) -> bool:
    return request.app.state.index_job.start()


@twin(router, "")
def dashboard(request: Request, kb: KBDep, user: CuratorDep, kind: str = "", status: str = ""):
    """资料员工作台：草稿、文档、缺口、索引状态、操作记录。"""
    library = kb.library(reload=True)
    docs = sorted(library.documents.values(), key=lambda d: (d.kind, d.id))
    rows = [{"id": d.id, "title": d.title, "kind": d.kind, "status": d.status, "updated": d.updated.isoformat()}
            for d in docs if (not kind or d.kind == kind) and (not status or d.status == status)]
    counts = {k: sum(1 for d in docs if d.kind == k and d.published) for k in KINDS}
    return page(request, "curator/dashboard.html", {
        "documents": rows, "counts": counts, "drafts": editor(kb).list_drafts(),
        "problems": [str(p) for p in library.problems],
        "gaps": [g.to_dict() for g in demand_gaps(kb.store.orders(kits="weak"))][:10],
        "index": request.app.state.index_job.state.to_dict(),
        "audit": kb.store.audit_log(30), "filter": {"kind": kind, "status": status},
    })


@router.get("/new")
def new_document(request: Request, user: CuratorDep):
    """新增文档：上传文件或粘贴文本。"""
    return page(request, "curator/new.html", {"error": ""})


@router.post("/upload", dependencies=[CSRFDep])
async def upload(request: Request, kb: KBDep, user: CuratorDep, file: Annotated[UploadFile, File()],
                 kind: Annotated[str, Form()] = ""):
    """上传 Word/PDF/文本/Markdown：转换为 Markdown，预填字段，存为草稿（原文件保留）。"""
    limit = kb.settings.max_upload_mb * 1024 * 1024
    data = await file.read(limit + 1)
    name = file.filename or "upload"
    ed = editor(kb)
    try:
        converted = convert(name, data, kb.vocab, max_bytes=limit)
    except (ConversionError, UploadTooLarge) as exc:
        kb.store.audit(user.name, "upload_failed", name, exc.message)
        return page(request, "curator/new.html", {"error": f"{name}：{exc.message}"}, status_code=exc.status)
    fields = converted.fields
    if kind in KINDS:
        fields["kind"] = kind
        fields["id"] = f"{kind}-{fields['id'].split('-', 1)[1]}"
    ed.keep_upload(fields["id"], name, data)
    draft_id = ed.save_draft(fields, converted.markdown, user.name)
    return RedirectResponse(f"/curator/drafts/{draft_id}", status_code=303)


@router.post("/paste", dependencies=[CSRFDep])
def paste(request: Request, kb: KBDep, user: CuratorDep, text: Annotated[str, Form(max_length=2_000_000)] = "",
          title: Annotated[str, Form(max_length=200)] = ""):
    """粘贴文本：同样转换并存为草稿。"""
    if len(text.strip()) < 20:
        return page(request, "curator/new.html", {"error": "粘贴的内容太短（至少 20 个字）"}, status_code=422)
    converted = convert("粘贴文本.txt", structure(text).encode("utf-8"), kb.vocab)
    if title.strip():
        converted.fields["title"] = title.strip()
    draft_id = editor(kb).save_draft(converted.fields, converted.markdown, user.name)
    return RedirectResponse(f"/curator/drafts/{draft_id}", status_code=303)


LABELS = {f.name: f.label for f in FIELDS} | {"body": "正文", "front matter": "字段"}


def describe(problems) -> list[str]:
    """Problems as a form shows them: the field's label and what is wrong (no file or line)."""
    out = []
    for p in problems:
        field, message = (p.field, p.message) if hasattr(p, "field") else (str(p).split(": ")[-2:] + [""])[:2]
        out.append(f"{LABELS.get(field.split('[')[0], field)}：{message}")
    return out


def _form_page(request, kb, *, fields: dict, body: str, action: str, problems=None, preview=False, mode="draft"):
    if problems is None:
        problems = editor(kb).check(fields, body, kb.vocab)[1]
    problems = describe(problems)
    return page(request, "curator/edit.html", {
        "fields": form_from_fields(fields), "body": body, "action": action, "problems": problems,
        "preview": preview, "mode": mode, "specs": [f.__dict__ | {"required_for": sorted(f.required_for),
                                                                  "kinds": sorted(f.kinds)} for f in FIELDS],
        "vocab": {"themes": kb.vocab.names("themes"), "formats": kb.vocab.names("formats"),
                  "audience": kb.vocab.names("audience")},
    }, status_code=422 if problems and mode == "failed" else 200)


@twin(router, "/drafts/{draft_id}")
def draft(request: Request, draft_id: str, kb: KBDep, user: CuratorDep):
    """编辑草稿：字段表单 + 正文，按 kb validate 的规则检查。"""
    fields, body = editor(kb).load_draft(draft_id)
    return _form_page(request, kb, fields=fields, body=body, action=f"/curator/drafts/{safe_id(draft_id)}")


async def _form_fields(request: Request) -> tuple[dict, str, str]:
    form = await request.form()
    values = {key: (form.getlist(key) if key in ("themes", "formats", "audience") else form.get(key))
              for key in form.keys()}
    return fields_from_form(values), str(form.get("body") or ""), str(form.get("op") or "save")


@router.post("/drafts/{draft_id}", dependencies=[CSRFDep])
async def save_draft(request: Request, draft_id: str, kb: KBDep, user: CuratorDep):
    """保存 / 预览 / 发布 / 丢弃草稿。"""
    ed = editor(kb)
    ed.load_draft(draft_id)
    fields, body, op = await _form_fields(request)
    action = f"/curator/drafts/{safe_id(draft_id)}"
    if op == "discard":
        ed.discard_draft(draft_id, user.name)
        return RedirectResponse("/curator", status_code=303)
    if op == "publish":
        try:
            doc = ed.publish(fields, body, kb.library(reload=True), user.name)
        except InvalidDocument as exc:
            ed.save_draft({**fields, "id": draft_id} if not fields.get("id") else fields, body, user.name)
            return _form_page(request, kb, fields=fields, body=body, action=action, problems=exc.detail,
                              mode="failed")
        if doc.id != draft_id:
            ed.discard_draft(draft_id, user.name)
        else:
            (ed.drafts / f"{draft_id}.md").unlink(missing_ok=True)
        kb.library(reload=True)
        reindex(request)
        return RedirectResponse(f"/docs/{doc.id}?published=1", status_code=303)
    if fields.get("id") and fields["id"] != draft_id:
        safe_id(fields["id"])
    ed.save_draft({**fields, "id": draft_id}, body, user.name)
    return _form_page(request, kb, fields=fields, body=body, action=action, preview=op == "preview")


@twin(router, "/docs/{doc_id}/edit")
def edit_document(request: Request, doc_id: str, kb: KBDep, user: CuratorDep):
    """编辑已发布文档。"""
    doc = kb.library(reload=True).get(safe_id(doc_id))
    return _form_page(request, kb, fields=doc.front_matter(), body=doc.body,
                      action=f"/curator/docs/{doc.id}/edit", mode="edit")


@router.post("/docs/{doc_id}/edit", dependencies=[CSRFDep])
async def update_document(request: Request, doc_id: str, kb: KBDep, user: CuratorDep):
    """保存对已发布文档的修改（旧版本保留，可恢复）。"""
    library = kb.library(reload=True)
    library.get(safe_id(doc_id))
    fields, body, op = await _form_fields(request)
    action = f"/curator/docs/{doc_id}/edit"
    if op == "preview":
        return _form_page(request, kb, fields=fields, body=body, action=action, preview=True, mode="edit")
    try:
        doc = editor(kb).publish(fields, body, library, user.name, replace=doc_id)
    except InvalidDocument as exc:
        return _form_page(request, kb, fields=fields, body=body, action=action, problems=exc.detail, mode="failed")
    kb.library(reload=True)
    reindex(request)
    return RedirectResponse(f"/docs/{doc.id}?saved=1", status_code=303)


@router.post("/docs/{doc_id}/{op}", dependencies=[CSRFDep])
def change_status(request: Request, doc_id: str, op: str, kb: KBDep, user: CuratorDep):
    """下架（retire）或恢复（restore）文档。"""
    from kb.errors import NotFound

    status = {"retire": "retired", "restore": "published"}.get(op)
    if status is None:
        raise NotFound("不支持的操作")
    editor(kb).set_status(kb.library(reload=True), doc_id, status, user.name)
    kb.library(reload=True)
    reindex(request)
    return RedirectResponse(f"/docs/{safe_id(doc_id)}", status_code=303)


@twin(router, "/docs/{doc_id}/history")
def history(request: Request, doc_id: str, kb: KBDep, user: CuratorDep):
    """文档的历史版本。"""
    doc = kb.library().get(safe_id(doc_id))
    return page(request, "curator/history.html", {"doc": {"id": doc.id, "title": doc.title},
                                                 "versions": editor(kb).versions(doc.id)})


@router.post("/docs/{doc_id}/history/{version}", dependencies=[CSRFDep])
def restore_version(request: Request, doc_id: str, version: str, kb: KBDep, user: CuratorDep):
    """恢复到某个历史版本。"""
    editor(kb).restore_version(kb.library(reload=True), doc_id, version, user.name)
    kb.library(reload=True)
    reindex(request)
    return RedirectResponse(f"/docs/{safe_id(doc_id)}?restored=1", status_code=303)


@router.post("/reindex", dependencies=[CSRFDep])
def start_reindex(request: Request, kb: KBDep, user: CuratorDep):
    """手动触发增量索引。"""
    started = reindex(request)
    kb.store.audit(user.name, "reindex", "index", "started" if started else "already running")
    return RedirectResponse("/curator#index", status_code=303)


@router.get("/reindex/status")
def reindex_status(request: Request, user: CuratorDep):
    """索引进度（JSON，页面轮询）。"""
    return JSONResponse(request.app.state.index_job.state.to_dict())


@twin(router, "/gaps")
def gaps(request: Request, kb: KBDep, user: CuratorDep):
    """资料缺口：点单多但匹配弱的主题。"""
    return page(request, "curator/gaps.html", {"gaps": [g.to_dict() for g in demand_gaps(kb.store.orders(kits="weak"))]})


@twin(router, "/audit")
def audit(request: Request, kb: KBDep, user: CuratorDep):
    """操作记录：谁、何时、做了什么。"""
    return page(request, "curator/audit.html", {"audit": kb.store.audit_log(500)})
