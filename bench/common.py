"""Shared helpers for the benchmarks: a built real index, the eval orders, timing statistics."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexer.build import update_index  # noqa: E402
from kb.service import KB  # noqa: E402
from kb.settings import Settings  # noqa: E402


def real_kb(data_dir: Path | None = None) -> KB:
    """The bundled library with the default embedder, its index built (or reused) in ``data_dir``."""
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    kb = KB(settings)
    from kb.cli import TqdmProgress

    update_index(kb, progress=TqdmProgress())
    return kb


FALLBACK_ORDERS = ["清明节带大家去缅怀先烈", "年轻人多 想搞点有意思的", "支部人少 活动没法开展", "廉洁教育 一小时",
                   "七一 党课 稿子", "三会一课怎么开", "国家公祭日 活动", "二十人 知识竞赛", "学雷锋 志愿服务",
                   "流动党员怎么管", "党费怎么交", "周恩来 梅园新村", "在楼里 午休 微党课", "新党员入党宣誓"]


def orders(kb: KB) -> list[str]:
    """The eval set's orders (or a fixed sample when a library has no eval set)."""
    from kb.evaluate import load_queries

    path = kb.settings.library / "eval" / "queries.yaml"
    return [q.text for q in load_queries(path)] if path.exists() else FALLBACK_ORDERS


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Milliseconds per call over ``repeat`` calls (after one warm-up call)."""
    fn()
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    index = min(len(values) - 1, max(0, round(q / 100 * (len(values) - 1))))
    return values[index]


def summary(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), pct(values, 95), pct(values, 99)


def table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table, so the output can be pasted into the README as it is."""
    def cell(value):
        return f"{value:.1f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
