"""Search filters: checked against the vocabulary, applied to the index's document records."""

from __future__ import annotations

from dataclasses import dataclass

from kb.errors import InvalidFilter
from kb.index import DocRecord
from kb.schema import KINDS, STATUSES
from kb.vocab import Vocabulary


@dataclass(frozen=True)
class Filters:
    kind: tuple[str, ...] = ()
    themes: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    audience: tuple[str, ...] = ()
    duration: int | None = None  # minutes available: the document must fit
    headcount: int | None = None  # people: within the document's range
    status: tuple[str, ...] = ("published",)

    @classmethod
    def build(cls, vocab: Vocabulary, **values) -> Filters:
        """Make filters from loose input (str or list per field); unknown values raise InvalidFilter."""
        def as_tuple(value) -> tuple[str, ...]:
            if value is None or value == "":
                return ()
            items = [value] if isinstance(value, str) else list(value)
            return tuple(str(v).strip() for v in items if str(v).strip())

        def number(name: str, value) -> int | None:
            if value in (None, ""):
                return None
            try:
                number = int(value)
            except (TypeError, ValueError):
                raise InvalidFilter(f"筛选条件 {name} 应是正整数，收到“{value}”") from None
            if number <= 0 or number > 100_000:
                raise InvalidFilter(f"筛选条件 {name} 应是正整数，收到“{value}”")
            return number

        filters = cls(
            kind=as_tuple(values.get("kind")), themes=as_tuple(values.get("themes") or values.get("theme")),
            formats=as_tuple(values.get("formats") or values.get("format")),
            audience=as_tuple(values.get("audience")),
            duration=number("duration", values.get("duration")),
            headcount=number("headcount", values.get("headcount")),
            status=as_tuple(values.get("status")) or ("published",),
        )
        filters.check(vocab)
        return filters

    def check(self, vocab: Vocabulary) -> None:
        valid = {
            "kind": list(KINDS), "status": list(STATUSES), "themes": vocab.names("themes"),
            "formats": vocab.names("formats"), "audience": vocab.names("audience"),
        }
        for name, allowed in valid.items():
            unknown = [v for v in getattr(self, name) if v not in allowed]
            if unknown:
                raise InvalidFilter(
                    f"筛选条件 {name} 的取值“{'、'.join(unknown)}”无效，可选：{'、'.join(allowed)}",
                    detail={"field": name, "invalid": unknown, "valid": allowed},
                )

    @property
    def trivial(self) -> bool:
        return self == Filters()

    def admits(self, doc: DocRecord) -> bool:
        if self.status and doc.status not in self.status:
            return False
        if self.kind and doc.kind not in self.kind:
            return False
        if self.themes and not set(self.themes) & set(doc.themes):
            return False
        if self.formats and not set(self.formats) & set(doc.formats):
            return False
        if self.audience and not set(self.audience) & set(doc.audience):
            return False
        if self.duration is not None and doc.duration is not None and doc.duration.min > self.duration:
            return False
        return not (self.headcount is not None and doc.headcount is not None
                    and not doc.headcount.contains(self.headcount))

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v not in ((), None)}
