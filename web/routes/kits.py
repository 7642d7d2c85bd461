"""The kit page: order → one printable page, exports, a shareable link, feedback."""

from __future__ import annotations

import datetime as dt
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response

from kb.errors import InvalidQuery, NotFound
from kb.export import FORMATS, render, to_html
from kb.kit import Kit, Order
from web.deps import CSRFDep, KBDep, ViewerDep
from web.rendering import page, twin

router = APIRouter(tags=["secretaries"])


def _number(value: str, name: str, low: int, high: int) -> int | None:
    value = (value or "").strip()
    if not value:
        return None
    if not value.isdigit() or not low <= int(value) <= high:
        raise InvalidQuery(f"{name}应为 {low}–{high} 之间的整数，收到“{value}”")
    return int(value)


def order_from_params(kb, q: str, formats: list[str], duration: str, headcount: str, date: str,
                      audience: list[str], district: str, venue: str, start: str) -> Order:
    if not q.strip():
        raise InvalidQuery("请填写想做的主题，例如“清明节带大家去缅怀先烈”")
    unknown = [f for f in formats if f and f not in kb.vocab.names("formats")]
    if unknown:
        raise InvalidQuery(f"未知的活动形式“{'、'.join(unknown)}”（可选：{'、'.join(kb.vocab.names('formats'))}）")
    unknown = [a for a in audience if a and a not in kb.vocab.names("audience")]
    if unknown:
        raise InvalidQuery(f"未知的受众“{'、'.join(unknown)}”（可选：{'、'.join(kb.vocab.names('audience'))}）")
    when = None
    if date:
        try:
            when = dt.date.fromisoformat(date)
        except ValueError:
            raise InvalidQuery(f"日期格式应为 YYYY-MM-DD，收到“{date}”") from None
    if start and not (len(start) == 5 and start[2] == ":" and start[:2].isdigit() and start[3:].isdigit()
                      and int(start[:2]) < 24 and int(start[3:]) < 60):
        raise InvalidQuery(f"开始时间应为 HH:MM，收到“{start}”")
    return Order(q.strip()[:200], [f for f in formats if f], _number(duration, "时长", 5, 24 * 60),
                 _number(headcount, "人数", 1, 10_000), when, [a for a in audience if a],
                 district.strip() or None, venue.strip() or None, start or "14:00")


def share_link(order: Order) -> str:
    params = [("q", order.text), *[("formats", f) for f in order.formats],
              ("duration", order.duration), ("headcount", order.headcount),
              ("date", order.date.isoformat() if order.date else None), *[("audience", a) for a in order.audience],
              ("district", order.district), ("venue", order.venue)]
    return "/kit?" + "&".join(f"{k}={quote(str(v))}" for k, v in params if v not in (None, ""))


@twin(router, "/kit")
def order_kit(request: Request, kb: KBDep, _: ViewerDep, q: str = "",
              formats: Annotated[list[str], Query()] = [], duration: str = "",  # noqa: B006
              headcount: str = "", date: str = "", audience: Annotated[list[str], Query()] = [],  # noqa: B006
              district: str = "", venue: str = "", start: str = "14:00"):
    """点单：按主题和条件生成活动资料包（同样的点单得到同样的资料包）。"""
    order = order_from_params(kb, q, formats, duration, headcount, date, audience, district, venue, start)
    kit = kb.order(order, user=request.state.user.name or None)
    return page(request, "kit.html", {"kit": kit.to_dict(), "share": share_link(order)})


def logged_kit(kb, kit_id: str) -> Kit:
    data = kb.store.kit(kit_id) if kit_id.isalnum() and len(kit_id) <= 40 else None
    if data is None:
        raise NotFound(f"找不到资料包“{kit_id}”")
    return Kit.from_dict(data)


@router.get("/kits/{kit_id}.{fmt}", include_in_schema=False)
def kit_export(request: Request, kit_id: str, fmt: str, kb: KBDep, _: ViewerDep):
    """资料包导出：.docx（Word）、.md（Markdown）、.html（打印版）、.json。"""
    kit = logged_kit(kb, kit_id)
    if fmt == "json":
        return page(request, "kit.html", {"kit": kit.to_dict()})
    if fmt not in FORMATS:
        raise NotFound(f"不支持的导出格式“{fmt}”（可选：docx、md、html）")
    filename = f"红领资源库-活动资料包-{kit.id}.{fmt}"
    disposition = "inline" if fmt == "html" else f"attachment; filename*=UTF-8''{quote(filename)}"
    return Response(render(kit, fmt), media_type=FORMATS[fmt], headers={"Content-Disposition": disposition})


@router.get("/kits/{kit_id}", include_in_schema=False)
def kit_page(request: Request, kit_id: str, kb: KBDep, _: ViewerDep):
    """分享链接：显示当时生成的资料包。"""
    kit = logged_kit(kb, kit_id)
    return page(request, "kit.html", {"kit": kit.to_dict(), "share": f"/kits/{kit.id}"})


@router.get("/kits/{kit_id}/print", include_in_schema=False)
def kit_print(kit_id: str, kb: KBDep, _: ViewerDep):
    """打印版（独立页面，无导航）。"""
    return Response(to_html(logged_kit(kb, kit_id)), media_type="text/html; charset=utf-8")


@router.post("/kits/{kit_id}/feedback", include_in_schema=False, dependencies=[CSRFDep])
def kit_feedback(request: Request, kit_id: str, kb: KBDep, _: ViewerDep,
                 rating: Annotated[int, Form(ge=1, le=5)], note: Annotated[str, Form(max_length=2000)] = ""):
    """“用过了”：给资料包打分，评分会影响以后的推荐。"""
    kit = logged_kit(kb, kit_id)
    kb.store.add_feedback("kit", kit.id, rating, note, user=request.state.user.name or None)
    return RedirectResponse(f"/kits/{kit.id}?thanks=1#feedback", status_code=303)
