"""Indexing: incremental by content hash, atomic swap, manifest, model mismatch refused."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from indexer.build import build_index, update_index
from kb.errors import IndexMismatch, IndexNotBuilt
from kb.index import Index, current_build, read_manifest
from kb.library import load_library
from kb.service import KB
from kb.settings import Settings
from tests.fakes import HashEmbedder, OtherHashEmbedder


def kb_for(library, data_dir, embedder=None) -> KB:
    return KB(Settings(library=library, data_dir=data_dir), embedder=embedder or HashEmbedder())


def test_first_build_writes_manifest_and_every_document(small_library, tmp_path):
    kb = kb_for(small_library, tmp_path / "data")
    report = update_index(kb)
    assert sorted(report.added) == sorted(kb.library().documents)
    assert report.chunks_embedded == report.chunks_total > len(report.added)
    build = current_build(kb.settings.index_root)
    manifest = read_manifest(build)
    assert manifest["model_id"] == HashEmbedder.model_id
    assert manifest["dimensions"] == 256
    assert manifest["chunker"]["chunk_chars"] == kb.settings.chunk_chars
    assert manifest["documents"] == len(report.added) and manifest["corpus_hash"]
    assert manifest["vector_index"]["type"] == "Flat (exact)"


def test_unchanged_corpus_embeds_nothing(small_kb):
    embedder = small_kb.embedder
    before = embedder.embedded
    report = update_index(small_kb)
    assert embedder.embedded == before
    assert (report.added, report.updated, report.removed) == ([], [], [])
    assert report.chunks_embedded == 0 and report.unchanged == len(small_kb.library().documents)


def test_changing_one_document_reembeds_only_its_changed_chunks(small_kb):
    path = small_kb.settings.library / "case" / "case-rotating-open-party-day.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("## 成效", "## 成效\n\n新增一段：活动还吸引了两家新入驻企业的党员参加。\n", 1),
                    encoding="utf-8")
    report = update_index(small_kb)
    assert report.updated == ["case-rotating-open-party-day"] and not report.added and not report.removed
    assert 1 <= report.chunks_embedded <= 2  # only the section that changed
    assert report.chunks_reused >= 4
    hits = small_kb.searcher.search("新入驻企业的党员", mode="keyword").hits
    assert hits[0].doc_id == "case-rotating-open-party-day" and "新入驻" in hits[0].passage


def test_deleted_and_retired_documents_leave_results(small_kb):
    from kb.filters import Filters

    cases = Filters(kind=("case",))
    before = [h.doc_id for h in small_kb.searcher.search("律所 清明", cases, limit=50).hits]
    assert "case-b-qingming-yuhuatai-lawfirm" in before  # and the filtered chunk set is now remembered
    lib = small_kb.settings.library
    (lib / "site" / "site-meiyuan-xincun-memorial.md").unlink()
    retired = lib / "case" / "case-b-qingming-yuhuatai-lawfirm.md"
    retired.write_text(retired.read_text(encoding="utf-8").replace("status: published", "status: retired"),
                       encoding="utf-8")
    report = update_index(small_kb)
    assert report.removed == ["site-meiyuan-xincun-memorial"]
    assert report.updated == ["case-b-qingming-yuhuatai-lawfirm"]
    ids = [h.doc_id for h in small_kb.searcher.search("梅园新村 周恩来 律所 清明", limit=50).hits]
    assert "site-meiyuan-xincun-memorial" not in ids and "case-b-qingming-yuhuatai-lawfirm" not in ids
    after = [h.doc_id for h in small_kb.searcher.search("律所 清明", cases, limit=50).hits]
    assert "case-b-qingming-yuhuatai-lawfirm" not in after and after

    retired_hits = small_kb.searcher.search("律所 清明", Filters(status=("retired",))).hits
    assert [h.doc_id for h in retired_hits] == ["case-b-qingming-yuhuatai-lawfirm"]


def test_index_built_by_another_model_is_refused(small_kb):
    other = kb_for(small_kb.settings.library, small_kb.settings.data_dir, OtherHashEmbedder())
    with pytest.raises(IndexMismatch, match="test/hash-bigram-256"):
        other.searcher.search("清明")
    with pytest.raises(IndexNotBuilt):
        Index.open(small_kb.settings.data_dir / "nowhere")


def test_rebuilding_with_another_model_replaces_the_index(small_kb):
    other = kb_for(small_kb.settings.library, small_kb.settings.data_dir, OtherHashEmbedder())
    report = update_index(other)
    assert report.full_rebuild and report.chunks_embedded == report.chunks_total
    assert other.searcher.search("清明").hits


def test_failed_build_leaves_previous_index_serving(small_kb):
    root = small_kb.settings.index_root
    before = current_build(root)
    path = small_kb.settings.library / "case" / "case-rotating-open-party-day.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n补充一段新的内容，触发重新计算向量。\n", encoding="utf-8")
    failing = kb_for(small_kb.settings.library, small_kb.settings.data_dir, HashEmbedder(fail_after=0))
    with pytest.raises(RuntimeError, match="on purpose"):
        update_index(failing)
    assert current_build(root) == before
    assert not [p for p in (root / "builds").iterdir() if p.name.startswith(".tmp")]
    assert small_kb.searcher.search("轮值").hits


def test_searcher_picks_up_a_new_build_without_restart(small_kb):
    searcher = small_kb.searcher
    assert "case-new-telescope" not in [h.doc_id for h in searcher.search("量子纠缠望远镜", limit=3).hits]
    src = small_kb.settings.library / "case" / "case-a-backbone-micro-pairing.md"
    text = src.read_text(encoding="utf-8").replace("case-a-backbone-micro-pairing", "case-new-telescope")
    text = text.replace("## ", "## 量子纠缠望远镜\n\n支部用量子纠缠望远镜的比喻讲结对。\n\n## ", 1)
    (src.parent / "case-new-telescope.md").write_text(text, encoding="utf-8")
    update_index(small_kb)
    assert searcher.search("量子纠缠望远镜", limit=3).hits[0].doc_id == "case-new-telescope"


def test_old_builds_are_cleaned_up(small_kb):
    lib = small_kb.settings.library
    for i in range(3):
        path = lib / "case" / "case-rotating-open-party-day.md"
        path.write_text(path.read_text(encoding="utf-8") + f"\n第{i}次修改。\n", encoding="utf-8")
        update_index(small_kb)
    builds = list((small_kb.settings.index_root / "builds").iterdir())
    assert len(builds) == 2
    assert os.readlink(small_kb.settings.index_root / "current").startswith("builds/")


def test_invalid_documents_are_skipped_and_reported(small_kb):
    bad = small_kb.settings.library / "case" / "case-bad.md"
    bad.write_text("---\nid: case-bad\nkind: case\n---\n\n正文\n", encoding="utf-8")
    report = update_index(small_kb)
    assert any("case-bad.md" in s for s in report.skipped)
    assert "case-bad" not in small_kb.searcher.index().docs


def test_cli_index_json(small_library, tmp_path):
    runner = CliRunner()
    env = {"KB_LIBRARY": str(small_library), "KB_DATA_DIR": str(tmp_path / "cli-data")}
    from kb.cli import cmd_library as cli_module

    original = cli_module._kb

    def fake_kb(ctx):
        kb = original(ctx)
        kb._embedder = HashEmbedder()
        return kb

    cli_module._kb = fake_kb
    try:
        first = runner.invoke(cli_module.cli, ["index", "--json", "--quiet"], env=env)
        second = runner.invoke(cli_module.cli, ["index", "--json", "--quiet"], env=env)
    finally:
        cli_module._kb = original
    assert first.exit_code == 0, first.output
    assert len(json.loads(first.output)["added"]) == 16
    data = json.loads(second.output)
    assert data["added"] == data["updated"] == data["removed"] == [] and data["chunks_embedded"] == 0


def test_exact_index_switches_to_ivf_above_threshold(small_library, tmp_path):
    library = load_library(small_library)
    root = tmp_path / "data" / "index"
    report = build_index(library, root, HashEmbedder(), exact_threshold=50)
    manifest = read_manifest(current_build(root))
    assert manifest["vector_index"]["type"].startswith("IVF")
    assert report.chunks_total > 50


def test_outline_agrees_with_the_stored_chunks_and_follows_a_new_build(small_kb):
    index = small_kb.searcher.index()
    ids = [r[0] for r in index.db.execute("SELECT id FROM chunks")]
    full = index.chunks(ids)
    outline = index.chunks(ids, text=False)
    assert outline.keys() == full.keys() and len(outline) == len(ids)
    assert all((o.doc_id, o.ordinal, o.heading) == (f.doc_id, f.ordinal, f.heading) and o.text == ""
               for o, f in ((outline[i], full[i]) for i in ids))
    vector = index.doc_vector("case-rotating-open-party-day")
    assert vector is index.doc_vector("case-rotating-open-party-day")  # remembered for this build
    path = small_kb.settings.library / "case" / "case-rotating-open-party-day.md"
    path.write_text(path.read_text(encoding="utf-8") + "\n## 补充\n\n新加的一节。\n", encoding="utf-8")
    update_index(small_kb)
    fresh = small_kb.searcher.index()
    assert fresh is not index
    added = [c for c in fresh.doc_chunks("case-rotating-open-party-day") if c.heading == "补充"]
    assert added and fresh.chunks([added[0].id], text=False)[added[0].id].doc_id == "case-rotating-open-party-day"
    assert added[0].id not in index.outline()  # the old build's outline is not consulted
    assert not (fresh.doc_vector("case-rotating-open-party-day") == vector).all()


def test_keyword_pruning_takes_the_rarest_terms_within_the_row_budget(small_kb):
    index = small_kb.searcher.index()
    limit = 0.3 * index.chunk_count
    rows = index.db.execute("SELECT term, doc FROM temp.terms WHERE doc > 1 AND doc <= ? ORDER BY doc DESC, term",
                            [limit]).fetchall()
    terms = [r[0] for r in rows[:6]]
    df = {t: index.doc_frequency(t) for t in terms}
    assert len(set(df.values())) > 2  # terms of different rarity, or the test proves nothing
    budget = sum(sorted(df.values())[:3])
    kept = index.selective_terms(terms, budget)
    assert sum(df[t] for t in kept) <= budget and kept == sorted(kept, key=df.get)
    assert all(df[t] >= max(df[k] for k in kept) for t in set(terms) - set(kept))  # only the commoner dropped
    assert index.selective_terms(terms, 1) == [min(terms, key=df.get)]  # at least one term, the rarest
    assert set(index.selective_terms(terms)) == set(terms)  # the default budget does not bind at this size
    pruned = {cid for cid, _ in index.keyword(terms, 500, budget=budget)}
    full = {cid for cid, _ in index.keyword(terms, 500)}
    assert pruned < full
