"""The ``kb`` command: a thin shell over the library; every error becomes one clean message.

This package is the one place that puts kb/, indexer/ and web/ together (imports stay inside commands)."""

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


def _date(value: str | None):
    import datetime as dt

    if not value:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"日期格式应为 YYYY-MM-DD，收到“{value}”") from None


# The commands live in modules by audience; importing them registers them on the group.
from kb.cli import cmd_admin, cmd_library, cmd_orders  # noqa: E402,F401


def main() -> None:
    cli(prog_name="kb")


if __name__ == "__main__":
    main()
