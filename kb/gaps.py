"""The curators' to-do list: themes and orders the library serves poorly."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field


def is_weak(kit) -> bool:
    """A kit is weak when a core item is missing or nothing in it matched the order's words or themes."""
    if kit.lecture is None or not kit.cases or kit.notes:
        return True
    items = [kit.lecture, *kit.cases]
    return not any(any(w.startswith(("主题", "命中", "形式")) for w in item.why) for item in items)


@dataclass
class Gap:
    theme: str
    orders: int
    weak: int
    unmet: int
    examples: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # what the kits lacked, most common first

    @property
    def share_weak(self) -> float:
        return self.weak / self.orders if self.orders else 0.0

    def to_dict(self) -> dict:
        return {"theme": self.theme, "orders": self.orders, "weak": self.weak, "unmet": self.unmet,
                "share_weak": round(self.share_weak, 3), "examples": self.examples, "missing": self.missing}


def missing_parts(kit: dict) -> list[str]:
    """What a (logged) kit lacks, read from the kit itself."""
    parts = {"党课材料": kit.get("lecture"), "相似案例": kit.get("cases"), "活动方案": kit.get("plan"),
             "活动地点": kit.get("places")}
    return [name for name, value in parts.items() if not value]


def demand_gaps(orders: list[dict], min_orders: int = 1) -> list[Gap]:
    """Group logged orders by the themes they named; rank groups by how many were served weakly.
    Only the weak orders' kits are read (``Store.orders(kits="weak")``)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for order in orders:
        for theme in order["themes"] or ["（未识别主题）"]:
            groups[theme].append(order)
    gaps = []
    for theme, items in groups.items():
        weak = [o for o in items if o["weak"]]
        if len(items) < min_orders or not weak:
            continue
        missing = Counter(part for o in weak for part in missing_parts(o["kit"]))
        examples = list(dict.fromkeys(o["text"] for o in weak))[:5]
        gaps.append(Gap(theme, len(items), len(weak), sum(1 for o in items if o["unmet"]), examples,
                        [m for m, _ in missing.most_common(3)]))
    return sorted(gaps, key=lambda g: (-g.weak, -g.share_weak, g.theme))
