"""点单 kits: constraints honoured, agenda fits, deterministic, calendar-aware, exportable."""

from __future__ import annotations

import datetime as dt
import io
import json

import pytest

from kb.export import to_docx, to_html, to_markdown
from kb.kit import Kit, Order, constraint_violations, fit_agenda, make_room

AGENDA = [
    {"minutes": 5, "step": "开场", "slot": "opening"},
    {"minutes": 10, "step": "重温入党誓词", "slot": "ritual"},
    {"minutes": 40, "step": "专题党课", "slot": "lecture"},
    {"minutes": 25, "step": "案例研讨", "slot": "cases"},
    {"minutes": 10, "step": "总结", "slot": "closing"},
]


@pytest.mark.parametrize("total", [30, 45, 60, 90, 120, 150])
def test_fit_agenda_sums_exactly_and_keeps_ceremonies(total):
    fitted = fit_agenda(AGENDA, total)
    assert sum(s["minutes"] for s in fitted) == total
    assert fitted[1]["minutes"] == 10  # the oath keeps its length
    assert [s["step"] for s in fitted] == [s["step"] for s in AGENDA]
    assert all(s["minutes"] >= 3 for s in fitted)


def test_fit_agenda_refuses_impossible_totals():
    assert fit_agenda(AGENDA, 15) is None
    assert fit_agenda([{"minutes": 10, "step": "宣誓", "slot": "ritual"}], 30) is None


def test_make_room_takes_time_from_others_and_keeps_total():
    roomy = make_room(fit_agenda(AGENDA, 45), "lecture", 25)
    assert next(s for s in roomy if s["slot"] == "lecture")["minutes"] == 25
    assert sum(s["minutes"] for s in roomy) == 45
    assert make_room(AGENDA, "lecture", 500) == AGENDA  # no room: unchanged


def kit_for(full_kb, text, **kw) -> Kit:
    return full_kb.order(Order(text, **kw), today=dt.date(2026, 5, 20), log=False)


def violations(full_kb, kit: Kit) -> list[str]:
    return constraint_violations(kit, full_kb.searcher.index().docs)


@pytest.mark.parametrize(
    ("text", "options"),
    [
        ("廉洁教育 一小时", {"headcount": 12}),
        ("清明节带大家去缅怀先烈", {"duration": 45, "headcount": 8}),
        ("年轻人多 想搞点有意思的", {"duration": 90, "headcount": 25}),
        ("支部人少 活动没法开展", {}),
        ("七一 党课", {"duration": 30}),
        ("国家公祭日 悼念", {"duration": 240, "headcount": 20}),
    ],
)
def test_kit_has_every_part_and_breaks_no_constraint(full_kb, text, options):
    kit = kit_for(full_kb, text, **options)
    assert kit.lecture is not None and kit.lecture.detail["outline"]
    assert 2 <= len(kit.cases) <= 3
    assert kit.places and kit.plan and kit.agenda
    assert all(item.why for item in [kit.lecture, *kit.cases, *kit.places, kit.plan])
    assert violations(full_kb, kit) == []
    starts = [s.start for s in kit.agenda]
    assert starts[0] == "14:00" and starts == sorted(starts)


def test_short_order_gets_no_far_away_site(full_kb):
    kit = kit_for(full_kb, "清明节带大家去缅怀先烈", duration=45)
    assert all(p.kind != "site" for p in kit.places)
    assert kit.places[0].kind == "venue"
    assert any("就近" in w for w in kit.places[0].why)


def test_long_order_can_visit_a_site_with_enough_time(full_kb):
    kit = kit_for(full_kb, "清明节带大家去雨花台缅怀先烈", duration=240, headcount=20)
    site = next(p for p in kit.places if p.kind == "site")
    doc = full_kb.searcher.index().docs[site.doc_id]
    visit = [s for s in kit.agenda if s.slot == "visit"]
    assert not visit or visit[0].minutes >= doc.duration.min


def test_unsatisfiable_constraints_are_said(full_kb):
    kit = kit_for(full_kb, "廉洁教育", headcount=5000)
    assert kit.notes and any("5000 人" in n for n in kit.notes)
    assert violations(full_kb, kit) == []


def test_case_length_is_a_preference_but_headcount_binds(full_kb):
    """A case is discussed in the agenda's case slot: a longer original activity may be proposed
    (ranked lower, and said), a branch of the wrong size may not."""
    docs = full_kb.searcher.index().docs
    kit = kit_for(full_kb, "清明节带大家去缅怀先烈", duration=30, headcount=12)
    longer = [c for c in kit.cases if docs[c.doc_id].duration.min > 30]
    assert longer, "the best 清明 cases took longer than 30 minutes and must not be filtered out"
    assert all(any("原活动用了" in w for w in c.why) for c in longer)
    assert all(docs[c.doc_id].headcount.contains(12) for c in kit.cases)
    assert all("原活动用了" not in w for c in kit.cases if c not in longer for w in c.why)
    assert violations(full_kb, kit) == []
    assert sum(s.minutes for s in kit.agenda) == 30


