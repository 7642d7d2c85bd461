"""The calendar: 清明 computed per year, upcoming anniversaries, bad entries reported with their line."""

from __future__ import annotations

import datetime as dt

import pytest

from kb.calendar import check_calendar, solar_term
from kb.vocab import load_vocabulary
from tests.conftest import CORPUS

# Published dates of 清明 (Beijing time), 2019–2030.
QINGMING = {2019: 5, 2020: 4, 2021: 4, 2022: 5, 2023: 5, 2024: 4, 2025: 4, 2026: 5, 2027: 5, 2028: 4, 2029: 4, 2030: 5}


@pytest.mark.parametrize(("year", "day"), sorted(QINGMING.items()))
def test_qingming_is_computed_for_any_year(year, day):
    assert solar_term("清明", year) == dt.date(year, 4, day)


def test_winter_solstice_too():
    assert [solar_term("冬至", y).day for y in (2022, 2023, 2024)] == [22, 22, 21]


def test_upcoming_events_and_theme_weights(full_kb):
    upcoming = full_kb.calendar.upcoming(dt.date(2027, 3, 20))
    names = [u.event.name for u in upcoming]
    assert names[0].startswith("清明") and upcoming[0].date == dt.date(2027, 4, 5)
    boosts = full_kb.calendar.theme_boosts(dt.date(2027, 4, 4))
    assert boosts["革命传统"] > 0.9 and "法治教育" not in boosts
    year_end = full_kb.calendar.upcoming(dt.date(2026, 12, 20))
    assert [u.event.name for u in year_end][0] == "毛泽东同志诞辰纪念日"
    assert any(u.date.year == 2027 for u in full_kb.calendar.upcoming(dt.date(2026, 12, 30), within_days=80))


def test_bad_calendar_entries_are_reported_with_their_line(tmp_path):
    path = tmp_path / "calendar.yaml"
    path.write_text("events:\n  - name: 好日子\n    date: 13-45\n    themes: [革命传统]\n"
                    "  - name: 坏主题\n    date: \"05-04\"\n    themes: [不存在]\n", encoding="utf-8")
    calendar, problems = check_calendar(path, load_vocabulary(CORPUS))
    assert [(p.line, p.field) for p in problems] == [(2, "date"), (5, "themes")]
    assert [e.name for e in calendar.events] == ["坏主题"]
