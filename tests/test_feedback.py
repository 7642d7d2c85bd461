"""Similar cases, ratings with smoothing, the order log and the demand-gap report."""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kb.errors import DocumentNotFound, InvalidQuery
from kb.gaps import demand_gaps
from kb.kit import Order
from kb.similar import similar
from kb.store import LoggedKit, Store


def test_similar_cases_exclude_themselves_and_explain(full_kb):
    hits = similar(full_kb.searcher, "case-b-qingming-yuhuatai-lawfirm", limit=5)
    ids = [h.doc_id for h in hits]
    assert "case-b-qingming-yuhuatai-lawfirm" not in ids
    assert len(ids) == 5 and all(h.kind == "case" for h in hits)
    assert all(h.why for h in hits)
    assert any("雨花英烈精神" in w or "革命传统" in w for h in hits[:3] for w in h.why)


def test_similar_for_unknown_document(full_kb):
    with pytest.raises(DocumentNotFound):
        similar(full_kb.searcher, "no-such-doc")


def test_similar_of_a_lecture_spans_kinds(full_kb):
    hits = similar(full_kb.searcher, "lecture-b-yuhua-martyrs-spirit", limit=8)
    assert "lecture-b-yuhua-martyrs-spirit" not in [h.doc_id for h in hits]
    assert len({h.kind for h in hits}) > 1


def _rank(full_kb, doc_id, ratings):
    hits = similar(full_kb.searcher, "case-b-qingming-yuhuatai-lawfirm", limit=30, ratings=ratings)
    return [h.doc_id for h in hits].index(doc_id)


def test_well_rated_cases_rise_but_one_vote_does_not_dominate(full_kb, tmp_path):
    store = Store(tmp_path / "ratings.sqlite")
    base = similar(full_kb.searcher, "case-b-qingming-yuhuatai-lawfirm", limit=30)
    target = base[8].doc_id
    baseline_rank = 8
    for doc in base[:6]:  # the library's usual ratings: middling
        for _ in range(3):
            store.add_feedback("doc", doc.doc_id, 3)
    store.add_feedback("doc", target, 5)
    after_one = _rank(full_kb, target, store.ratings())
    for _ in range(12):
        store.add_feedback("doc", target, 5, "用过，效果很好")
    after_many = _rank(full_kb, target, store.ratings())
    assert after_one >= baseline_rank - 3  # one vote moves it a little, not to the top
    assert after_many <= after_one - 2  # many good votes move it further
    rating = store.ratings()[target]
    assert rating.count == 13 and rating.mean == 5.0 and 3 < rating.smoothed < 5


@pytest.mark.parametrize(
    ("rating", "note", "message"),
    [(0, "", "1 到 5"), (6, "", "1 到 5"), (True, "", "1 到 5"), ("5", "", "1 到 5"), (3, "字" * 2001, "最多 2000 字")],
)
def test_bad_feedback_is_refused(tmp_path, rating, note, message):
    store = Store(tmp_path / "s.sqlite")
    with pytest.raises(InvalidQuery, match=message):
        store.add_feedback("doc", "case-x", rating, note)
    assert store.feedback_count() == 0


def test_kit_feedback_counts_for_its_documents(full_kb, tmp_path):
    kit = full_kb.order(Order("廉洁教育 一小时"), today=dt.date(2026, 5, 1))
    full_kb.store.add_feedback("kit", kit.id, 5, "很实用")
    ratings = full_kb.store.ratings()
    assert kit.lecture.doc_id in ratings and kit.cases[0].doc_id in ratings


def test_concurrent_feedback_loses_nothing(tmp_path):
    store = Store(tmp_path / "c.sqlite")

    def write(n):
        for i in range(50):
            store.add_feedback("doc", f"case-{n}", 1 + i % 5, f"第{i}条")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.feedback_count() == 400


def test_orders_are_logged_and_gaps_reported(full_kb):
    start = len(full_kb.store.orders())
    full_kb.order(Order("廉洁教育 一小时", headcount=5000), today=dt.date(2026, 5, 1))
    full_kb.order(Order("廉洁教育 警示", headcount=5000), today=dt.date(2026, 5, 1))
    full_kb.order(Order("清明节带大家去缅怀先烈"), today=dt.date(2026, 3, 20))
    orders = full_kb.store.orders()
    assert len(orders) == start + 3
    latest = orders[0]
    assert latest["text"] == "清明节带大家去缅怀先烈" and latest["kit"]["lecture"]
    gaps = demand_gaps(orders)
    top = next(g for g in gaps if g.theme == "廉洁教育")
    assert top.unmet >= 2 and "廉洁教育 一小时" in top.examples
    assert "相似案例" in top.missing  # no case is for 5000 people
    assert gaps.index(top) < len(gaps)
    assert all(g.theme != "革命传统" or g.weak < g.orders for g in gaps)


