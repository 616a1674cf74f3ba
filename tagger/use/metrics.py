"""Entity-level precision, recall and F1 from seqeval: its default, conlleval-compatible mode is
the headline; its strict mode, beside it, counts only entities well formed in the tag scheme."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from seqeval.metrics import classification_report, f1_score
from seqeval.scheme import IOB2, IOBES

from tagger.core.entities import is_bioes, to_scheme

if TYPE_CHECKING:
    from tagger.use.predict import Tagger


@dataclass(frozen=True)
class TypeMetrics:
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Metrics:
    """Micro-averaged entity precision, recall and F1 (fractions), and the same per type.

    `strict_f1` reads entities as seqeval's strict mode does (IOB2, or BIOES for BIOES tags):
    an `I-` with no `B-` before it starts no entity, where conlleval would start one.
    """

    precision: float
    recall: float
    f1: float
    strict_f1: float
    support: int
    per_type: dict[str, TypeMetrics]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Metrics:
        return cls(**{**data, "per_type": {name: TypeMetrics(**values) for name, values in data["per_type"].items()}})


def entity_metrics(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Metrics:
    """Compare predicted tag sequences with gold ones, entity by entity. Predictions in another
    scheme than the gold's (an IOB2 model on BIOES data, or the reverse) are first spelled in
    the gold's scheme: seqeval reads both in one."""
    gold, predicted = list(map(list, gold)), list(map(list, predicted))
    gold_bioes = is_bioes(tag for sentence in gold for tag in sentence)
    if is_bioes(tag for sentence in predicted for tag in sentence) != gold_bioes:
        predicted = [to_scheme(sentence, gold_bioes) for sentence in predicted]
    with warnings.catch_warnings():  # numpy warns of averaging nothing when there are no entities
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(gold, predicted, output_dict=True, zero_division=0)
    per_type = {name: _type_metrics(values) for name, values in report.items() if not name.endswith(" avg")}
    overall = _type_metrics(report["micro avg"])
    scheme = IOBES if gold_bioes else IOB2
    strict = f1_score(gold, predicted, mode="strict", scheme=scheme, zero_division=0)
    return Metrics(overall.precision, overall.recall, overall.f1, float(strict), overall.support, per_type)


def _type_metrics(values: dict) -> TypeMetrics:
    return TypeMetrics(float(values["precision"]), float(values["recall"]), float(values["f1-score"]),
                       int(values["support"]))


def evaluate(tagger: Tagger, sentences: Sequence[Sequence[str]], gold: Sequence[Sequence[str]]) -> Metrics:
    """Tag `sentences` and compare the tags with `gold`: how training scores dev after each epoch."""
    return entity_metrics(gold, [tagged.tags for tagged in tagger.tag(sentences, with_probabilities=False)])
