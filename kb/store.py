"""User data in SQLite (WAL): orders, feedback, accounts, audit log. Derived data lives in the index."""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kb.errors import InvalidQuery

SCHEMA = """
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY, created TEXT NOT NULL, text TEXT NOT NULL, constraints TEXT NOT NULL,
    kit_id TEXT NOT NULL, kit TEXT NOT NULL, themes TEXT NOT NULL, weak INTEGER NOT NULL,
    unmet TEXT NOT NULL, user TEXT
);
CREATE INDEX IF NOT EXISTS orders_by_kit ON orders (kit_id);
-- Every column but the kit itself: the demand report and the home page's popular kits read these
-- without stepping through each logged kit (a few KB apiece; 10k orders took 2.8 s, now 30 ms).
CREATE INDEX IF NOT EXISTS orders_summary ON orders (id, created, text, kit_id, weak, themes, unmet, user, constraints);
CREATE INDEX IF NOT EXISTS orders_popular ON orders (weak, kit_id, id, text);
-- Each distinct logged kit once, by digest: the same popular kit is ordered thousands of times.
-- Orders logged before this table existed keep their kit inline in orders.kit.
CREATE TABLE IF NOT EXISTS logged_kits (digest TEXT PRIMARY KEY, kit TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY, created TEXT NOT NULL, target_type TEXT NOT NULL, target_id TEXT NOT NULL,
    rating INTEGER NOT NULL CHECK (rating BETWEEN 1 AND 5), note TEXT NOT NULL DEFAULT '', user TEXT
);
CREATE INDEX IF NOT EXISTS feedback_by_target ON feedback (target_type, target_id);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL, created TEXT NOT NULL,
    disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, user TEXT NOT NULL, action TEXT NOT NULL,
    target TEXT NOT NULL, detail TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS login_attempts (key TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS login_attempts_by_key ON login_attempts (key, at);
"""
MAX_NOTE_CHARS = 2000
PRIOR_WEIGHT = 5  # ratings: a document's mean is pulled toward the global mean as if it had 5 votes


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


RATING_EFFECT = 0.3  # a document rated two stars above the mean scores 30% higher


@dataclass(frozen=True)
class Rating:
    count: int
    mean: float
    smoothed: float  # Bayesian average toward the global mean
    prior: float  # the global mean rating

    @property
    def factor(self) -> float:
        """Multiplier for ranking scores: >1 for documents rated above the mean. One vote moves
        the smoothed mean by at most (5 - prior) / 6, so it cannot lift a document far."""
        return 1 + RATING_EFFECT * (self.smoothed - self.prior) / 2


@dataclass(frozen=True)
class LoggedKit:
    """A kit as the order log keeps it, serialised once: a cached kit is logged with every order."""

    id: str
    json: str
    digest: str

    @classmethod
    def of(cls, data: dict) -> LoggedKit:
        if not isinstance(data.get("id"), str):
            raise ValueError("a logged kit needs its id")
        text = json.dumps(data, ensure_ascii=False, sort_keys=True)
        return cls(data["id"], text, hashlib.sha1(text.encode()).hexdigest())


ORDER_QUEUE_MAX = 10_000  # orders waiting for the writer before log_order waits too (the disk is stuck)

WRITER_IDLE_SECONDS = 30
# A logged order's kit: stored once in logged_kits, or inline in orders.kit in older logs.
_KIT = "coalesce(k.kit, o.kit)"
_ORDERS_WITH_KITS = "orders o LEFT JOIN logged_kits k ON k.digest = o.kit_digest"
log = logging.getLogger("kb.store")


def _flush_at_exit(ref: weakref.ref) -> None:
    store = ref()
    if store is not None:
        store.flush(timeout=30)


