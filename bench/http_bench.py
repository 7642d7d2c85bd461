"""HTTP latency under concurrent clients, against `kb serve` in its own process on loopback.

    python bench/http_bench.py [--data-dir DIR] [--clients 20] [--seconds 30] [--mix search,kit]
    python bench/http_bench.py --clients 50 --seconds 60 --mix search,kit,doc,feedback --reindex

A bounded load generator: each client sends its next request when the previous one is answered
(after --think seconds on average, exponentially distributed; 0 = saturation).
With --reindex, a curator-triggered full re-index (--rebuild) runs in another process during the
load; feedback rows are counted before and after, so a lost write shows up as a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from common import ROOT, orders, real_kb, summary, table

DOCS = ["case-rotating-open-party-day", "lecture-b-yuhua-martyrs-spirit", "site-yuhuatai-martyrs-cemetery",
        "plan-standard-party-day-90", "policy-zhibu-gongzuo-tiaoli-2018", "venue-hongling-huijie"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "KB_DATA_DIR": str(data_dir), "KB_PORT": str(port)}
    proc = subprocess.Popen([sys.executable, "-m", "kb.cli", "serve"], env=env, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/calendar", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start: " + proc.stderr.read().decode()[-2000:])


def feedback_rows(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "kb.sqlite")
    try:
        return db.execute("SELECT count(*) FROM feedback").fetchone()[0]
    finally:
        db.close()


async def client(base: str, kinds: list[str], texts: list[str], until: float, results: dict, rng: random.Random,
                 think: float = 0.0):
    async with httpx.AsyncClient(base_url=base, timeout=30) as http:
        while time.time() < until:
            if think:
                await asyncio.sleep(rng.expovariate(1 / think))  # a person reading the page before the next click
            kind = rng.choice(kinds)
            text = rng.choice(texts)
            start = time.perf_counter()
            try:
                if kind == "search":
                    r = await http.get("/search", params={"q": text})
                elif kind == "kit":
                    r = await http.get("/kit", params={"q": text})
                elif kind == "doc":
                    r = await http.get(f"/docs/{rng.choice(DOCS)}")
                else:
                    r = await http.post("/api/feedback", json={"target_type": "doc", "target_id": rng.choice(DOCS),
                                                                "rating": rng.randint(1, 5), "note": "压测"})
                ok = r.status_code in (200, 201)
            except httpx.HTTPError:
                ok = False
            elapsed = (time.perf_counter() - start) * 1000
            bucket = results.setdefault(kind, {"ms": [], "errors": 0, "ok": 0})
            bucket["ms"].append(elapsed)
            bucket["ok" if ok else "errors"] += 1


async def load(base: str, clients: int, seconds: float, kinds: list[str], texts: list[str], think: float) -> dict:
    results: dict = {}
    until = time.time() + seconds
    await asyncio.gather(*(client(base, kinds, texts, until, results, random.Random(i), think)
                           for i in range(clients)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--mix", default="search,kit")
    parser.add_argument("--reindex", action="store_true")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds between a client's requests")
    args = parser.parse_args()
    kb = real_kb(args.data_dir)
    data_dir = kb.settings.data_dir
    texts = orders(kb)
    port = free_port()
    server = start_server(data_dir, port)
    base = f"http://127.0.0.1:{port}"
    reindex = None
    try:
        for text in texts[:5]:
            httpx.get(base + "/kit", params={"q": text}, timeout=30)
        before = feedback_rows(data_dir)
        if args.reindex:
            env = {**os.environ, "KB_DATA_DIR": str(data_dir)}
            reindex = subprocess.Popen([sys.executable, "-m", "kb.cli", "index", "--rebuild", "--quiet"], env=env,
                                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        started = time.time()
        results = asyncio.run(load(base, args.clients, args.seconds, args.mix.split(","), texts, args.think))
        wall = time.time() - started
        after = feedback_rows(data_dir)
    finally:
        server.terminate()
        server.wait(10)
    reindex_note = ""
    if reindex is not None:
        out, err = reindex.communicate(timeout=900)
        reindex_note = f"；压测期间全量重建索引：{'成功' if reindex.returncode == 0 else '失败 ' + err.decode()[-300:]}"
    rows = []
    for kind, bucket in sorted(results.items()):
        p50, p95, p99 = summary(bucket["ms"])
        rows.append([kind, bucket["ok"], bucket["errors"], f"{len(bucket['ms']) / wall:.1f}/s",
                     f"{p50:.0f} ms", f"{p95:.0f} ms", f"{p99:.0f} ms"])
    pace = f"，每个客户端平均间隔 {args.think:g} 秒" if args.think else "，无间隔（饱和）"
    print(f"{args.clients} 个并发客户端{pace}，{args.seconds:.0f} 秒，混合 {args.mix}{reindex_note}")
    print(table(["请求", "成功", "错误", "吞吐", "p50", "p95", "p99"], rows))
    if "feedback" in results:
        sent = results["feedback"]["ok"]
        print(f"反馈：成功提交 {sent} 条，数据库新增 {after - before} 条，丢失 {sent - (after - before)} 条")


if __name__ == "__main__":
    main()
