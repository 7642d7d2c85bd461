"""Anniversaries that drive demand, including solar terms (清明) computed for any year."""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from kb.document import Problem, load_yaml
from kb.errors import KBError
from kb.vocab import Vocabulary

# Solar terms by the Sun's apparent ecliptic longitude (degrees).
SOLAR_TERMS = {"春分": 0, "清明": 15, "谷雨": 30, "立夏": 45, "夏至": 90, "秋分": 180, "冬至": 270}
BEIJING = dt.timezone(dt.timedelta(hours=8))


def _julian_day(moment: dt.datetime) -> float:
    return moment.timestamp() / 86400.0 + 2440587.5


def sun_longitude(moment: dt.datetime) -> float:
    """Apparent ecliptic longitude of the Sun in degrees (Meeus, ch. 25; ~0.01° accuracy)."""
    t = (_julian_day(moment) + 69 / 86400 - 2451545.0) / 36525  # +ΔT ≈ 69 s: UT → TT
    l0 = 280.46646 + 36000.76983 * t + 0.0003032 * t * t
    m = math.radians(357.52911 + 35999.05029 * t - 0.0001537 * t * t)
    c = ((1.914602 - 0.004817 * t - 0.000014 * t * t) * math.sin(m)
         + (0.019993 - 0.000101 * t) * math.sin(2 * m) + 0.000289 * math.sin(3 * m))
    omega = math.radians(125.04 - 1934.136 * t)
    return (l0 + c - 0.00569 - 0.00478 * math.sin(omega)) % 360


def solar_term(name: str, year: int) -> dt.date:
    """The Beijing-time date on which the Sun reaches the solar term's longitude in ``year``."""
    target = SOLAR_TERMS[name]
    # Terms move by about a day around a fixed point: search from the mean date ± 20 days.
    mean = dt.datetime(year, 3, 20, tzinfo=dt.UTC) + dt.timedelta(days=target / 360 * 365.2422)
    lo, hi = mean - dt.timedelta(days=20), mean + dt.timedelta(days=20)

    def ahead(moment: dt.datetime) -> float:
        return (sun_longitude(moment) - target + 180) % 360 - 180

    for _ in range(60):
        mid = lo + (hi - lo) / 2
        if ahead(mid) < 0:
            lo = mid
        else:
            hi = mid
    return hi.astimezone(BEIJING).date()


@dataclass(frozen=True)
class Event:
    name: str
    date_rule: str
    themes: tuple[str, ...]
    lead_days: int = 21

    def on(self, year: int) -> dt.date:
        if self.date_rule in SOLAR_TERMS:
            return solar_term(self.date_rule, year)
        month, day = (int(x) for x in self.date_rule.split("-"))
        return dt.date(year, month, day)

    def next_after(self, today: dt.date) -> dt.date:
        this_year = self.on(today.year)
        return this_year if this_year >= today else self.on(today.year + 1)


@dataclass(frozen=True)
class Upcoming:
    event: Event
    date: dt.date
    days_until: int

    @property
    def weight(self) -> float:
        """1.0 on the day, falling linearly to 0 at the event's lead time."""
        return max(0.0, 1 - self.days_until / max(self.event.lead_days, 1))

    def to_dict(self) -> dict:
        return {"name": self.event.name, "date": self.date.isoformat(), "days_until": self.days_until,
                "themes": list(self.event.themes), "weight": round(self.weight, 3)}


@dataclass
class Calendar:
    events: list[Event]

    def upcoming(self, today: dt.date, within_days: int | None = None) -> list[Upcoming]:
        """Events from ``today`` on, within each event's lead time (or ``within_days``), soonest first."""
        found = []
        for event in self.events:
            when = event.next_after(today)
            days = (when - today).days
            if days <= (within_days if within_days is not None else event.lead_days):
                found.append(Upcoming(event, when, days))
        return sorted(found, key=lambda u: (u.days_until, u.event.name))

    def theme_boosts(self, today: dt.date) -> dict[str, float]:
        """Theme → weight in [0, 1] from the anniversaries ahead of ``today``."""
        boosts: dict[str, float] = {}
        for up in self.upcoming(today):
            for theme in up.event.themes:
                boosts[theme] = max(boosts.get(theme, 0.0), up.weight)
        return boosts


def check_calendar(path: Path, vocab: Vocabulary) -> tuple[Calendar, list[Problem]]:
    """Read calendar.yaml; problems name the line of the bad entry."""
    problems: list[Problem] = []
    try:
        text = path.read_text(encoding="utf-8")
        data = load_yaml(text) or {}
    except FileNotFoundError:
        return Calendar([]), [Problem(str(path), 1, "calendar", "缺少纪念日历文件")]
    except Exception as exc:  # noqa: BLE001 - any YAML failure becomes a problem with its line
        mark = getattr(exc, "problem_mark", None)
        return Calendar([]), [Problem(str(path), mark.line + 1 if mark else 1, "calendar", f"YAML 格式错误：{exc}")]
    entries = data.get("events") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        return Calendar([]), [Problem(str(path), 1, "events", "应是纪念日列表")]
    lines = [i + 1 for i, line in enumerate(text.splitlines()) if line.lstrip().startswith("- name:")]
    events = []
    for i, entry in enumerate(entries):
        line = lines[i] if i < len(lines) else 1
        if not isinstance(entry, dict) or not entry.get("name"):
            problems.append(Problem(str(path), line, "name", "每个纪念日需要 name"))
            continue
        rule = str(entry.get("date", ""))
        event = Event(str(entry["name"]), rule, tuple(entry.get("themes") or ()), int(entry.get("lead_days", 21)))
        try:
            event.on(2024)
        except (ValueError, KeyError):
            problems.append(Problem(str(path), line, "date", f"“{rule}”既不是 MM-DD 日期，也不是已知节气"))
            continue
        for theme in event.themes:
            if theme not in vocab.names("themes"):
                problems.append(Problem(str(path), line, "themes", f"未知主题“{theme}”"))
        events.append(event)
    return Calendar(events), problems


def load_calendar(library: Path, vocab: Vocabulary) -> Calendar:
    calendar, problems = check_calendar(library / "calendar.yaml", vocab)
    if problems:
        raise KBError("纪念日历有误：" + "；".join(map(str, problems)))
    return calendar
