"""Backup and restore of what cannot be rebuilt: the library folder and the user database."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import sqlite3
import tarfile
import tempfile
from pathlib import Path

from kb.editing import atomic_write
from kb.errors import KBError

FORMAT = "hongling-kb-backup/1"


def backup(library: Path, db_path: Path, target: Path) -> dict:
    """Write a .tar.gz with the library's files and a consistent copy of the database."""
    if target.exists() and target.is_dir():
        target = target / f"hongling-kb-{dt.datetime.now():%Y%m%d-%H%M%S}.tar.gz"
    with tempfile.TemporaryDirectory() as tmp:
        snapshot = Path(tmp) / "kb.sqlite"
        if db_path.exists():
            src = sqlite3.connect(db_path)
            dst = sqlite3.connect(snapshot)
            with dst:
                src.backup(dst)  # consistent even while the server writes
            src.close()
            dst.close()
        files = sorted(p for p in library.rglob("*") if p.is_file() and ".history" not in p.parts)
        manifest = {"format": FORMAT, "created": dt.datetime.now().isoformat(timespec="seconds"),
                    "library": str(library), "files": len(files), "database": snapshot.exists()}
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            data = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo("manifest.json")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            for path in files:
                tar.add(path, arcname=f"library/{path.relative_to(library).as_posix()}")
            if snapshot.exists():
                tar.add(snapshot, arcname="kb.sqlite")
        atomic_write(target, buffer.getvalue())
    return {**manifest, "path": str(target)}


def _safe_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    members = tar.getmembers()
    for member in members:
        name = member.name
        if name.startswith("/") or ".." in Path(name).parts or not (member.isfile() or member.isdir()):
            raise KBError(f"备份文件包含不安全的条目“{name}”，已拒绝恢复")
    return members


def restore(archive: Path, library: Path, db_path: Path) -> dict:
    """Replace the library and database with a backup's. The current ones are kept beside them
    (``*.before-restore-<time>``), and nothing is touched until the archive has been checked."""
    try:
        tar = tarfile.open(archive, mode="r:gz")
    except (tarfile.TarError, OSError) as exc:
        raise KBError(f"无法读取备份文件 {archive}：{exc}") from exc
    with tar, tempfile.TemporaryDirectory(dir=library.parent) as tmp:
        members = _safe_members(tar)
        names = {m.name for m in members}
        if "manifest.json" not in names:
            raise KBError("不是红领资源库的备份文件（缺少 manifest.json）")
        manifest = json.loads(tar.extractfile("manifest.json").read())
        if manifest.get("format") != FORMAT:
            raise KBError(f"不支持的备份格式：{manifest.get('format')}")
        tar.extractall(tmp, members=members, filter="data")
        staged = Path(tmp)
        if not (staged / "library" / "themes.yaml").exists():
            raise KBError("备份中的资料库不完整（缺少 themes.yaml）")
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        if library.exists():
            library.rename(library.with_name(f"{library.name}.before-restore-{stamp}"))
        shutil.move(str(staged / "library"), str(library))
        if (staged / "kb.sqlite").exists():
            db_path.parent.mkdir(parents=True, exist_ok=True)
            if db_path.exists():
                shutil.copy2(db_path, db_path.with_name(f"{db_path.name}.before-restore-{stamp}"))
            src = sqlite3.connect(staged / "kb.sqlite")
            dst = sqlite3.connect(db_path)
            with dst:
                src.backup(dst)
            src.close()
            dst.close()
    return manifest
