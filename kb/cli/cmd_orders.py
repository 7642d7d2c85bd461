"""Secretaries' commands: search, kit, similar, feedback, gaps, calendar, eval."""

from __future__ import annotations

from pathlib import Path

import click

from kb.cli import _date, _emit, _kb, cli, handle_errors


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
    from kb.index import ROW_BUDGET
    from kb.search import SearchConfig

    kb = _kb(ctx)
    path = queries or kb.settings.library / "eval" / "queries.yaml"
    labelled = load_queries(path, set(kb.library().documents))
    runs: dict[str, dict] = {"keyword": {"mode": "keyword"}, "dense": {"mode": "dense"}, "hybrid": {}}
    if variants:
        runs.update({
            "hybrid-rrf": {"config": SearchConfig(fusion="rrf")},
            "hybrid-rrf-k20": {"config": SearchConfig(fusion="rrf", rrf_k=20)},
            "hybrid-no-lexicon": {"config": SearchConfig(expand_keyword=0, expand_dense=0)},
            "hybrid-no-question-vectors": {"config": SearchConfig(question_weight=0)},
            "hybrid-expanded-query-vector": {"config": SearchConfig(expand_dense=2)},
            "hybrid-no-theme-vote": {"config": SearchConfig(vocab_weight=0)},
            # the keyword pruning that bounds cost at 100k chunks, scaled to this library's size
            "hybrid-pruned-as-at-100k": {"config": SearchConfig(
                row_budget=max(1, ROW_BUDGET * kb.searcher.index().chunk_count // 100_000))},
        })
    scores = evaluate_search(kb.searcher, labelled, runs)
    data = {"queries": len(labelled), "results": [s.to_dict() for s in scores]}
    kit_scores = evaluate_kits(kb, labelled, _date(date_)) if with_kits else None
    if kit_scores:
        data["kits"] = kit_scores.to_dict()

    def render(_):
        click.echo(f"评测集：{path}（{len(labelled)} 条点单）")
        click.echo(f"{'方法':<30}{'nDCG@10':>9}{'Recall@10':>11}{'MRR@10':>9}")
        for s in scores:
            click.echo(f"{s.name:<32}{s.ndcg:>9.3f}{s.recall:>11.3f}{s.mrr:>9.3f}")
        if kit_scores:
            k = kit_scores
            click.echo(f"资料包（{k.kits} 单，其中 {k.judged} 单有党课和案例标注）：党课相关 {k.lecture_relevant:.3f}，"
                       f"案例相关 {k.case_relevant:.3f}，党课且至少一个案例相关 {k.on_target:.3f}，"
                       f"违反硬约束 {k.violations} 处，不同党课 {k.distinct_lectures} 篇")
            for example in k.examples:
                click.echo(f"    {example}")

    _emit(data, as_json, render)



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
    found = demand_gaps(kb.store.orders(kits="weak"), min_orders=min_orders)

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


