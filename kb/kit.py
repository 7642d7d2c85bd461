"""点单 → a ready-to-run kit: lecture, cases, a place, and an agenda that fits the time."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from dataclasses import asdict, dataclass, field

from kb.calendar import Calendar, Upcoming
from kb.filters import Filters
from kb.fusion import weighted
from kb.index import DocRecord
from kb.library import Library
from kb.search import Hit, Searcher
from kb.store import Rating

TRAVEL_MINUTES = 60  # a round trip inside the city, on top of a site's own visit time
FAR_SITE_MINUTES = 480  # a site outside the city takes a whole day
CALENDAR_WEIGHT = 0.8  # in RRF units, for open orders: less than being ranked first by one method
NAMED_CALENDAR_SHARE = 0.1  # an order with a subject of its own is only nudged (a tie-breaker)
GENERIC_WORDS = {"活动", "主题", "党日", "主题党日", "组织", "生活", "组织生活", "下周", "下个月", "这个月", "推荐",
                 "什么", "有什么", "安排", "支部", "党员", "大家", "一次", "一下", "最近", "近期", "搞个", "适合"}
FIXED_SLOTS = {"ritual"}  # a ceremony keeps its length whatever the total
THIRD_CASE_SHARE = 0.85
LECTURE_WEIGHT = 0.8  # how much cases are drawn toward the kit's lecture
# A case is a story to learn from, discussed in the agenda's 案例研讨 slot: the length of the branch's
# own activity does not bind the order (its headcount still does). One longer than the order's time
# is ranked a little lower, and its why line says so.
LONG_CASE_FACTOR = 0.8
MIN_STRETCH, MAX_STRETCH = 0.75, 1.5  # a plan is squeezed or stretched at most this much to fit the time


@dataclass
class Order:
    text: str
    formats: list[str] = field(default_factory=list)
    duration: int | None = None
    headcount: int | None = None
    date: dt.date | None = None
    audience: list[str] = field(default_factory=list)
    district: str | None = None
    venue: str | None = None
    start: str = "14:00"

    def key(self) -> str:
        data = asdict(self)
        data["date"] = self.date.isoformat() if self.date else None
        data["text"] = re.sub(r"\s+", " ", self.text.strip())
        return hashlib.sha1(json.dumps(data, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


@dataclass
class KitItem:
    role: str  # lecture | case | place | plan
    doc_id: str
    title: str
    kind: str
    summary: str
    why: list[str]
    detail: dict = field(default_factory=dict)  # outline, address, duration... per role


@dataclass
class AgendaStep:
    start: str
    minutes: int
    step: str
    slot: str
    doc_id: str | None = None


@dataclass
class Kit:
    id: str
    order: dict
    understood: dict
    lecture: KitItem | None
    cases: list[KitItem]
    places: list[KitItem]
    plan: KitItem | None
    agenda: list[AgendaStep]
    notes: list[str]
    calendar: list[dict]

    @property
    def doc_ids(self) -> list[str]:
        items = [self.lecture, *self.cases, *self.places, self.plan]
        return [i.doc_id for i in items if i is not None]

    @property
    def total_minutes(self) -> int:
        return sum(s.minutes for s in self.agenda)

    def to_dict(self) -> dict:
        data = asdict(self)
        data["doc_ids"] = self.doc_ids
        data["total_minutes"] = self.total_minutes
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Kit:
        """The kit as it was logged (a shared link shows what the secretary saw)."""
        def item(d):
            return KitItem(**d) if d else None

        return cls(
            id=data["id"], order=data["order"], understood=data["understood"], lecture=item(data["lecture"]),
            cases=[KitItem(**c) for c in data["cases"]], places=[KitItem(**p) for p in data["places"]],
            plan=item(data["plan"]), agenda=[AgendaStep(**s) for s in data["agenda"]], notes=data["notes"],
            calendar=data["calendar"])


def _longer(doc: DocRecord, duration: int | None) -> bool:
    """The document's own activity takes longer than the order's time."""
    return bool(duration and doc.duration and doc.duration.min > duration)


def constraint_violations(kit: Kit, docs: dict) -> list[str]:
    """Items in a kit that break the order's hard limits (the kit evaluation wants none). A plan is
    stretched to the order's time and a case is discussed in its slot, so their own length is no limit."""
    duration, headcount = kit.understood["duration"], kit.understood["headcount"]
    found = []
    for item in [kit.lecture, *kit.cases, *kit.places, kit.plan]:
        doc = docs.get(item.doc_id) if item else None
        if doc is None:
            continue
        if duration and doc.duration and doc.kind not in ("plan", "case") and doc.duration.min > duration:
            found.append(f"{doc.id} 需要 {doc.duration} 分钟，超过 {duration} 分钟")
        if headcount and doc.headcount and not doc.headcount.contains(headcount):
            found.append(f"{doc.id} 适合 {doc.headcount} 人，不适合 {headcount} 人")
    if duration and kit.agenda and kit.total_minutes != duration:
        found.append(f"议程共 {kit.total_minutes} 分钟，不是 {duration} 分钟")
    formats = kit.understood.get("formats") or []
    if formats and kit.plan and not set(formats) & set(docs[kit.plan.doc_id].formats):
        found.append(f"方案 {kit.plan.doc_id} 不是所要的形式（{'、'.join(formats)}）")
    return found


