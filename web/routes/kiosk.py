"""Venue screens: a lobby display of recommended kits with QR codes, rotating by itself."""

from __future__ import annotations

import datetime as dt
import time

import segno
from fastapi import APIRouter, Request
from markupsafe import Markup

from kb.editing import safe_id
from kb.errors import DocumentNotFound
from kb.kit import Order
from web.deps import KBDep
from web.rendering import page, twin
from web.routes.kits import share_link

router = APIRouter(tags=["venues"])
CACHE_SECONDS = 600
SLIDES = 6


def screen_orders(kb, venue, today: dt.date) -> list[tuple[str, str]]:
    """(theme, order text) for the coming anniversaries first, then the venue's own themes."""
    themes: list[tuple[str, str]] = []
    for up in kb.calendar.upcoming(today, within_days=45):
        for theme in up.event.themes:
            themes.append((theme, up.event.name))
    themes += [(t, "阵地特色") for t in venue.themes]
    seen, out = set(), []
    for theme, reason in themes:
        if theme in seen or kb.vocab.term("themes", theme) is None:
            continue
        seen.add(theme)
        term = kb.vocab.term("themes", theme)
        out.append((reason, f"{theme} {term.description}"))
    return out[:SLIDES]


def qr_svg(url: str) -> Markup:
    return Markup(segno.make(url, error="m").svg_inline(scale=5, dark="#111", light="#fff"))  # noqa: S704 - generated


@twin(router, "/venues/{venue_id}/screen")
def screen(request: Request, venue_id: str, kb: KBDep, interval: int = 12):
    """阵地大屏：轮播近期推荐资料包，扫码带走。"""
    venue = kb.library().documents.get(safe_id(venue_id))
    if venue is None or venue.kind != "venue" or not venue.published:
        raise DocumentNotFound(f"找不到红领阵地“{venue_id}”")
    today = dt.date.today()
    cache = request.app.state.__dict__.setdefault("screens", {})
    key = (venue.id, today)
    if key not in cache or time.time() - cache[key][0] > CACHE_SECONDS:
        base = kb.settings.public_url.rstrip("/") or str(request.base_url).rstrip("/")
        slides = []
        for reason, text in screen_orders(kb, venue, today):
            order = Order(text, date=today, venue=venue.id)
            kit = kb.order(order, today=today, log=False)  # shares the kit cache with 点单
            link = base + share_link(order)
            slides.append({"reason": reason, "kit": kit.to_dict(), "link": link, "_qr": qr_svg(link)})
        cache[key] = (time.time(), slides)
    slides = cache[key][1]
    return page(request, "kiosk.html", {
        "venue": {"id": venue.id, "title": venue.title, "address": venue.meta.get("address", ""),
                  "open_hours": venue.meta.get("open_hours", "")},
        "slides": [{k: v for k, v in s.items() if not k.startswith("_")} for s in slides],
        "_qr": [s["_qr"] for s in slides], "date": today.isoformat(), "interval": min(max(interval, 1), 120),
        "calendar": [u.to_dict() for u in kb.calendar.upcoming(today, within_days=45)][:4],
    })
