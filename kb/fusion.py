"""Score fusion as pure functions: rankings in, fused scores out."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence


def rrf(rankings: Sequence[Sequence[Hashable]], k: float = 60.0,
        weights: Sequence[float] | None = None) -> dict[Hashable, float]:
    """Reciprocal rank fusion: score(x) = Σ w_i / (k + rank_i(x)), ranks starting at 1."""
    weights = weights or [1.0] * len(rankings)
    fused: dict[Hashable, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            fused[item] = fused.get(item, 0.0) + weight / (k + rank)
    return fused


def minmax(scores: Mapping[Hashable, float]) -> dict[Hashable, float]:
    """Scale scores to [0, 1]; a constant list maps to 1.0."""
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    span = high - low
    return {key: (value - low) / span if span else 1.0 for key, value in scores.items()}


def weighted(score_maps: Sequence[Mapping[Hashable, float]], weights: Sequence[float]) -> dict[Hashable, float]:
    """Weighted sum of min-max normalised scores; an item missing from a map scores 0 there."""
    fused: dict[Hashable, float] = {}
    for scores, weight in zip(score_maps, weights, strict=True):
        for key, value in minmax(scores).items():
            fused[key] = fused.get(key, 0.0) + weight * value
    return fused


def ranked(scores: Mapping[Hashable, float]) -> list[Hashable]:
    """Keys best first; ties broken by key so results are deterministic."""
    return sorted(scores, key=lambda key: (-scores[key], str(key)))


def best_per_group(scores: Mapping[Hashable, float], group_of: Mapping[Hashable, Hashable]) -> dict[Hashable, float]:
    """The best item score per group (e.g. the best chunk per document)."""
    best: dict[Hashable, float] = {}
    for item, score in scores.items():
        group = group_of[item]
        if score > best.get(group, float("-inf")):
            best[group] = score
    return best