def _clock(start: str, minutes: int) -> str:
    hours, mins = (int(x) for x in start.split(":"))
    total = hours * 60 + mins + minutes
    return f"{total // 60 % 24:02d}:{total % 60:02d}"


def fit_agenda(steps: list[dict], total: int) -> list[dict] | None:
    """Scale a plan's agenda to ``total`` minutes: ceremonies keep their length, the rest stretch
    in proportion, rounded to whole minutes (5s where the step is long), summing exactly."""
    fixed = sum(s["minutes"] for s in steps if s["slot"] in FIXED_SLOTS)
    flexible = [s for s in steps if s["slot"] not in FIXED_SLOTS]
    room = total - fixed
    if not flexible:
        return [dict(s) for s in steps] if fixed == total else None
    if room < 3 * len(flexible):
        return None
    factor = room / sum(s["minutes"] for s in flexible)
    out = []
    for s in steps:
        minutes = s["minutes"]
        if s["slot"] not in FIXED_SLOTS:
            scaled = minutes * factor
            minutes = max(3, 5 * round(scaled / 5) if scaled >= 15 else round(scaled))
        out.append({**s, "minutes": minutes})
    drift = total - sum(s["minutes"] for s in out)
    adjustable = sorted((s for s in out if s["slot"] not in FIXED_SLOTS), key=lambda s: -s["minutes"])
    for step in adjustable:
        if drift == 0:
            break
        change = max(drift, 3 - step["minutes"])
        step["minutes"] += change
        drift -= change
    return out if drift == 0 else None