class Store:
    """One SQLite file in WAL mode; a connection per thread; writes in short transactions.

    The order log is written behind the request: ``log_order`` queues the row and a writer thread
    commits whatever has queued in one transaction. A 点单 page does not wait for the disk (a commit
    that hits a WAL checkpoint on a large log took tens of ms), and every read of the orders waits
    for the queue first, so this process always reads its own writes."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Writers in this process queue on a lock rather than in SQLite's busy handler, which sleeps
        # 1, 2, 5, 10, 15… ms between tries and so made a 1 ms insert wait tens of ms under load.
        # Other processes (the CLI, a second server) still wait in SQLite via busy_timeout.
        self._writing = threading.RLock()
        self._orders = threading.Condition()
        self._queued: list[tuple] = []  # orders waiting for the writer
        self._in_flight = 0  # orders the writer has taken and not yet committed
        self._writer: threading.Thread | None = None
        self._flushed_at_exit = False
        self.db.executescript(SCHEMA)
        if "kit_digest" not in {r["name"] for r in self.db.execute("PRAGMA table_info(orders)")}:
            try:  # a log from before logged_kits existed
                self.db.execute("ALTER TABLE orders ADD COLUMN kit_digest TEXT")
            except sqlite3.OperationalError as exc:  # another process added it first
                if "duplicate column" not in str(exc):
                    raise

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        db = self.db
        with self._writing:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # orders -----------------------------------------------------------------------------------
    def log_order(self, text: str, constraints: dict, kit: LoggedKit, themes: list[str], weak: bool,
                  unmet: list[str], user: str | None = None) -> None:
        """Queue an order for the log; the writer thread commits it (see the class docstring)."""
        if not isinstance(text, str):
            raise ValueError("an order needs its text")
        row = (now(), text, json.dumps(constraints, ensure_ascii=False), kit.id, kit.digest, kit.json,
               json.dumps(themes, ensure_ascii=False), int(weak), json.dumps(unmet, ensure_ascii=False), user)
        with self._orders:
            while len(self._queued) >= ORDER_QUEUE_MAX:
                self._orders.wait()
            self._queued.append(row)
            if self._writer is None:
                self._writer = threading.Thread(target=self._write_orders, name="kb-order-log", daemon=True)
                self._writer.start()
                if not self._flushed_at_exit:
                    atexit.register(_flush_at_exit, weakref.ref(self))
                    self._flushed_at_exit = True
            self._orders.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued order is committed (or failed and logged); False on timeout."""
        with self._orders:
            return self._orders.wait_for(lambda: not self._queued and not self._in_flight, timeout)

    def _write_orders(self) -> None:
        try:
            while True:
                with self._orders:
                    if not self._orders.wait_for(lambda: self._queued, WRITER_IDLE_SECONDS):
                        self._writer = None  # idle: the next order starts a new writer (same lock hold)
                        return
                    batch, self._queued = self._queued, []
                    self._in_flight = len(batch)
                    self._orders.notify_all()  # room in the queue again
                try:
                    self._insert_orders(batch)
                except Exception:  # nothing of the batch was written: one at a time, so one bad row fails alone
                    for row in batch:
                        try:
                            self._insert_orders([row])
                        except Exception:
                            log.exception("order not logged: %r", row[1][:80])
                finally:
                    with self._orders:
                        self._in_flight = 0
                        self._orders.notify_all()
        finally:  # however the writer ends, the next order can start another
            with self._orders:
                if self._writer is threading.current_thread():
                    self._writer = None

    def _insert_orders(self, batch: list[tuple]) -> None:
        with self.tx() as db:
            db.executemany("INSERT OR IGNORE INTO logged_kits (digest, kit) VALUES (?, ?)",
                           [(row[4], row[5]) for row in batch])
            db.executemany("INSERT INTO orders (created, text, constraints, kit_id, kit_digest, kit, themes, weak,"
                           " unmet, user) VALUES (?,?,?,?,?,'',?,?,?,?)",
                           [row[:5] + row[6:] for row in batch])

    def orders(self, limit: int = 10_000, *, kits: str = "all") -> list[dict]:
        """The latest orders, newest first. ``kits``: "all" parses every logged kit, "weak" only those
        of weakly served orders (what the demand report reads), "none" leaves them out."""
        self.flush()
        rows = self.db.execute(
            "SELECT id, created, text, kit_id, weak, themes, unmet, user, constraints FROM orders"
            " ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        found = [{**dict(r), "constraints": json.loads(r["constraints"]), "themes": json.loads(r["themes"]),
                  "unmet": json.loads(r["unmet"])} for r in rows]
        wanted = [o["id"] for o in found if kits == "all" or (kits == "weak" and o["weak"])]
        logged = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            logged.update(self.db.execute(
                f"SELECT o.id, {_KIT} FROM {_ORDERS_WITH_KITS}"
                f" WHERE o.id IN ({','.join('?' * len(part))})", part).fetchall())
        for order in found:
            if order["id"] in logged:
                order["kit"] = json.loads(logged[order["id"]])
        return found

    def popular_kits(self, limit: int = 6) -> list[dict]:
        self.flush()
        rows = self.db.execute(
            "SELECT text, kit_id, count(*) AS n, max(id) AS last FROM orders WHERE weak = 0"
            " GROUP BY kit_id ORDER BY n DESC, last DESC LIMIT ?", [limit]).fetchall()
        return [dict(r) for r in rows]

    def kit(self, kit_id: str) -> dict | None:
        self.flush()
        row = self.db.execute(f"SELECT {_KIT} AS kit FROM {_ORDERS_WITH_KITS}"
                              " WHERE o.kit_id = ? ORDER BY o.id DESC LIMIT 1", [kit_id]).fetchone()
        return json.loads(row["kit"]) if row else None

    # feedback ---------------------------------------------------------------------------------
    def add_feedback(self, target_type: str, target_id: str, rating: int, note: str = "",
                     user: str | None = None) -> int:
        if target_type not in ("kit", "doc"):
            raise InvalidQuery("反馈对象只能是 kit 或 doc")
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidQuery("评分应为 1 到 5 的整数")
        note = (note or "").strip()
        if len(note) > MAX_NOTE_CHARS:
            raise InvalidQuery(f"备注最多 {MAX_NOTE_CHARS} 字，当前 {len(note)} 字")
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO feedback (created, target_type, target_id, rating, note, user) VALUES (?,?,?,?,?,?)",
                (now(), target_type, target_id, rating, note, user))
            return cur.lastrowid

    def feedback_for(self, target_type: str, target_id: str, limit: int = 20) -> list[dict]:
        rows = self.db.execute(
            "SELECT created, rating, note FROM feedback WHERE target_type = ? AND target_id = ?"
            " ORDER BY id DESC LIMIT ?", [target_type, target_id, limit]).fetchall()
        return [dict(r) for r in rows]

    def feedback_count(self) -> int:
        return self.db.execute("SELECT count(*) FROM feedback").fetchone()[0]

    def ratings(self) -> dict[str, Rating]:
        """Per document: ratings given to it directly and to kits it was part of (used together)."""
        direct = self.db.execute(
            "SELECT target_id, rating FROM feedback WHERE target_type = 'doc'").fetchall()
        pairs = [(r["target_id"], r["rating"]) for r in direct]
        kit_votes = self.db.execute("SELECT target_id, rating FROM feedback WHERE target_type = 'kit'").fetchall()
        if kit_votes:
            self.flush()
            members = {}
            for row in self.db.execute(  # only the kits someone rated, one logged copy each
                    f"SELECT o.kit_id, {_KIT} AS kit FROM {_ORDERS_WITH_KITS}"
                    " WHERE o.kit_id IN (SELECT target_id FROM feedback WHERE target_type = 'kit') GROUP BY o.kit_id"):
                members[row["kit_id"]] = json.loads(row["kit"]).get("doc_ids", [])
            for vote in kit_votes:
                pairs.extend((doc_id, vote["rating"]) for doc_id in members.get(vote["target_id"], []))
        if not pairs:
            return {}
        prior = sum(r for _, r in pairs) / len(pairs)
        sums: dict[str, list[int]] = {}
        for doc_id, rating in pairs:
            sums.setdefault(doc_id, []).append(rating)
        return {d: Rating(len(v), sum(v) / len(v), (PRIOR_WEIGHT * prior + sum(v)) / (PRIOR_WEIGHT + len(v)), prior)
                for d, v in sums.items()}

    # audit ------------------------------------------------------------------------------------
    def audit(self, user: str, action: str, target: str, detail: str = "") -> None:
        with self.tx() as db:
            db.execute("INSERT INTO audit (at, user, action, target, detail) VALUES (?,?,?,?,?)",
                       (now(), user, action, target, detail))

    def audit_log(self, limit: int = 200) -> list[dict]:
        rows = self.db.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", [limit]).fetchall()
        return [dict(r) for r in rows]
