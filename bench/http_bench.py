"""HTTP latency under concurrent clients, against `kb serve` in its own process on loopback.

    python bench/http_bench.py [--data-dir DIR] [--clients 20] [--seconds 60] [--think 0] [--mix search,kit]
    python bench/http_bench.py --novel 0.1          # a tenth of the orders worded as never before
    python bench/http_bench.py --clients 50 --seconds 60 --mix search,kit,doc,feedback --reindex

Two phases, reported apart:
1. First time: one client sends every distinct order once (kit and search pages). This is what
   the first secretary to order a theme waits for after a start or a re-index, and it fills the
   caches as a day's first orders would.
2. Load: --clients clients, each sending its next request when the previous one is answered (after
   --think seconds on average, exponentially distributed; 0 = saturation), for --seconds.

The load generator is a keep-alive HTTP/1.1 client on asyncio streams: it costs about 0.2 ms of CPU
a request, where httpx cost 1.8 ms, which on a 2-core machine it took from the server under test.
With --reindex, a curator-triggered full re-index (--rebuild) runs in another process during the
load; feedback rows are counted before and after, so a lost write shows up as a difference.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

from common import ROOT, orders, real_kb, summary, table

DOCS = ["case-rotating-open-party-day", "lecture-b-yuhua-martyrs-spirit", "site-yuhuatai-martyrs-cemetery",
        "plan-standard-party-day-90", "policy-zhibu-gongzuo-tiaoli-2018", "venue-hongling-huijie"]


class Connection:
    """One keep-alive HTTP/1.1 connection: a request, then its whole response (length or chunked)."""

    def __init__(self, port: int):
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, params: dict | None = None, body: dict | None = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        target = path + ("?" + urlencode(params) if params else "")
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        head = f"{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + payload)
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
        if "content-length" in headers:
            await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            while size := int((await self.reader.readuntil(b"\r\n"))[:-2], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readexactly(2)
        if headers.get("connection") == "close":
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


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
            if asyncio.run(Connection(port).request("GET", "/api/calendar")) == 200:
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("server did not start: " + proc.stderr.read().decode()[-2000:])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def feedback_rows(data_dir: Path) -> int:
    db = sqlite3.connect(data_dir / "kb.sqlite")
    try:
        return db.execute("SELECT count(*) FROM feedback").fetchone()[0]
    finally:
        db.close()


def novel(text: str, rng: random.Random) -> str:
    """The order as nobody has worded it yet: nothing about it is cached."""
    return f"{text}，约{rng.randint(8, 400)}人参加，编号{rng.randint(0, 10**9)}"


async def send(conn: Connection, kind: str, text: str, rng: random.Random) -> bool:
    if kind in ("search", "kit"):
        call = ("GET", "/" + kind, {"q": text}, None)
    elif kind == "doc":
        call = ("GET", f"/docs/{rng.choice(DOCS)}", None, None)
    else:
        call = ("POST", "/api/feedback", None, {"target_type": "doc", "target_id": rng.choice(DOCS),
                                                "rating": rng.randint(1, 5), "note": "压测"})
    for attempt in (1, 2):  # as browsers do: a kept-alive connection the server has closed is opened again
        reused = conn.writer is not None
        try:
            return await conn.request(*call) in (200, 201)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            conn.close()
            if not reused or attempt == 2:
                return False
    return False


def record(results: dict, kind: str, ms: float, ok: bool) -> None:
    bucket = results.setdefault(kind, {"ms": [], "errors": 0, "ok": 0})
    bucket["ms"].append(ms)
    bucket["ok" if ok else "errors"] += 1


async def first_time(port: int, kinds: list[str], texts: list[str]) -> dict:
    results: dict = {}
    conn, rng = Connection(port), random.Random(0)
    for text in texts:
        for kind in kinds:
            start = time.perf_counter()
            ok = await send(conn, kind, text, rng)
            record(results, kind, (time.perf_counter() - start) * 1000, ok)
    conn.close()
    return results


async def client(port: int, kinds: list[str], texts: list[str], until: float, results: dict, rng: random.Random,
                 think: float, novel_share: float) -> None:
    conn = Connection(port)
    while time.time() < until:
        if think:
            await asyncio.sleep(rng.expovariate(1 / think))  # a person reading the page before the next click
        kind, text = rng.choice(kinds), rng.choice(texts)
        if rng.random() < novel_share:
            text = novel(text, rng)
        start = time.perf_counter()
        ok = await send(conn, kind, text, rng)
        record(results, kind, (time.perf_counter() - start) * 1000, ok)
    conn.close()


async def load(port: int, clients: int, seconds: float, kinds: list[str], texts: list[str], think: float,
               novel_share: float) -> dict:
    results: dict = {}
    until = time.time() + seconds
    await asyncio.gather(*(client(port, kinds, texts, until, results, random.Random(i), think, novel_share)
                           for i in range(clients)))
    return results


def rows_of(results: dict, wall: float | None, label: str = "") -> list[list]:
    rows = []
    for kind, bucket in sorted(results.items()):
        p50, p95, p99 = summary(bucket["ms"])
        rate = f"{len(bucket['ms']) / wall:.1f}/s" if wall else "—"
        rows.append([label + kind, bucket["ok"], bucket["errors"], rate, f"{p50:.0f} ms", f"{p95:.0f} ms", f"{p99:.0f} ms"])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--mix", default="search,kit")
    parser.add_argument("--reindex", action="store_true")
    parser.add_argument("--think", type=float, default=0.0, help="mean seconds between a client's requests")
    parser.add_argument("--novel", type=float, default=0.0, help="share of orders worded as never before")
    args = parser.parse_args()
    kb = real_kb(args.data_dir)
    data_dir = kb.settings.data_dir
    texts = orders(kb)
    kinds = args.mix.split(",")
    port = free_port()
    server = start_server(data_dir, port)
    reindex = None
    try:
        cold = asyncio.run(first_time(port, [k for k in kinds if k in ("search", "kit")], texts))
        before = feedback_rows(data_dir)
        if args.reindex:
            env = {**os.environ, "KB_DATA_DIR": str(data_dir)}
            reindex = subprocess.Popen([sys.executable, "-m", "kb.cli", "index", "--rebuild", "--quiet"], env=env,
                                       cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        server_cpu, own = cpu_seconds(server.pid), resource.getrusage(resource.RUSAGE_SELF)
        started = time.time()
        results = asyncio.run(load(port, args.clients, args.seconds, kinds, texts, args.think, args.novel))
        wall = time.time() - started
        server_cpu = cpu_seconds(server.pid) - server_cpu
        mine = resource.getrusage(resource.RUSAGE_SELF)
        client_cpu = mine.ru_utime + mine.ru_stime - own.ru_utime - own.ru_stime
        after = feedback_rows(data_dir)
    finally:
        server.terminate()
        server.wait(10)
    reindex_note = ""
    if reindex is not None:
        out, err = reindex.communicate(timeout=900)
        reindex_note = f"；压测期间全量重建索引：{'成功' if reindex.returncode == 0 else '失败 ' + err.decode()[-300:]}"
    pace = f"每个客户端平均间隔 {args.think:g} 秒" if args.think else "无间隔（饱和）"
    fresh = f"，{args.novel:.0%} 的点单是新说法" if args.novel else ""
    total = sum(len(b["ms"]) for b in results.values())
    print(f"{len(texts)} 个不同的点单；{args.clients} 个并发客户端，{pace}，{args.seconds:.0f} 秒，混合 {args.mix}"
          f"{fresh}{reindex_note}")
    print(table(["请求", "成功", "错误", "吞吐", "p50", "p95", "p99"],
                rows_of(cold, None, "首次（单客户端）") + rows_of(results, wall)))
    print(f"每个请求的 CPU：服务端 {server_cpu / total * 1000:.2f} ms，压测客户端 {client_cpu / total * 1000:.2f} ms")
    if "feedback" in results:
        sent = results["feedback"]["ok"]
        print(f"反馈：成功提交 {sent} 条，数据库新增 {after - before} 条，丢失 {sent - (after - before)} 条")


if __name__ == "__main__":
    main()
