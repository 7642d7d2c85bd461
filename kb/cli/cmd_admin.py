"""Running the product and its accounts: serve, user."""

from __future__ import annotations

import click

from kb.cli import TqdmProgress, _emit, _kb, cli, handle_errors


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


