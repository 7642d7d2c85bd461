"""A document page: rendered Markdown, metadata, similar material, "用过了" feedback."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from kb.editing import safe_id
from kb.errors import DocumentNotFound
from kb.similar import similar
from web.deps import CSRFDep, KBDep, ViewerDep
from web.rendering import page, twin

router = APIRouter(tags=["secretaries"])


def visible_document(kb, request: Request, doc_id: str):
    doc = kb.library().get(safe_id(doc_id))
    if not doc.published and not request.state.user.can("curator"):
        raise DocumentNotFound(f"找不到文档“{doc_id}”")
    return doc


@twin(router, "/docs/{doc_id}")
def document(request: Request, doc_id: str, kb: KBDep, _: ViewerDep):
    """文档详情：正文、元数据、相似资料、反馈。"""
    doc = visible_document(kb, request, doc_id)
    try:
        related = [h.to_dict() for h in similar(kb.searcher, doc.id, limit=5, ratings=kb.ratings())]
    except DocumentNotFound:
        related = []  # not indexed yet (just published): the page still shows
    return page(request, "doc.html", {
        "doc": doc.to_dict(), "related": related,
        "feedback": kb.store.feedback_for("doc", doc.id, limit=10),
        "_body": doc.body,
    })


@router.post("/docs/{doc_id}/feedback", include_in_schema=False, dependencies=[CSRFDep])
def document_feedback(request: Request, doc_id: str, kb: KBDep, _: ViewerDep,
                      rating: Annotated[int, Form(ge=1, le=5)], note: Annotated[str, Form(max_length=2000)] = ""):
    """“用过了”：给文档打分。"""
    doc = visible_document(kb, request, doc_id)
    kb.store.add_feedback("doc", doc.id, rating, note, user=request.state.user.name or None)
    return RedirectResponse(f"/docs/{doc.id}?thanks=1#feedback", status_code=303)