def make_room(steps: list[dict], slot: str, minutes: int) -> list[dict]:
    """Lengthen a slot to ``minutes`` by taking time from the longest other flexible steps (≥ 3 each);
    the total stays the same. Returns the steps unchanged when there is no room."""
    target = next((s for s in steps if s["slot"] == slot), None)
    if target is None or target["minutes"] >= minutes:
        return steps
    out = [dict(s) for s in steps]
    target = next(s for s in out if s["slot"] == slot)
    need = minutes - target["minutes"]
    donors = sorted((s for s in out if s is not target and s["slot"] not in FIXED_SLOTS), key=lambda s: -s["minutes"])
    if sum(s["minutes"] - 3 for s in donors) < need:
        return steps
    while need:
        donor = max(donors, key=lambda s: s["minutes"])
        take = min(need, donor["minutes"] - 3, max(1, need // len(donors)))
        donor["minutes"] -= take
        need -= take
    target["minutes"] = minutes
    return out


class KitBuilder:
    """Builds kits from the searcher, the library (for outlines), the calendar and ratings."""

    def __init__(self, searcher: Searcher, library: Library, calendar: Calendar,
                 ratings: dict[str, Rating] | None = None):
        self.searcher, self.library, self.calendar = searcher, library, calendar
        self.ratings = ratings or {}

    def boosts(self, today: dt.date, open_order: bool = True) -> tuple[dict[str, float], list[Upcoming]]:
        """Nudges in RRF units for upcoming anniversaries' themes: strong for an open order
        ("下周搞个活动"), a tie-breaker for an order that has a subject of its own."""
        upcoming = self.calendar.upcoming(today)
        share = 1.0 if open_order else NAMED_CALENDAR_SHARE
        theme_weight = {t: w * share for t, w in self.calendar.theme_boosts(today).items()}
        boosts: dict[str, float] = {}
        for doc in self.searcher.index().docs.values():
            weight = max((theme_weight.get(t, 0.0) for t in doc.themes), default=0.0) * CALENDAR_WEIGHT
            if weight:
                boosts[doc.id] = weight
        return boosts, upcoming

    def build(self, order: Order, today: dt.date | None = None) -> Kit:
        query = self.searcher.understand(order.text)
        parsed = query.constraints
        duration = order.duration or parsed.duration
        headcount = order.headcount or parsed.headcount
        formats = order.formats or list(query.formats)
        when = order.date or today or dt.date.today()
        subject = [t for t in query.terms if len(t) >= 2 and t not in GENERIC_WORDS]
        boosts, upcoming = self.boosts(when, open_order=not (subject or query.themes or query.expansions))
        factors = {doc_id: rating.factor for doc_id, rating in self.ratings.items()}
        notes: list[str] = []
        vocab = self.searcher.vocab
        base = {"duration": duration, "headcount": headcount}

        def find(kind: str, limit: int, **extra) -> list[Hit]:
            filters = Filters.build(vocab, kind=kind, **{**base, **extra})
            return self.searcher.search(order.text, filters, limit=limit, boosts=boosts, factors=factors).hits

        plan_hit, agenda_steps = self._plan(order, find, duration, headcount, formats, notes)
        lectures = find("lecture", 5)
        lecture = self._lecture(lectures[0], duration) if lectures else None
        if lecture is None:
            notes.append(self._unmet("党课材料", duration, headcount))
        elif lectures[0].doc.duration:
            agenda_steps = make_room(agenda_steps, "lecture", lectures[0].doc.duration.min)
        ordered, case_score = self._with_lecture(find("case", 20, duration=None), lectures[0] if lectures else None,
                                                 duration)
        case_hits = self._diverse(ordered, 3)
        if len(case_hits) == 3 and case_score[case_hits[2].doc_id] < THIRD_CASE_SHARE * case_score[case_hits[1].doc_id]:
            case_hits = case_hits[:2]  # a third case only when it is nearly as good as the second
        cases = [self._case(h, headcount, duration) for h in case_hits]
        if not cases:
            notes.append(self._unmet("相似案例", duration, headcount))
        places, agenda_steps = self._places(order, find, duration, headcount, parsed.local, agenda_steps, notes)
        plan = self._plan_item(plan_hit, duration, headcount, formats) if plan_hit else None
        agenda = self._fill(agenda_steps, order.start, lecture, cases, places)
        for item in [lecture, *cases, *places]:
            if item is not None:
                item.why.extend(self._calendar_why(item.doc_id, upcoming))
        return Kit(
            id=order.key(), order={**asdict(order), "date": when.isoformat()},
            understood={"themes": list(query.themes), "formats": formats, "audience": list(query.audience),
                        "duration": duration, "headcount": headcount, "local": parsed.local,
                        "phrases": parsed.found},
            lecture=lecture, cases=cases, places=places, plan=plan, agenda=agenda, notes=notes,
            calendar=[u.to_dict() for u in upcoming],
        )

    # ---- pieces -------------------------------------------------------------------------------
    @staticmethod
    def _unmet(what: str, duration, headcount) -> str:
        limits = "、".join(x for x in (f"{duration} 分钟内" if duration else "", f"{headcount} 人" if headcount else "") if x)
        return f"没有找到符合条件（{limits or '当前条件'}）的{what}，建议放宽条件或请资料员补充。"

    @staticmethod
    def _fits(doc: DocRecord, duration, headcount) -> list[str]:
        why = []
        if duration and doc.duration:
            why.append(f"{duration} 分钟内可完成（{doc.duration} 分钟）")
        if headcount and doc.headcount:
            why.append(f"适合 {headcount} 人（{doc.headcount} 人）")
        return why

    def _lecture(self, hit: Hit, duration: int | None) -> KitItem:
        doc = self.library.documents.get(hit.doc_id)
        outline = [m.group(1).strip() for m in re.finditer(r"^##\s+(.+)$", doc.body, re.M)] if doc else []
        return KitItem("lecture", hit.doc_id, hit.title, hit.kind, hit.doc.summary,
                       hit.why + self._fits(hit.doc, duration, None),
                       {"outline": outline, "duration": str(hit.doc.duration or "")})

    def _case(self, hit: Hit, headcount, duration) -> KitItem:
        meta = hit.doc.meta
        context = "，".join(str(x) for x in (meta.get("industry"), meta.get("branch_type"),
                                              f"{meta['branch_size']} 名党员" if meta.get("branch_size") else None) if x)
        why = hit.why + self._fits(hit.doc, None, headcount)
        if _longer(hit.doc, duration):
            why.append(f"原活动用了 {hit.doc.duration} 分钟，本次在案例研讨中借鉴其做法")
        return KitItem("case", hit.doc_id, hit.title, hit.kind, hit.doc.summary, why, {"context": context})

    def _with_lecture(self, hits: list[Hit], lecture: Hit | None,
                      duration: int | None) -> tuple[list[Hit], dict[str, float]]:
        """Cases that go with the chosen lecture first: the order's ranking (a case longer than the
        order's time a little lower) fused with closeness to the lecture, so the kit holds together
        (a 八项规定 lecture, then 廉洁 cases). Returns the reordered hits and their scores (hits
        themselves are shared and left unchanged)."""
        scores = {h.doc_id: h.score * (LONG_CASE_FACTOR if _longer(h.doc, duration) else 1.0) for h in hits}
        index = self.searcher.index()
        anchor = index.doc_vector(lecture.doc_id) if lecture is not None and len(hits) > 1 else None
        if anchor is None or not LECTURE_WEIGHT:
            return sorted(hits, key=lambda h: (-scores[h.doc_id], h.doc_id)), scores
        closeness = {h.doc_id: float(index.doc_vector(h.doc_id) @ anchor) for h in hits}
        # Scores, not ranks: a case far ahead for the order stays ahead however close the others are.
        fused = weighted([scores, closeness], [1.0, LECTURE_WEIGHT])
        return sorted(hits, key=lambda h: (-fused[h.doc_id], h.doc_id)), fused

    @staticmethod
    def _diverse(hits: list[Hit], n: int) -> list[Hit]:
        """Top hits, but not two cases of the same industry when others are available."""
        chosen, industries = [], set()
        for hit in hits:
            industry = hit.doc.meta.get("industry")
            if industry in industries and len(hits) - hits.index(hit) > n - len(chosen):
                continue
            chosen.append(hit)
            industries.add(industry)
            if len(chosen) == n:
                break
        return chosen

    def _plan(self, order, find, duration, headcount, formats, notes):
        hits = find("plan", 12, duration=None, formats=formats or None)
        for hit in sorted(hits, key=lambda h: -(h.score - 0.004 * self._stretch(h.doc, duration))):
            plan_doc = self.library.documents.get(hit.doc_id)
            if plan_doc is None:
                continue
            steps = plan_doc.meta["agenda"]
            total = duration or hit.doc.duration.max
            if duration and not MIN_STRETCH * hit.doc.duration.min <= duration <= MAX_STRETCH * hit.doc.duration.max:
                continue
            fitted = fit_agenda(steps, total)
            if fitted:
                return hit, fitted
        wanted = f"（形式：{'、'.join(formats)}）" if formats else ""
        notes.append(self._unmet(f"活动方案{wanted}", duration, headcount))
        return None, []

    @staticmethod
    def _stretch(doc: DocRecord, duration) -> float:
        return abs(math.log2(duration / doc.duration.max)) if duration and doc.duration else 0.0

    def _plan_item(self, hit: Hit, duration, headcount, formats) -> KitItem:
        why = list(hit.why)
        if duration:
            why.append(f"议程已按 {duration} 分钟调整（原方案 {hit.doc.duration} 分钟）")
        if headcount and hit.doc.headcount:
            why.append(f"适合 {headcount} 人（{hit.doc.headcount} 人）")
        return KitItem("plan", hit.doc_id, hit.title, hit.kind, hit.doc.summary, why,
                       {"budget_yuan": hit.doc.meta.get("budget_yuan")})

    def _places(self, order, find, duration, headcount, local, steps, notes):
        """A site when there is time to go (the agenda's visit slot made long enough), and a venue."""
        places: list[KitItem] = []
        has_visit = any(s["slot"] == "visit" for s in steps)
        if not local and not order.venue:
            for hit in find("site", 8, duration=None):
                need = hit.doc.duration.min + (TRAVEL_MINUTES if hit.doc.meta.get("city") == "南京市" else FAR_SITE_MINUTES)
                if duration and need > duration:
                    continue
                if has_visit:
                    fitted = make_room(steps, "visit", hit.doc.duration.min)
                    if sum(s["minutes"] for s in fitted if s["slot"] == "visit") < hit.doc.duration.min:
                        continue
                    steps = fitted
                why = hit.why + [f"参观约 {hit.doc.duration} 分钟" + (f"，连同往返 {duration} 分钟内可安排" if duration else "")]
                places.append(KitItem("place", hit.doc_id, hit.title, hit.kind, hit.doc.summary, why,
                                      {"address": hit.doc.meta.get("address", ""),
                                       "booking_note": hit.doc.meta.get("booking_note", "")}))
                break
        venues = find("venue", 8, duration=None)
        if order.venue:
            venues = [h for h in venues if h.doc_id == order.venue] or list(
                self.searcher.search(order.venue, Filters(kind=("venue",)), limit=1).hits)
        if order.district:
            venues = [h for h in venues if h.doc.meta.get("district") == order.district] or venues
        for hit in venues[:1]:
            capacity = hit.doc.meta.get("capacity")
            why = hit.why + ([f"可容纳 {capacity} 人"] if capacity else [])
            if not places:
                why.append("时间或条件不便外出时，可就近在红领阵地开展")
            places.append(KitItem("place", hit.doc_id, hit.title, hit.kind, hit.doc.summary, why,
                                  {"address": hit.doc.meta.get("address", ""),
                                   "open_hours": hit.doc.meta.get("open_hours", ""), "capacity": capacity}))
        if not places:
            notes.append(self._unmet("活动地点", duration, headcount))
        return places, steps

    @staticmethod
    def _fill(steps, start, lecture, cases, places) -> list[AgendaStep]:
        agenda, offset = [], 0
        site = next((p for p in places if p.kind == "site"), None)
        for step in steps:
            text, doc_id = step["step"], None
            if step["slot"] == "lecture" and lecture:
                text, doc_id = f"{step['step']}：《{lecture.title}》", lecture.doc_id
            elif step["slot"] == "cases" and cases:
                text = f"{step['step']}：" + "、".join(f"《{c.title}》" for c in cases[:2])
                doc_id = cases[0].doc_id
            elif step["slot"] == "visit" and site:
                text, doc_id = f"{step['step']}：{site.title.split('：')[0]}", site.doc_id
            agenda.append(AgendaStep(_clock(start, offset), step["minutes"], text, step["slot"], doc_id))
            offset += step["minutes"]
        return agenda

    def _calendar_why(self, doc_id: str, upcoming: list[Upcoming]) -> list[str]:
        doc = self.searcher.index().docs.get(doc_id)
        if doc is None:
            return []
        for up in upcoming:
            if set(up.event.themes) & set(doc.themes) and up.weight > 0:
                return [f"临近{up.event.name}（{up.date.month}月{up.date.day}日，还有 {up.days_until} 天）"]
        return []