def test_demand_report_reads_only_weak_orders_kits(full_kb):
    full_kb.order(Order("廉洁教育 一小时", headcount=5000), today=dt.date(2026, 5, 1))
    full_kb.order(Order("清明节带大家去缅怀先烈"), today=dt.date(2026, 3, 20))
    every = full_kb.store.orders()
    weak_only = full_kb.store.orders(kits="weak")
    assert [o["id"] for o in weak_only] == [o["id"] for o in every]
    assert all(("kit" in o) == bool(o["weak"]) for o in weak_only) and any(o["weak"] for o in weak_only)
    assert all("kit" not in o for o in full_kb.store.orders(kits="none"))
    assert [g.to_dict() for g in demand_gaps(weak_only)] == [g.to_dict() for g in demand_gaps(every)]
    db = full_kb.store.db
    for sql in ("SELECT id, created, text, kit_id, weak, themes, unmet, user, constraints FROM orders"
                " ORDER BY id DESC LIMIT 10",
                "SELECT text, kit_id, count(*) AS n, max(id) AS last FROM orders WHERE weak = 0 GROUP BY kit_id"):
        plan = " ".join(str(tuple(r)) for r in db.execute("EXPLAIN QUERY PLAN " + sql))
        assert "COVERING INDEX" in plan, plan  # the logged kits (KBs each) are not stepped through


