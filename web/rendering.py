"""Templates, Markdown rendering and the JSON twin of every page."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from markupsafe import Markup, escape
from starlette.requests import Request

from kb.schema import KINDS, SLOTS, STATUSES

HERE = Path(__file__).resolve().parent
# Raw HTML in documents is shown as text, never run; links are checked by markdown-it (no javascript:).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


def render_markdown(text: str) -> Markup:
    return Markup(_markdown.render(text or ""))  # noqa: S704 - html=False: input is escaped by markdown-it


def highlight(text: str, terms) -> Markup:
    """Escape ``text`` and wrap the matched terms in <mark>."""
    safe = str(escape(text or ""))
    words = sorted({str(escape(t)) for t in terms or [] if t and len(t) >= 2}, key=len, reverse=True)
    if not words:
        return Markup(safe)  # noqa: S704 - escaped above
    pattern = re.compile("|".join(re.escape(w) for w in words))
    return Markup(pattern.sub(lambda m: f"<mark>{m.group(0)}</mark>", safe))  # noqa: S704


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    env = templates.env
    env.autoescape = True
    env.auto_reload = False  # templates ship with the code: no stat() of every template on every page
    env.filters["markdown"] = render_markdown
    env.filters["highlight"] = highlight
    env.globals.update(KINDS=KINDS, STATUSES=STATUSES, SLOTS=SLOTS)
    return templates


def wants_json(request: Request) -> bool:
    path = request.url.path
    return path.startswith("/api/") or path.endswith(".json") or (
        "application/json" in request.headers.get("accept", "") and "text/html" not in request.headers.get("accept", ""))


def page(request: Request, template: str, context: dict, status_code: int = 200):
    """Render ``template``; the same route with ``.json`` returns the context's data instead."""
    if request.url.path.endswith(".json"):
        data = {k: v for k, v in context.items() if not k.startswith("_")}
        return JSONResponse(data, status_code=status_code)
    templates: Jinja2Templates = request.app.state.templates
    base = {"request": request, "user": request.state.user, "csrf": request.state.csrf,
            "settings": request.app.state.kb.settings}
    return templates.TemplateResponse(request, template, {**base, **context}, status_code=status_code)


def twin(router, path: str, **kwargs):
    """Register a page route and its ``.json`` twin (the twin first, so ids never swallow '.json')."""
    def register(fn):
        router.add_api_route(path + ".json", fn, methods=["GET"], include_in_schema=False, **kwargs)
        router.add_api_route(path, fn, methods=["GET"], include_in_schema=False, **kwargs)
        return fn

    return register
