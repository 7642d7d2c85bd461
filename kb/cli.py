"""The ``kb`` command: a thin shell over the library; every error becomes one clean message."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path

import click

from kb.errors import KBError
from kb.settings import Settings


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj


def _emit(data, as_json: bool, render) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))
    else:
        render(data)


def handle_errors(fn):
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except KBError as exc:
            click.echo(f"错误：{exc.message}", err=True)
            for item in (exc.detail if isinstance(exc.detail, list) else [])[:50]:
                click.echo(f"  {item}", err=True)
            sys.exit(2)

    return wrapper


@click.group()
@click.option("--library", type=click.Path(path_type=Path), envvar="KB_LIBRARY", help="资料库文件夹")
@click.option("--data-dir", type=click.Path(path_type=Path), envvar="KB_DATA_DIR", help="数据文件夹")
@click.pass_context
def cli(ctx: click.Context, library: Path | None, data_dir: Path | None) -> None:
    """红领资源库：点单选题、资料库按需供给、到阵地灵活使用。"""
    overrides = {k: v for k, v in {"library": library, "data_dir": data_dir}.items() if v is not None}
    ctx.obj = Settings(**overrides)


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


class TqdmProgress:
    """Progress bars on stderr for the long stages of a build."""

    LABELS = {"chunk": "切块", "embed": "向量化"}

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bars: dict = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled or total < 2:
            return
        from tqdm import tqdm

        bar = self.bars.get(stage)
        if bar is None:
            bar = self.bars[stage] = tqdm(total=total, desc=self.LABELS.get(stage, stage), unit="块",
                                          file=sys.stderr, dynamic_ncols=True)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def _kb(ctx: click.Context):
    from kb.service import KB

    return KB(_settings(ctx))


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


def _filter_options(fn):
    options = [
        click.option("--kind", multiple=True, help="类型：case/lecture/site/plan/venue/policy"),
        click.option("--theme", "themes", multiple=True, help="主题（取自 themes.yaml）"),
        click.option("--format", "formats", multiple=True, help="活动形式"),
        click.option("--audience", multiple=True, help="受众"),
        click.option("--duration", type=int, help="可用时长（分钟）"),
        click.option("--headcount", type=int, help="人数"),
        click.option("--status", multiple=True, help="状态，默认只看已发布"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _filters(kb, values: dict):
    from kb.filters import Filters

    keys = ("kind", "themes", "formats", "audience", "duration", "headcount", "status")
    return Filters.build(kb.vocab, **{k: values.get(k) for k in keys})


def _render_hits(hits: list[dict]) -> None:
    from kb.schema import KINDS

    if not hits:
        click.echo("没有找到匹配的资料。")
    for rank, hit in enumerate(hits, 1):
        click.echo(f"{rank:>2}. [{KINDS[hit['kind']]}] {hit['title']}  ({hit['doc_id']})")
        if hit["why"]:
            click.echo(f"    为什么：{'；'.join(hit['why'])}")
        passage = hit["passage"].replace("\n", " ")
        click.echo(f"    {hit['heading'] + '：' if hit['heading'] else ''}{passage[:90]}…")


@cli.command()
@click.argument("query")
@_filter_options
@click.option("--limit", default=10, show_default=True, help="返回条数")
@click.option("--mode", type=click.Choice(["hybrid", "keyword", "dense"]), default="hybrid", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def search(ctx: click.Context, query: str, limit: int, mode: str, as_json: bool, **values) -> None:
    """按自己的话查找资料，例如：kb search "清明节带大家去缅怀先烈" --kind case"""
    kb = _kb(ctx)
    result = kb.searcher.search(query, _filters(kb, values), limit=limit, mode=mode)

    def render(data):
        for notice in data["notices"]:
            click.echo(f"提示：{notice}", err=True)
        _render_hits(data["hits"])

    _emit(result.to_dict(), as_json, render)


@cli.command(name="eval")
@click.option("--queries", type=click.Path(path_type=Path), help="评测集，默认 资料库/eval/queries.yaml")
@click.option("--variants", is_flag=True, help="同时比较融合方式等候选方案")
@click.option("--kits", "with_kits", is_flag=True, help="同时评测点单资料包的质量")
@click.option("--date", "date_", default="2026-06-15", show_default=True, help="评测资料包时假定的日期")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def evaluate(ctx: click.Context, queries: Path | None, variants: bool, with_kits: bool, date_: str,
             as_json: bool) -> None:
    """在评测集上计算 nDCG@10、Recall@10、MRR@10（关键词 / 向量 / 混合），以及资料包质量。"""
    from kb.evaluate import evaluate_kits, evaluate_search, load_queries
    from kb.search import SearchConfig

    kb = _kb(ctx)
    path = queries or kb.settings.library / "eval" / "queries.yaml"
    labelled = load_queries(path, set(kb.library().documents))
    runs: dict[str, dict] = {"keyword": {"mode": "keyword"}, "dense": {"mode": "dense"}, "hybrid": {}}
    if variants:
        runs.update({
            "hybrid-rrf": {"config": SearchConfig(fusion="rrf")},
            "hybrid-rrf-k20": {"config": SearchConfig(fusion="rrf", rrf_k=20)},
            "hybrid-no-lexicon": {"config": SearchConfig(expand_keyword=0, expand_dense=False)},
            "hybrid-no-theme-vote": {"config": SearchConfig(vocab_weight=0)},
        })
    scores = evaluate_search(kb.searcher, labelled, runs)
    data = {"queries": len(labelled), "results": [s.to_dict() for s in scores]}
    kit_scores = evaluate_kits(kb, labelled, _date(date_)) if with_kits else None
    if kit_scores:
        data["kits"] = kit_scores.to_dict()

    def render(_):
        click.echo(f"评测集：{path}（{len(labelled)} 条点单）")
        click.echo(f"{'方法':<22}{'nDCG@10':>9}{'Recall@10':>11}{'MRR@10':>9}")
        for s in scores:
            click.echo(f"{s.name:<22}{s.ndcg:>9.3f}{s.recall:>11.3f}{s.mrr:>9.3f}")
        if kit_scores:
            k = kit_scores
            click.echo(f"资料包（{k.kits} 单，其中 {k.judged} 单有党课和案例标注）：党课相关 {k.lecture_relevant:.3f}，"
                       f"案例相关 {k.case_relevant:.3f}，党课且至少一个案例相关 {k.on_target:.3f}，"
                       f"违反硬约束 {k.violations} 处，不同党课 {k.distinct_lectures} 篇")
            for example in k.examples:
                click.echo(f"    {example}")

    _emit(data, as_json, render)


def _date(value: str | None):
    import datetime as dt

    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD，收到“{value}”") from None


@cli.command()
@click.argument("text")
@click.option("--format", "formats", multiple=True, help="活动形式，可多次指定")
@click.option("--duration", type=click.IntRange(5, 24 * 60), help="时长（分钟）")
@click.option("--headcount", type=click.IntRange(1, 10_000), help="人数")
@click.option("--date", "date_", help="活动日期 YYYY-MM-DD（影响纪念日推荐）")
@click.option("--audience", multiple=True, help="受众，如 青年党员")
@click.option("--district", help="所在区，如 玄武区")
@click.option("--venue", help="指定的红领阵地 id")
@click.option("--start", default="14:00", show_default=True, help="开始时间 HH:MM")
@click.option("--export", "export", type=click.Choice(["html", "md", "docx"]), help="导出格式")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="导出到文件")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def kit(ctx, text, formats, duration, headcount, date_, audience, district, venue, start, export, output, as_json):
    """点单：按主题和条件生成一页可直接使用的活动资料包。"""
    import re

    from kb.export import render
    from kb.kit import Order

    if not re.fullmatch(r"([01]?\d|2[0-3]):[0-5]\d", start):
        raise click.BadParameter(f"开始时间应为 HH:MM，收到“{start}”")
    kb = _kb(ctx)
    for fmt in formats:
        if fmt not in kb.vocab.names("formats"):
            raise click.BadParameter(f"未知的活动形式“{fmt}”（可选：{'、'.join(kb.vocab.names('formats'))}）")
    order = Order(text, list(formats), duration, headcount, _date(date_), list(audience), district, venue, start)
    result = kb.order(order)
    if export:
        data = render(result, export)
        if output:
            output.write_bytes(data)
            click.echo(f"已导出：{output}")
        elif export == "docx":
            raise click.BadParameter("导出 Word 文件请用 --output 指定文件名")
        else:
            click.echo(data.decode("utf-8"))
        return
    if as_json:
        _emit(result.to_dict(), True, None)
        return
    from kb.export import to_markdown

    click.echo(to_markdown(result))


@cli.command()
@click.argument("doc_id")
@click.option("--kind", help="只看某一类型")
@click.option("--limit", default=5, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def similar(ctx, doc_id, kind, limit, as_json):
    """相似的资料：案例默认找情况相近、效果好的其他案例（不含自身）。"""
    from kb.similar import similar as find_similar

    kb = _kb(ctx)
    hits = find_similar(kb.searcher, doc_id, limit=limit, kind=kind, ratings=kb.store.ratings())
    _emit({"doc_id": doc_id, "hits": [h.to_dict() for h in hits]}, as_json, lambda d: _render_hits(d["hits"]))


@cli.command()
@click.argument("target")
@click.option("--rating", type=click.IntRange(1, 5), required=True, help="评分 1–5")
@click.option("--note", default="", help="备注")
@click.option("--kit", "is_kit", is_flag=True, help="TARGET 是资料包编号（默认是文档 id）")
@click.pass_context
@handle_errors
def feedback(ctx, target, rating, note, is_kit):
    """“用过了”：给文档或资料包打分，评分会影响以后的推荐。"""
    from kb.errors import NotFound

    kb = _kb(ctx)
    if is_kit and kb.store.kit(target) is None:
        raise NotFound(f"找不到资料包“{target}”")
    if not is_kit:
        kb.library().get(target)
    kb.store.add_feedback("kit" if is_kit else "doc", target, rating, note)
    click.echo("已记录，谢谢反馈。")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.option("--min-orders", default=1, show_default=True, help="至少有几次点单的主题才列出")
@click.pass_context
@handle_errors
def gaps(ctx, as_json, min_orders):
    """资料缺口：点单多但匹配弱、或没有资料满足条件的主题（资料员的待办清单）。"""
    from kb.gaps import demand_gaps

    kb = _kb(ctx)
    found = demand_gaps(kb.store.orders(), min_orders=min_orders)

    def render(_):
        if not found:
            click.echo("暂无明显缺口。")
        for gap in found:
            click.echo(f"{gap.theme}：点单 {gap.orders} 次，匹配弱 {gap.weak} 次，条件未满足 {gap.unmet} 次")
            if gap.missing:
                click.echo(f"    缺少：{'、'.join(gap.missing)}")
            for example in gap.examples:
                click.echo(f"    · {example}")

    _emit([g.to_dict() for g in found], as_json, render)


@cli.command()
@click.option("--date", "date_", help="日期 YYYY-MM-DD，默认今天")
@click.option("--days", default=45, show_default=True, help="向后看多少天")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def calendar(ctx, date_, days, as_json):
    """近期纪念日及其推荐主题（清明按年份计算）。"""
    import datetime as dt

    kb = _kb(ctx)
    today = _date(date_) or dt.date.today()
    upcoming = kb.calendar.upcoming(today, within_days=days)

    def render(_):
        for up in upcoming:
            click.echo(f"{up.date}（{up.days_until} 天后）{up.event.name}：{'、'.join(up.event.themes)}")

    _emit([u.to_dict() for u in upcoming], as_json, render)


@cli.command()
@click.option("--host", envvar="KB_HOST", help="监听地址（默认 127.0.0.1）")
@click.option("--port", type=int, envvar="KB_PORT", help="监听端口（默认 8000）")
@click.pass_context
@handle_errors
def serve(ctx, host, port):
    """启动网站：首次启动为资料库建立索引（显示进度），之后直接复用索引。"""
    import uvicorn

    from indexer.build import update_index
    from web.app import create_app

    kb = _kb(ctx)
    click.echo(f"资料库：{kb.settings.library}")
    click.echo(f"数据文件夹：{kb.settings.data_dir}")
    progress = TqdmProgress()
    try:
        report = update_index(kb, progress=progress)
    finally:
        progress.close()
    for item in report.skipped:
        click.echo(f"跳过无效文档：{item}", err=True)
    click.echo(f"索引就绪：{report.chunks_total} 块（新计算 {report.chunks_embedded} 块，用时 {report.seconds:.1f} 秒）")
    host, port = host or kb.settings.host, port or kb.settings.port
    click.echo(f"红领资源库已启动：http://{host}:{port}")
    uvicorn.run(create_app(kb=kb), host=host, port=port, log_level="warning")


@cli.group()
def user():
    """账号管理：资料员（curator）与管理员（admin）。"""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["curator", "admin"]), default="curator", show_default=True)
@click.pass_context
@handle_errors
def user_add(ctx, name, role):
    """新增账号（密码在提示符下输入，不出现在命令行里）。"""
    from kb.auth import add_user

    password = click.prompt("密码", hide_input=True, confirmation_prompt="再次输入密码")
    kb = _kb(ctx.find_root())
    add_user(kb.store, name, password, role)
    kb.store.audit("cli", "add_user", name, role)
    click.echo(f"已新增{ {'curator': '资料员', 'admin': '管理员'}[role] }“{name}”。")


@user.command("passwd")
@click.argument("name")
@click.pass_context
@handle_errors
def user_passwd(ctx, name):
    """重设密码。"""
    from kb.auth import set_password

    password = click.prompt("新密码", hide_input=True, confirmation_prompt="再次输入新密码")
    kb = _kb(ctx.find_root())
    set_password(kb.store, name, password)
    kb.store.audit("cli", "set_password", name)
    click.echo("密码已更新。")


@user.command("list")
@click.option("--json", "as_json", is_flag=True, help="以 JSON 输出")
@click.pass_context
@handle_errors
def user_list(ctx, as_json):
    """列出账号。"""
    from kb.auth import list_users

    users = list_users(_kb(ctx.find_root()).store)
    _emit(users, as_json, lambda rows: [click.echo(f"{r['name']}\t{r['role']}\t{'停用' if r['disabled'] else '正常'}")
                                         for r in rows])


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


def main() -> None:
    cli(prog_name="kb")


if __name__ == "__main__":
    main()
