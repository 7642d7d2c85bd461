"""Kit latency at the real corpus size: every eval order turned into a kit, in-process.

    python bench/kit_bench.py [--data-dir DIR] [--rounds 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from common import real_kb, summary, table

from kb.evaluate import load_queries
from kb.kit import Order


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    kb = real_kb(args.data_dir)
    queries = load_queries(kb.settings.library / "eval" / "queries.yaml")
    builder = kb.kit_builder()
    today = dt.date(2026, 6, 15)
    builder.build(Order("热身"), today=today)
    cold, warm = [], []
    for round_ in range(args.rounds):
        for q in queries:
            if round_ == 0:
                kb.searcher.clear_caches()
            c = q.constraints
            order = Order(q.text, formats=list(c.get("formats") or []), duration=c.get("duration"),
                          headcount=c.get("headcount"))
            start = time.perf_counter()
            builder.build(order, today=today)
            (cold if round_ == 0 else warm).append((time.perf_counter() - start) * 1000)
    rows = [["资料包（无缓存，含查询向量化）", f"{len(cold)} 单", *(f"{v:.1f} ms" for v in summary(cold))]]
    if warm:
        rows.append(["资料包（查询向量与理解已缓存，检索重算）", f"{len(warm)} 单", *(f"{v:.1f} ms" for v in summary(warm))])
    print(table(["项目", "样本", "p50", "p95", "p99"], rows))


if __name__ == "__main__":
    main()
