"""The document schema as data: one FieldSpec per front-matter field.

The validator, the curator's web form and the README's field table are all driven by FIELDS,
so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

KINDS: dict[str, str] = {
    "case": "组织生活案例",
    "lecture": "党课/学习材料",
    "site": "红色教育基地",
    "plan": "活动方案",
    "venue": "红领阵地/党群服务站",
    "policy": "党内法规/文件",
}
STATUSES: dict[str, str] = {"draft": "草稿", "published": "已发布", "retired": "已下架"}
SLOTS: dict[str, str] = {
    "opening": "开场",
    "ritual": "仪式",
    "lecture": "党课/宣讲",
    "cases": "案例学习",
    "activity": "主体活动",
    "discussion": "研讨交流",
    "visit": "参观",
    "closing": "总结",
}
ALL = frozenset(KINDS)
ACTIVITY_KINDS = frozenset({"case", "plan", "lecture", "site"})
ID_PATTERN = r"^[a-z0-9][a-z0-9-]{2,79}$"
MIN_BODY_CHARS = 400


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str  # id | text | longtext | enum | vocab | range | int | date | list | lines | agenda
    required_for: frozenset[str] = frozenset()
    help: str = ""
    choices: tuple[str, ...] = ()
    facet: str = ""  # for type "vocab": themes | formats | audience
    kinds: frozenset[str] = ALL  # the kinds this field applies to
    max_items: int = 0

    def required(self, kind: str) -> bool:
        return kind in self.required_for

    def applies(self, kind: str) -> bool:
        return kind in self.kinds


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("id", "标识", "id", ALL, "英文小写短标识，只含 a-z 0-9 -，等于文件名"),
    FieldSpec("title", "标题", "text", ALL),
    FieldSpec("kind", "类型", "enum", ALL, choices=tuple(KINDS)),
    FieldSpec("status", "状态", "enum", ALL, choices=tuple(STATUSES)),
    FieldSpec("themes", "主题", "vocab", ALL, "1–5 个，取自 themes.yaml", facet="themes", max_items=5),
    FieldSpec("formats", "活动形式", "vocab", ACTIVITY_KINDS, facet="formats"),
    FieldSpec("audience", "受众", "vocab", facet="audience"),
    FieldSpec("duration_minutes", "时长（分钟）", "range", ACTIVITY_KINDS, "整数，或 {min: 15, max: 45}"),
    FieldSpec("headcount", "适合人数", "range", frozenset({"case", "plan", "site"}), "{min: 8, max: 30}"),
    FieldSpec("summary", "摘要", "longtext", ALL, "一两句话（20–200 字）"),
    FieldSpec("source", "来源", "text", ALL, "虚构的示例写明“示例”"),
    FieldSpec("updated", "更新日期", "date", ALL, "YYYY-MM-DD"),
    FieldSpec("tags", "关键词", "list"),
    FieldSpec("questions", "常见问法", "lines", help="支部书记可能怎么问：口语化的一句话，每行一个（检索用）", max_items=20),
    FieldSpec("branch_type", "支部类型", "text", frozenset({"case"}), kinds=frozenset({"case"})),
    FieldSpec("industry", "行业", "text", frozenset({"case"}), kinds=frozenset({"case"})),
    FieldSpec("branch_size", "党员人数", "int", frozenset({"case"}), kinds=frozenset({"case"})),
    FieldSpec("address", "地址", "text", frozenset({"site", "venue"}), kinds=frozenset({"site", "venue"})),
    FieldSpec("city", "城市", "text", frozenset({"site"}), kinds=frozenset({"site"})),
    FieldSpec("district", "区", "text", frozenset({"site", "venue"}), kinds=frozenset({"site", "venue"})),
    FieldSpec("booking_note", "预约须知", "longtext", frozenset({"site"}), kinds=frozenset({"site"})),
    FieldSpec("open_hours", "开放时间", "text", frozenset({"venue"}), kinds=frozenset({"site", "venue"})),
    FieldSpec("capacity", "可容纳人数", "int", frozenset({"venue"}), kinds=frozenset({"venue"})),
    FieldSpec("equipment", "设备", "list", frozenset({"venue"}), kinds=frozenset({"venue"})),
    FieldSpec("agenda", "议程", "agenda", frozenset({"plan"}), "每项 {minutes, step, slot}", kinds=frozenset({"plan"})),
    FieldSpec("budget_yuan", "预算（元）", "int", frozenset({"plan"}), kinds=frozenset({"plan"})),
    FieldSpec("issuer", "发布机关", "text", frozenset({"policy"}), kinds=frozenset({"policy"})),
    FieldSpec("issued", "发布日期", "date", frozenset({"policy"}), kinds=frozenset({"policy"})),
    FieldSpec("doc_number", "文号", "text", kinds=frozenset({"policy"})),
)
FIELD_BY_NAME = {f.name: f for f in FIELDS}
