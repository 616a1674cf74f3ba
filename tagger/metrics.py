"""Entity-level scores from seqeval (its default, conlleval-compatible mode)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from seqeval.metrics import classification_report


@dataclass(frozen=True)
class TypeScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Micro-averaged entity precision, recall and F1 (fractions), and the same per type."""

    precision: float
    recall: float
    f1: float
    support: int
    per_type: dict[str, TypeScores]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Scores:
        per_type = {name: TypeScores(**values) for name, values in data["per_type"].items()}
        return cls(data["precision"], data["recall"], data["f1"], data["support"], per_type)


def score(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    """Compare predicted tag sequences with gold ones, entity by entity."""
    report = classification_report(list(map(list, gold)), list(map(list, predicted)),
                                   output_dict=True, zero_division=0)
    per_type = {name: _type_scores(values) for name, values in report.items() if not name.endswith(" avg")}
    overall = _type_scores(report["micro avg"])
    return Scores(overall.precision, overall.recall, overall.f1, overall.support, per_type)


def _type_scores(values: dict) -> TypeScores:
    return TypeScores(float(values["precision"]), float(values["recall"]), float(values["f1-score"]),
                      int(values["support"]))