def test_a_case_that_fits_the_time_wins_a_tie(full_kb, monkeypatch):
    import kb.kit as kit_module

    docs = full_kb.searcher.index().docs
    monkeypatch.setattr(kit_module, "LONG_CASE_FACTOR", 1.0)
    full_kb._kits.clear()
    neutral = kit_for(full_kb, "廉洁教育", duration=30, headcount=8)
    monkeypatch.setattr(kit_module, "LONG_CASE_FACTOR", 0.01)
    full_kb._kits.clear()
    strict = kit_for(full_kb, "廉洁教育", duration=30, headcount=8)
    full_kb._kits.clear()
    assert any(docs[c.doc_id].duration.min > 30 for c in neutral.cases)  # without the preference
    assert all(docs[c.doc_id].duration.min <= 30 for c in strict.cases)  # a strong one keeps them out


def test_format_constraint_is_hard_for_the_plan(full_kb):
    kit = kit_for(full_kb, "主题党日 搞点活动", formats=["观影"], duration=150)
    assert kit.plan is not None
    assert "观影" in full_kb.searcher.index().docs[kit.plan.doc_id].formats


def test_same_order_same_kit_and_different_orders_differ(full_kb):
    first = kit_for(full_kb, "廉洁教育 一小时", headcount=12).to_dict()
    again = kit_for(full_kb, "廉洁教育 一小时", headcount=12).to_dict()
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    other = kit_for(full_kb, "国家安全 数据保密", headcount=12).to_dict()
    assert other["id"] != first["id"]
    assert other["lecture"]["doc_id"] != first["lecture"]["doc_id"]


def test_calendar_raises_upcoming_themes_for_open_orders(full_kb):
    order = Order("下周搞个活动，有什么推荐")
    spring = full_kb.order(order, today=dt.date(2026, 3, 28), log=False)
    summer = full_kb.order(order, today=dt.date(2026, 6, 20), log=False)
    docs = full_kb.searcher.index().docs
    assert {"革命传统", "雨花英烈精神"} & set(docs[spring.lecture.doc_id].themes)
    assert any("清明" in w for w in spring.lecture.why)
    assert {"初心使命", "党史学习", "发展党员"} & set(docs[summer.lecture.doc_id].themes)
    assert spring.calendar[0]["name"] == "清明节" and spring.calendar[0]["date"] == "2026-04-05"


def test_exports(full_kb):
    kit = kit_for(full_kb, "<script>alert(1)</script> 廉洁教育 一小时")
    html = to_html(kit)
    assert "<script>alert" not in html and "&lt;script&gt;" in html
    md = to_markdown(kit)
    assert "## 活动议程（共 60 分钟）" in md and kit.lecture.title.split("：")[0] in md
    assert "<script>" not in md
    from docx import Document

    doc = Document(io.BytesIO(to_docx(kit)))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert kit.lecture.title in text
    assert doc.tables and doc.tables[0].rows[1].cells[0].text == "14:00"


def test_kit_roundtrips_through_the_log(full_kb):
    kit = full_kb.order(Order("学雷锋 志愿服务 二十人"), today=dt.date(2026, 2, 20))
    stored = full_kb.store.kit(kit.id)
    assert stored is not None
    assert Kit.from_dict(stored).to_dict() == kit.to_dict()


def test_cached_kits_outlive_a_ratings_reread_but_not_new_ratings(small_kb, monkeypatch):
    import kb.service

    order = Order("清明节带大家去缅怀先烈")
    day = dt.date(2026, 3, 20)
    first = small_kb.order(order, today=day, log=False)
    monkeypatch.setattr(kb.service, "RATINGS_SECONDS", 0)  # every call re-reads the ratings
    assert small_kb.order(order, today=day, log=False) is first  # same ratings: the cached kit
    for _ in range(3):
        small_kb.store.add_feedback("doc", first.cases[0].doc_id, 5)
    assert small_kb.order(order, today=day, log=False) is not first  # ratings moved: built again


def test_a_kit_asks_the_model_thread_pool_for_its_query_vector_once(full_kb, monkeypatch):
    """A kit runs five searches with one query text; only the first needs the model (the rest
    would be thread round trips for a vector already remembered)."""
    import kb.search as search_module

    asked, submit = [], search_module._pool.submit

    def counting(fn, *args):
        if getattr(fn, "__name__", "") == "query_vector":
            asked.append(args[0])
        return submit(fn, *args)

    monkeypatch.setattr(search_module._pool, "submit", counting)
    full_kb.searcher.clear_caches()
    full_kb.order(Order("清明节前带年轻党员去烈士陵园 一个半小时 二十人"), log=False, today=dt.date(2026, 3, 20))
    assert len(asked) == 1
