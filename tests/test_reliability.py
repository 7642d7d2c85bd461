"""Nothing lost: builds and writes killed with SIGKILL, backups restored, hostile uploads refused."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from indexer.build import update_index
from kb.backup import backup, restore
from kb.errors import ConversionError, KBError, UploadTooLarge
from kb.index import current_build
from kb.service import KB
from kb.settings import Settings
from kb.store import Store
from kb.vocab import load_vocabulary
from tests.conftest import CORPUS, ROOT, csrf_of, login
from tests.fakes import SlowHashEmbedder


def run_cli(args, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "kb.cli", *args], cwd=ROOT, env={**os.environ, **env}, **kwargs)


def test_kill_9_during_indexing_keeps_the_old_index_serving(small_library, tmp_path):
    data = tmp_path / "data"
    env = {"KB_LIBRARY": str(small_library), "KB_DATA_DIR": str(data), "KB_EMBEDDER": "tests.fakes:SlowHashEmbedder",
           "SLOW_EMBED_SECONDS": "0"}
    assert run_cli(["index", "--quiet"], env).wait(120) == 0
    before = current_build(data / "index")
    edited = [p for p in small_library.rglob("*.md") if p.parent.name in ("case", "lecture", "plan")]
    for path in edited:
        path.write_text(path.read_text(encoding="utf-8") + "\n\n## 补充\n\n修订后新增的一段说明。\n", encoding="utf-8")
    build = run_cli(["index", "--quiet"], {**env, "SLOW_EMBED_SECONDS": "0.3"})
    time.sleep(3.5)
    assert build.poll() is None, "the build finished before it could be killed"
    build.send_signal(signal.SIGKILL)
    build.wait(10)
    assert current_build(data / "index") == before  # the previous build still serves
    kb = KB(Settings(library=small_library, data_dir=data), embedder=SlowHashEmbedder())
    assert kb.searcher.search("轮值").hits
    os.environ["SLOW_EMBED_SECONDS"] = "0"
    try:
        report = update_index(kb)
    finally:
        del os.environ["SLOW_EMBED_SECONDS"]
    assert current_build(data / "index") != before
    assert len(report.updated) == len(edited)
    assert report.chunks_embedded < len(edited)  # what was embedded before the kill is not embedded again
    assert not [p for p in (data / "index" / "builds").iterdir() if p.name.startswith(".tmp")]
    assert "修订后新增" in kb.searcher.search("修订后新增的一段说明").hits[0].passage


WRITER = """
import sys
from pathlib import Path
from kb.editing import atomic_write
target = Path(sys.argv[1])
for version in range(1, 10_000):
    atomic_write(target, (f"版本{version}\\n" * 400_000).encode("utf-8"))
