"""Secretaries: the home page with the 点单 form, and search with facets."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from fastapi import APIRouter, Request

from kb.filters import Filters
from web.deps import KBDep, ViewerDep
from web.rendering import page, twin

router = APIRouter(tags=["secretaries"])
DURATION_BANDS = [(30, "30 分钟内"), (60, "1 小时内"), (120, "2 小时内"), (240, "半天内")]


@twin(router, "/")
def home(request: Request, kb: KBDep, _: ViewerDep):
    """首页：点单表单、近期纪念日、常用资料包。"""
    today = dt.date.today()
    upcoming = [u.to_dict() for u in kb.calendar.upcoming(today, within_days=60)][:6]
    return page(request, "home.html", {
        "upcoming": upcoming, "popular": kb.store.popular_kits(6),
        "formats": kb.vocab.names("formats"), "audiences": kb.vocab.names("audience"),
        "themes": [{"name": t.name, "description": t.description} for t in kb.vocab.themes],
        "today": today.isoformat(),
    })


def _ints(value: str | None, name: str) -> int | None:
    from kb.errors import InvalidFilter

    if value in (None, ""):
        return None
    if not str(value).strip().isdigit():
        raise InvalidFilter(f"{name} 应是正整数，收到“{value}”")
    return int(value)


@twin(router, "/search")
def search(request: Request, kb: KBDep, _: ViewerDep, q: str = "", kind: str = "", theme: str = "",
           format: str = "", duration: str = "", headcount: str = "", status: str = ""):
    """检索结果：按类型、主题、形式、时长筛选，高亮最佳段落。"""
    filters = Filters.build(kb.vocab, kind=kind or None, themes=theme or None, formats=format or None,
                            duration=_ints(duration, "时长"), headcount=_ints(headcount, "人数"),
                            status=status if status and request.state.user.can("curator") else None)
    result = kb.searcher.search(q, filters, limit=50) if q.strip() else None
    hits = [h.to_dict() for h in result.hits] if result else []
    facets = {
        "kind": Counter(h["kind"] for h in hits).most_common(),
        "theme": Counter(t for h in hits for t in h["themes"]).most_common(12),
        "format": Counter(f for h in hits for f in h["formats"]).most_common(10),
        "duration": [(limit, label) for limit, label in DURATION_BANDS],
    }
    selected = {"q": q, "kind": kind, "theme": theme, "format": format, "duration": duration,
                "headcount": headcount}
    return page(request, "search.html", {
        "query": q, "hits": hits[:20], "total": len(hits), "facets": facets, "selected": selected,
        "notices": result.notices if result else [],
        "understood": result.to_dict()["understood"] if result else None,
    })
