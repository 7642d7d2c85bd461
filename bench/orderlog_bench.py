"""Size of the order log: each distinct kit stored once (logged_kits) against a copy in every order.

    python bench/orderlog_bench.py [--data-dir DIR] [--orders 20000]

The eval set's 188 orders are built into kits once; --orders orders are then drawn from them (as a
district's secretaries order the same popular themes again and again) and logged both ways.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import tempfile
import time
from pathlib import Path

from common import orders, real_kb, table

from kb.kit import Order
from kb.store import SCHEMA, LoggedKit, Store, now

INLINE = """
CREATE TABLE orders (
    id INTEGER PRIMARY KEY, created TEXT NOT NULL, text TEXT NOT NULL, constraints TEXT NOT NULL,
    kit_id TEXT NOT NULL, kit TEXT NOT NULL, themes TEXT NOT NULL, weak INTEGER NOT NULL,
    unmet TEXT NOT NULL, user TEXT
);
""" + "\n".join(line for line in SCHEMA.splitlines() if line.startswith("CREATE INDEX IF NOT EXISTS orders_"))


def size(path: Path) -> int:
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--orders", type=int, default=20_000)
    args = parser.parse_args()
    kb = real_kb(args.data_dir)
    kits = [(text, kb.order(Order(text), log=False)) for text in orders(kb)]
    rng = random.Random(0)
    drawn = [rng.choice(kits) for _ in range(args.orders)]
    with tempfile.TemporaryDirectory() as tmp:
        inline = Path(tmp) / "inline.sqlite"
        db = sqlite3.connect(inline)
        db.executescript("PRAGMA journal_mode=WAL;" + INLINE)
        start = time.perf_counter()
        with db:
            db.executemany(
                "INSERT INTO orders (created, text, constraints, kit_id, kit, themes, weak, unmet, user)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [(now(), text, json.dumps(kit.order, ensure_ascii=False), kit.id,
                  json.dumps(kit.to_dict(), ensure_ascii=False), json.dumps(kit.understood["themes"]), 0, "[]", None)
                 for text, kit in drawn])
        inline_seconds = time.perf_counter() - start
        db.close()

        once = Path(tmp) / "once.sqlite"
        store = Store(once)
        start = time.perf_counter()
        for text, kit in drawn:
            store.log_order(text, kit.order, LoggedKit.of(kit.to_dict()), kit.understood["themes"], False, [])
        store.flush()
        once_seconds = time.perf_counter() - start
        distinct = store.db.execute("SELECT count(*) FROM logged_kits").fetchone()[0]
        rows = []
        for name, path, seconds in (("每单存一份资料包（上一版）", inline, inline_seconds),
                                    ("每种资料包只存一次（本版）", once, once_seconds)):
            total = size(path)
            rows.append([name, args.orders, f"{total / 2**20:.1f} MB", f"{total / args.orders:.0f} B",
                         f"{args.orders / seconds:.0f}/s"])
    print(f"{len(kits)} 种资料包，随机抽取 {args.orders} 单记入点单记录（其中不同资料包 {distinct} 种）")
    print(table(["存法", "点单数", "数据库大小", "每单", "写入速度"], rows))


if __name__ == "__main__":
    main()
