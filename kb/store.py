"""User data in SQLite (WAL): orders, feedback, accounts, audit log. Derived data lives in the index."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
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


@dataclass
class _Queued:
    row: tuple
    id: int = 0
    error: Exception | None = None
    done: bool = False


class Store:
    """One SQLite file in WAL mode; a connection per thread; writes in short transactions."""

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        # Writers in this process queue on a lock rather than in SQLite's busy handler, which sleeps
        # 1, 2, 5, 10, 15… ms between tries and so made a 1 ms insert wait tens of ms under load.
        # Other processes (the CLI, a second server) still wait in SQLite via busy_timeout.
        self._writing = threading.RLock()
        self._queue_lock = threading.Lock()
        self._queued: list[_Queued] = []  # orders waiting for the next group commit
        self.db.executescript(SCHEMA)

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
    def log_order(self, text: str, constraints: dict, kit: dict, themes: list[str], weak: bool,
                  unmet: list[str], user: str | None = None) -> int:
        """Log an order; returns once it is committed. Under load the writes are group-committed:
        whoever holds the write lock inserts every order queued so far in one transaction, so a busy
        server does not queue each request behind a transaction of its own."""
        entry = _Queued((now(), text, json.dumps(constraints, ensure_ascii=False), kit["id"],
                         json.dumps(kit, ensure_ascii=False), json.dumps(themes, ensure_ascii=False), int(weak),
                         json.dumps(unmet, ensure_ascii=False), user))
        with self._queue_lock:
            self._queued.append(entry)
        with self._writing:
            if not entry.done:
                with self._queue_lock:
                    batch, self._queued = self._queued, []
                try:
                    self._insert_orders(batch)
                except Exception:  # nothing of the batch was written: one at a time, so one bad row fails alone
                    for queued in batch:
                        try:
                            self._insert_orders([queued])
                        except Exception as exc:
                            queued.error = exc
                finally:
                    for queued in batch:
                        queued.done = True
        if entry.error is not None:
            raise entry.error
        return entry.id

    def _insert_orders(self, batch: list[_Queued]) -> None:
        with self.tx() as db:
            for queued in batch:
                queued.id = db.execute(
                    "INSERT INTO orders (created, text, constraints, kit_id, kit, themes, weak, unmet, user)"
                    " VALUES (?,?,?,?,?,?,?,?,?)", queued.row).lastrowid

    def orders(self, limit: int = 10_000, *, kits: str = "all") -> list[dict]:
        """The latest orders, newest first. ``kits``: "all" parses every logged kit, "weak" only those
        of weakly served orders (what the demand report reads), "none" leaves them out."""
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
                f"SELECT id, kit FROM orders WHERE id IN ({','.join('?' * len(part))})", part).fetchall())
        for order in found:
            if order["id"] in logged:
                order["kit"] = json.loads(logged[order["id"]])
        return found

    def popular_kits(self, limit: int = 6) -> list[dict]:
        rows = self.db.execute(
            "SELECT text, kit_id, count(*) AS n, max(id) AS last FROM orders WHERE weak = 0"
            " GROUP BY kit_id ORDER BY n DESC, last DESC LIMIT ?", [limit]).fetchall()
        return [dict(r) for r in rows]

    def kit(self, kit_id: str) -> dict | None:
        row = self.db.execute("SELECT kit FROM orders WHERE kit_id = ? ORDER BY id DESC LIMIT 1", [kit_id]).fetchone()
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
            members = {}
            for row in self.db.execute(  # only the kits someone rated, one logged copy each
                    "SELECT kit_id, kit FROM orders WHERE kit_id IN"
                    " (SELECT target_id FROM feedback WHERE target_type = 'kit') GROUP BY kit_id"):
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