"""


@pytest.mark.parametrize("delay", [0.3, 0.7, 1.1])
def test_kill_9_during_a_write_leaves_a_whole_file(tmp_path, delay):
    target = tmp_path / "case" / "case-x.md"
    target.parent.mkdir()
    target.write_text("版本0\n" * 400_000, encoding="utf-8")
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=ROOT)
    time.sleep(delay)
    writer.send_signal(signal.SIGKILL)
    writer.wait(10)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 400_000 and len(set(lines)) == 1  # one complete version, never a mixture


def test_backup_and_restore_round_trip(small_kb, tmp_path):
    store = small_kb.store
    store.add_feedback("doc", "case-rotating-open-party-day", 5, "备份前的反馈")
    library = small_kb.settings.library
    archive = Path(backup(library, small_kb.settings.db_path, tmp_path / "backup.tar.gz")["path"])
    original = (library / "case" / "case-rotating-open-party-day.md").read_text(encoding="utf-8")
    (library / "case" / "case-rotating-open-party-day.md").write_text("被误改了", encoding="utf-8")
    (library / "site" / "site-meiyuan-xincun-memorial.md").unlink()
    store.add_feedback("doc", "case-x", 1, "备份后的反馈")
    info = restore(archive, library, small_kb.settings.db_path)
    assert info["files"] >= 16
    assert (library / "case" / "case-rotating-open-party-day.md").read_text(encoding="utf-8") == original
    assert (library / "site" / "site-meiyuan-xincun-memorial.md").exists()
    notes = [f["note"] for f in Store(small_kb.settings.db_path).feedback_for("doc", "case-rotating-open-party-day")]
    assert notes == ["备份前的反馈"]
    assert Store(small_kb.settings.db_path).feedback_for("doc", "case-x") == []
    kept = [p for p in library.parent.iterdir() if p.name.startswith("library.before-restore-")]
    assert kept and (kept[0] / "case" / "case-rotating-open-party-day.md").read_text(encoding="utf-8") == "被误改了"


def test_restore_refuses_hostile_or_foreign_archives(tmp_path):
    import tarfile

    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = b'{"format": "hongling-kb-backup/1"}'
        for name in ("manifest.json", "../../outside.txt"):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    library = tmp_path / "library"
    library.mkdir()
    with pytest.raises(KBError, match="不安全"):
        restore(evil, library, tmp_path / "kb.sqlite")
    assert not (tmp_path.parent / "outside.txt").exists() and library.exists()
    with pytest.raises(KBError, match="无法读取"):
        restore(tmp_path / "nope.tar.gz", library, tmp_path / "kb.sqlite")


def zipped(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def encrypted_pdf() -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.encrypt("secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "data", "error", "message"),
    [
        ("bomb.docx", zipped({"word/document.xml": b"0" * 20_000_000}), ConversionError, "压缩炸弹|过大"),
        ("evil.docx", zipped({"word/document.xml": b"<w/>", "../../etc/evil": b"x"}), ConversionError, "不安全的路径"),
        ("abs.docx", zipped({"word/document.xml": b"<w/>", "/etc/evil": b"x"}), ConversionError, "不安全的路径"),
        ("locked.docx", zipped({"EncryptedPackage": b"x" * 100, "EncryptionInfo": b"x"}), ConversionError, "已加密"),
        ("locked.pdf", encrypted_pdf(), ConversionError, "已加密"),
        ("broken.pdf", b"%PDF-1.7\n1 0 obj <<>> trailer", ConversionError, "已损坏"),
        ("pic.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, ConversionError, "无法识别"),
        ("big.txt", "党".encode() * 800_000, UploadTooLarge, "文件过大"),
    ],
)
def test_hostile_uploads_are_refused_clearly(name, data, error, message):
    from indexer.convert import convert

    with pytest.raises(error, match=message):
        convert(name, data, load_vocabulary(CORPUS), max_bytes=2 * 1024 * 1024)


def test_upload_over_the_limit_is_413_and_nothing_is_kept(curator_app):
    app, client = curator_app
    app.state.kb.settings.max_upload_mb = 1
    login(client, "ziliaoyuan", "correct-horse-1")
    token = csrf_of(client, "/curator/new")
    response = client.post("/curator/upload", data={"csrf": token},
                           files={"file": ("big.txt", "党".encode() * 600_000, "text/plain")})
    assert response.status_code == 413 and "文件过大" in response.text
    assert not (app.state.kb.settings.data_dir / "drafts").exists() or not list(
        (app.state.kb.settings.data_dir / "drafts").iterdir())


def test_ids_cannot_escape_the_library(curator_app):
    app, client = curator_app
    login(client, "ziliaoyuan", "correct-horse-1")
    for path in ("/curator/drafts/..%2F..%2Fsecret", "/curator/docs/..%2Fcase%2Fx/edit", "/docs/%2e%2e%2fkb",
                 "/curator/drafts/case-x%00.md"):
        assert client.get(path).status_code in (404, 422), path
    token = csrf_of(client, "/curator/new")
    response = client.post("/curator/paste", data={"csrf": token, "title": "t", "text": "正文" * 30})
    draft_url = response.url.path
    evil = client.post(draft_url, data={"csrf": csrf_of(client, draft_url), "id": "../../outside", "kind": "case",
                                        "op": "publish", "body": "正文" * 300})
    assert evil.status_code in (404, 422)
    assert not (app.state.kb.settings.library.parent / "outside.md").exists()
    assert not list(app.state.kb.settings.library.parent.glob("**/outside.md"))


def test_cli_backup_and_restore(small_kb, tmp_path):
    env = {"KB_LIBRARY": str(small_kb.settings.library), "KB_DATA_DIR": str(small_kb.settings.data_dir)}
    out = subprocess.run([sys.executable, "-m", "kb.cli", "backup", str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, env={**os.environ, **env})
    assert out.returncode == 0, out.stderr
    archive = next(tmp_path.glob("hongling-kb-*.tar.gz"))
    back = subprocess.run([sys.executable, "-m", "kb.cli", "restore", str(archive), "--yes"], cwd=ROOT,
                          capture_output=True, text=True, env={**os.environ, **env})
    assert back.returncode == 0, back.stderr
    assert "已恢复" in back.stdout
    assert json.loads(subprocess.run([sys.executable, "-m", "kb.cli", "validate", "--json"], cwd=ROOT,
                                     capture_output=True, text=True, env={**os.environ, **env}).stdout)["ok"]
