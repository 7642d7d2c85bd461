"""Library commands: validate, index, import, backup, restore."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kb.cli import TqdmProgress, _emit, _kb, _settings, cli, handle_errors


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def validate(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """检查文档（默认检查整个资料库），逐条列出 文件:行: 字段: 问题。"""
    from kb.library import validate as run

    checked, problems = run(list(paths), _settings(ctx).library)
    data = {"checked": checked, "problems": [p.__dict__ for p in problems], "ok": not problems}

    def render(_):
        for problem in problems:
            click.echo(str(problem))
        verdict = "全部通过" if not problems else f"发现 {len(problems)} 处问题"
        click.echo(f"共检查 {checked} 个文档，{verdict}。", err=bool(problems))

    _emit(data, as_json, render)
    sys.exit(1 if problems else 0)



@cli.command()
@click.option("--rebuild", is_flag=True, help="丢弃旧索引，全部重新建立")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 报告新增/更新/删除的文档")
@click.option("--quiet", is_flag=True, help="不显示进度条")
@click.pass_context
@handle_errors
def index(ctx: click.Context, rebuild: bool, as_json: bool, quiet: bool) -> None:
    """建立或增量更新索引（只为变化的文档重新计算向量）。"""
    from indexer.build import update_index

    progress = TqdmProgress(enabled=not quiet)
    try:
        report = update_index(_kb(ctx), rebuild=rebuild, progress=progress)
    finally:
        progress.close()

    def render(_):
        for item in report.skipped:
            click.echo(f"跳过无效文档：{item}", err=True)
        click.echo(
            f"索引已更新：新增 {len(report.added)}，更新 {len(report.updated)}，删除 {len(report.removed)}，"
            f"未变 {report.unchanged}；新计算向量 {report.chunks_embedded} 块，"
            f"共 {report.chunks_total} 块，用时 {report.seconds:.1f} 秒。"
        )

    _emit(report.to_dict(), as_json, render)



IMPORTABLE = {".docx", ".pdf", ".txt", ".md", ".markdown"}


@cli.command(name="import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--kind", type=click.Choice(["case", "lecture", "site", "plan", "venue", "policy"]), help="指定类型")
@click.option("--publish", is_flag=True, help="通过检查的直接发布（否则都存为草稿）")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出汇总")
@click.pass_context
@handle_errors
def import_files(ctx, paths, kind, publish, as_json):
    """批量导入 Word/PDF/文本/Markdown 文件：转换、预填字段，存为草稿或直接发布。"""
    from tqdm import tqdm

    from indexer.build import update_index
    from indexer.convert import convert
    from kb.editing import Editor
    from kb.errors import KBError as Error

    kb = _kb(ctx)
    editor = Editor(kb.settings.library, kb.settings.data_dir, kb.store)
    files = sorted({f for p in paths for f in ([p] if p.is_file() else p.rglob("*"))
                    if f.is_file() and f.suffix.lower() in IMPORTABLE})
    summary = {"published": [], "drafts": [], "failed": []}
    limit = kb.settings.max_upload_mb * 1024 * 1024
    for path in tqdm(files, desc="导入", unit="个", file=sys.stderr, disable=as_json):
        try:
            converted = convert(path.name, path.read_bytes(), kb.vocab, max_bytes=limit)
        except Error as exc:
            summary["failed"].append({"file": str(path), "reason": exc.message})
            continue
        fields = converted.fields
        if kind:
            fields["kind"] = kind
            fields["id"] = f"{kind}-{fields['id'].split('-', 1)[1]}"
        editor.keep_upload(fields["id"], path.name, path.read_bytes())
        if publish:
            fields["status"] = "published"
            doc, problems = editor.check(fields, converted.markdown, kb.vocab)
            if doc is not None:
                try:
                    editor.publish(fields, converted.markdown, kb.library(reload=True), "cli")
                    summary["published"].append({"file": str(path), "id": doc.id, "title": doc.title})
                    continue
                except Error as exc:
                    problems = [exc.message]
            fields["status"] = "draft"
            editor.save_draft(fields, converted.markdown, "cli")
            summary["drafts"].append({"file": str(path), "id": fields["id"], "problems": [str(p) for p in problems]})
        else:
            editor.save_draft(fields, converted.markdown, "cli")
            summary["drafts"].append({"file": str(path), "id": fields["id"], "problems": []})
    if summary["published"]:
        summary["index"] = update_index(kb).to_dict()

    def render(data):
        click.echo(f"共 {len(files)} 个文件：发布 {len(data['published'])}，存为草稿 {len(data['drafts'])}，"
                   f"失败 {len(data['failed'])}。")
        for item in data["published"]:
            click.echo(f"  已发布 {item['id']}：{item['title']}（{item['file']}）")
        for item in data["drafts"]:
            reason = f"，待补：{'；'.join(item['problems'][:3])}" if item["problems"] else ""
            click.echo(f"  草稿 {item['id']}（{item['file']}）{reason}")
        for item in data["failed"]:
            click.echo(f"  失败 {item['file']}：{item['reason']}")

    _emit(summary, as_json, render)
    sys.exit(1 if summary["failed"] else 0)


@cli.command(name="backup")
@click.argument("path", type=click.Path(path_type=Path))
@click.pass_context
@handle_errors
def backup_command(ctx, path):
    """备份资料库和数据库（点单、反馈、账号、操作记录）到一个 .tar.gz 文件。"""
    from kb.backup import backup

    settings = _settings(ctx)
    info = backup(settings.library, settings.db_path, path)
    click.echo(f"已备份 {info['files']} 个资料库文件和数据库到 {info['path']}")


@cli.command(name="restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="不再确认")
@click.pass_context
@handle_errors
def restore_command(ctx, path, yes):
    """从备份恢复资料库和数据库（现有的会先改名保留）；恢复后请运行 kb index。"""
    from kb.backup import restore

    settings = _settings(ctx)
    if not yes:
        click.confirm(f"将用 {path} 替换 {settings.library} 和数据库，现有内容改名保留。继续？", abort=True)
    info = restore(path, settings.library, settings.db_path)
    click.echo(f"已恢复 {info['created']} 的备份（{info['files']} 个文件）。请运行 kb index 更新索引。")


