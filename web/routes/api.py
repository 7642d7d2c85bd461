"""The JSON API (documented at /api/docs): search, kits, documents, similar, feedback, calendar."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from kb.editing import safe_id
from kb.errors import DocumentNotFound, InvalidQuery, NotFound
from kb.filters import Filters
from kb.kit import Kit, Order
from kb.similar import similar
from web.deps import KBDep, ViewerDep

router = APIRouter(prefix="/api", tags=["api"])


class KitRequest(BaseModel):
    text: str = Field(min_length=1, max_length=1000, description="点单内容，例如“清明节带大家去缅怀先烈”")
    formats: list[str] = Field(default_factory=list, description="活动形式（取自词表）")
    duration: int | None = Field(default=None, ge=5, le=1440, description="时长（分钟）")
    headcount: int | None = Field(default=None, ge=1, le=10_000, description="人数")
    date: dt.date | None = Field(default=None, description="活动日期，影响纪念日推荐")
    audience: list[str] = Field(default_factory=list, description="受众（取自词表）")
    district: str | None = Field(default=None, max_length=40)
    venue: str | None = Field(default=None, max_length=80, description="指定红领阵地 id")
    start: str = Field(default="14:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")


class FeedbackRequest(BaseModel):
    target_type: Literal["kit", "doc"]
    target_id: str = Field(min_length=1, max_length=100)
    rating: int = Field(ge=1, le=5)
    note: str = Field(default="", max_length=2000)


@router.get("/search")
def api_search(kb: KBDep, _: ViewerDep, q: Annotated[str, Query(max_length=2000)],
               kind: Annotated[list[str], Query()] = [], theme: Annotated[list[str], Query()] = [],  # noqa: B006
               format: Annotated[list[str], Query()] = [],  # noqa: B006
               audience: Annotated[list[str], Query()] = [],  # noqa: B006
               duration: Annotated[int | None, Query(ge=1, le=100_000)] = None,
               headcount: Annotated[int | None, Query(ge=1, le=100_000)] = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 10,
               mode: Literal["hybrid", "keyword", "dense"] = "hybrid") -> dict:
    """检索：混合检索，返回文档、最佳段落和推荐理由。"""
    filters = Filters.build(kb.vocab, kind=kind, themes=theme, formats=format, audience=audience,
                            duration=duration, headcount=headcount)
    return kb.searcher.search(q, filters, limit=limit, mode=mode).to_dict()


@router.post("/kits")
def api_kit(request: Request, body: KitRequest, kb: KBDep, _: ViewerDep) -> dict:
    """点单：生成活动资料包（党课、案例、地点、议程，每项附理由）。"""
    for name, values in (("formats", body.formats), ("audience", body.audience)):
        unknown = [v for v in values if v not in kb.vocab.names(name)]
        if unknown:
            raise InvalidQuery(f"{name} 的取值“{'、'.join(unknown)}”无效，可选：{'、'.join(kb.vocab.names(name))}")
    order = Order(body.text, body.formats, body.duration, body.headcount, body.date, body.audience,
                  body.district, body.venue, body.start)
    return kb.order(order, user=request.state.user.name or None).to_dict()


@router.get("/kits/{kit_id}")
def api_kit_get(kit_id: str, kb: KBDep, _: ViewerDep) -> dict:
    """按编号取回已生成的资料包。"""
    data = kb.store.kit(kit_id) if kit_id.isalnum() else None
    if data is None:
        raise NotFound(f"找不到资料包“{kit_id}”")
    return Kit.from_dict(data).to_dict()


@router.get("/docs/{doc_id}")
def api_document(request: Request, doc_id: str, kb: KBDep, _: ViewerDep) -> dict:
    """文档全文与元数据。"""
    doc = kb.library().get(safe_id(doc_id))
    if not doc.published and not request.state.user.can("curator"):
        raise DocumentNotFound(f"找不到文档“{doc_id}”")
    return doc.to_dict()


@router.get("/docs/{doc_id}/similar")
def api_similar(doc_id: str, kb: KBDep, _: ViewerDep, limit: Annotated[int, Query(ge=1, le=50)] = 5,
                kind: str | None = None) -> dict:
    """相似资料（案例默认找相似案例，不含自身）。"""
    hits = similar(kb.searcher, safe_id(doc_id), limit=limit, kind=kind, ratings=kb.ratings())
    return {"doc_id": doc_id, "hits": [h.to_dict() for h in hits]}


@router.post("/feedback", status_code=201)
def api_feedback(request: Request, body: FeedbackRequest, kb: KBDep, _: ViewerDep) -> dict:
    """“用过了”反馈：评分 1–5 和备注。"""
    if body.target_type == "kit":
        if not body.target_id.isalnum() or kb.store.kit(body.target_id) is None:
            raise NotFound(f"找不到资料包“{body.target_id}”")
    else:
        doc = kb.library().get(safe_id(body.target_id))
        if not doc.published:
            raise DocumentNotFound(f"找不到文档“{body.target_id}”")
    feedback_id = kb.store.add_feedback(body.target_type, body.target_id, body.rating, body.note,
                                        user=request.state.user.name or None)
    return {"id": feedback_id, "ok": True}


@router.get("/calendar")
def api_calendar(kb: KBDep, _: ViewerDep, date: dt.date | None = None,
                 days: Annotated[int, Query(ge=1, le=366)] = 45) -> list[dict]:
    """近期纪念日及推荐主题。"""
    return [u.to_dict() for u in kb.calendar.upcoming(date or dt.date.today(), within_days=days)]
