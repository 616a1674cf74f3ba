"""Entity-level scores from seqeval: its default, conlleval-compatible mode is the headline;
its strict mode, beside it, counts only entities that are well formed in the tag scheme."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from seqeval.metrics import classification_report, f1_score
from seqeval.scheme import IOB2, IOBES


@dataclass(frozen=True)
class TypeScores:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Scores:
    """Micro-averaged entity precision, recall and F1 (fractions), and the same per type.

    `strict_f1` reads entities as seqeval's strict mode does (IOB2, or BIOES for BIOES tags):
    an `I-` with no `B-` before it starts no entity, where conlleval would start one.
    """

    precision: float
    recall: float
    f1: float
    strict_f1: float
    support: int
    per_type: dict[str, TypeScores]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Scores:
        return cls(**{**data, "per_type": {name: TypeScores(**values) for name, values in data["per_type"].items()}})


def score(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Scores:
    """Compare predicted tag sequences with gold ones, entity by entity."""
    gold, predicted = list(map(list, gold)), list(map(list, predicted))
    with warnings.catch_warnings():  # numpy warns of averaging nothing when there are no entities
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_type = {name: _type_scores(values) for name, values in report.items() if not name.endswith(" avg")}
    overall = _type_scores(report["micro avg"])
    bioes = any(tag[:2] in ("E-", "S-") for sentence in gold + predicted for tag in sentence)
    strict = f1_score(gold, predicted, mode="strict", scheme=IOBES if bioes else IOB2, zero_division=0)
    return Scores(overall.precision, overall.recall, overall.f1, float(strict), overall.support, per_type)


def _type_scores(values: dict) -> TypeScores:
    return TypeScores(float(values["precision"]), float(values["recall"]), float(values["f1-score"]),
                      int(values["support"]))