def test_orders_are_logged_behind_the_request_in_group_commits(tmp_path, monkeypatch):
    store = Store(tmp_path / "o.sqlite")
    batches, insert = [], store._insert_orders
    monkeypatch.setattr(store, "_insert_orders", lambda batch: batches.append(len(batch)) or insert(batch))

    with store._writing:  # a transaction in progress (or a slow disk): 点单 does not wait for it
        started = time.perf_counter()
        for i in range(5):
            store.log_order(f"排队{i}", {"headcount": i}, LoggedKit.of({"id": f"q{i}"}), ["廉洁教育"], False, [])
        assert time.perf_counter() - started < 1.0
        assert store.db.execute("SELECT count(*) FROM orders").fetchone()[0] == 0
    logged = store.orders(kits="all")  # a read waits for the queue: this process reads its own writes
    assert [o["text"] for o in logged] == [f"排队{i}" for i in reversed(range(5))]
    assert logged[0]["constraints"] == {"headcount": 4} and logged[0]["kit"] == {"id": "q4"}
    assert sum(batches) == 5 and len(batches) <= 2  # the writer took what had queued, not one transaction each

    def order(n):
        for i in range(40):
            store.log_order(f"点单{n}-{i}", {}, LoggedKit.of({"id": f"k{n}x{i}"}), [], False, [])

    threads = [threading.Thread(target=order, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.flush(timeout=10)
    texts = [r[0] for r in store.db.execute("SELECT text FROM orders WHERE text LIKE '点单%'")]
    assert sorted(texts) == sorted(f"点单{n}-{i}" for n in range(8) for i in range(40))


def test_an_order_the_table_refuses_fails_alone(tmp_path, monkeypatch, caplog):
    store = Store(tmp_path / "o.sqlite")
    with pytest.raises(ValueError):
        store.log_order(None, {}, LoggedKit.of({"id": "k"}), [], False, [])  # refused before it is queued
    with pytest.raises(ValueError):
        LoggedKit.of({"title": "没有标识的资料包"})
    insert = store._insert_orders

    def refuse_poison(batch):  # as if SQLite refused one row: the whole transaction fails
        if any(row[1] == "坏单" for row in batch):
            raise sqlite3.IntegrityError("refused")
        insert(batch)

    monkeypatch.setattr(store, "_insert_orders", refuse_poison)
    with store._writing:
        for text in ("好单1", "坏单", "好单2"):
            store.log_order(text, {}, LoggedKit.of({"id": text}), [], False, [])
    assert store.flush(timeout=10)
    assert sorted(o["text"] for o in store.orders()) == ["好单1", "好单2"]
    assert "坏单" in caplog.text


def test_queued_orders_are_written_before_the_process_exits(tmp_path):
    script = (
        "import sys; from pathlib import Path; from kb.store import LoggedKit, Store\n"
        "s = Store(Path(sys.argv[1]))\n"
        "for i in range(300): s.log_order(f'退出前{i}', {}, LoggedKit.of({'id': str(i)}), [], False, [])\n"
    )
    subprocess.run([sys.executable, "-c", script, str(tmp_path / "o.sqlite")], check=True, timeout=60,
                   cwd=Path(__file__).resolve().parent.parent)
    assert Store(tmp_path / "o.sqlite").db.execute("SELECT count(*) FROM orders").fetchone()[0] == 300


def test_an_idle_order_writer_ends_and_the_next_order_starts_another(tmp_path, monkeypatch):
    import kb.store as store_module

    monkeypatch.setattr(store_module, "WRITER_IDLE_SECONDS", 0.05)
    store = Store(tmp_path / "o.sqlite")
    store.log_order("第一单", {}, LoggedKit.of({"id": "a"}), [], False, [])
    deadline = time.time() + 5
    while store._writer is not None and time.time() < deadline:
        time.sleep(0.01)
    assert store._writer is None  # no thread left behind by an idle store
    store.log_order("第二单", {}, LoggedKit.of({"id": "b"}), [], False, [])
    assert [o["text"] for o in store.orders()] == ["第二单", "第一单"]


def test_a_kit_ordered_many_times_is_logged_once(tmp_path):
    store = Store(tmp_path / "o.sqlite")
    popular = {"id": "k1", "doc_ids": ["lecture-a", "case-b"], "title": "廉洁教育" * 200}
    for i in range(50):
        store.log_order(f"廉洁教育 第{i}单", {}, LoggedKit.of(popular), ["廉洁教育"], False, [])
    store.log_order("另一个主题", {}, LoggedKit.of({"id": "k2", "doc_ids": ["case-c"]}), [], True, ["时长"])
    logged = store.orders(kits="all")
    assert len(logged) == 51 and all(o["kit"]["id"] in ("k1", "k2") for o in logged)
    assert logged[1]["kit"] == popular and store.kit("k1") == popular
    assert store.db.execute("SELECT count(*) FROM logged_kits").fetchone()[0] == 2
    assert store.db.execute("SELECT max(length(kit)) FROM orders").fetchone()[0] == 0  # no copy per order
    store.add_feedback("kit", "k1", 5)
    assert set(store.ratings()) == {"lecture-a", "case-b"}  # a kit's rating reaches its documents


def test_an_order_log_from_before_logged_kits_is_read_and_extended(tmp_path):
    path = tmp_path / "o.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, created TEXT NOT NULL, text TEXT NOT NULL,"
               " constraints TEXT NOT NULL, kit_id TEXT NOT NULL, kit TEXT NOT NULL, themes TEXT NOT NULL,"
               " weak INTEGER NOT NULL, unmet TEXT NOT NULL, user TEXT)")
    db.execute("INSERT INTO orders (created, text, constraints, kit_id, kit, themes, weak, unmet) VALUES"
               " ('2026-01-01T00:00:00+00:00', '旧单', '{}', 'old', '{\"id\": \"old\", \"doc_ids\": [\"d1\"]}',"
               " '[]', 1, '[]')")
    db.commit()
    db.close()
    store = Store(path)
    store.log_order("新单", {}, LoggedKit.of({"id": "new", "doc_ids": ["d2"]}), [], True, [])
    assert [(o["text"], o["kit"]["id"]) for o in store.orders(kits="weak")] == [("新单", "new"), ("旧单", "old")]
    assert store.kit("old") == {"id": "old", "doc_ids": ["d1"]}
    assert Store(path).kit("new") == {"id": "new", "doc_ids": ["d2"]}  # opening it again migrates nothing twice


def test_a_cached_kit_is_serialised_once_however_often_it_is_ordered(small_kb, monkeypatch):
    from kb.kit import Kit

    calls, to_dict = [], Kit.to_dict
    monkeypatch.setattr(Kit, "to_dict", lambda self: calls.append(1) or to_dict(self))
    for _ in range(3):
        kit = small_kb.order(Order("廉洁教育 一小时"), today=dt.date(2026, 6, 15))
    logged = small_kb.store.orders(kits="all")
    assert len(calls) == 1  # the order log reuses the JSON made when the kit was built
    assert [o["kit"]["id"] for o in logged] == [kit.id] * 3 and logged[0]["kit"] == to_dict(kit)
