"""Where the entity errors are: every gold entity, and every predicted one that meets no gold
entity, put in exactly one category; every error kept with its sentence, for the HTML report."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tagger.core.entities import Entity, entities

CATEGORIES = ("correct", "wrong_type", "wrong_boundary", "both_wrong", "missed", "spurious")
ERROR_CATEGORIES = CATEGORIES[1:]


def label(category: str) -> str:
    """The category as people read it: `wrong type`."""
    return category.replace("_", " ")


@dataclass(frozen=True)
class EntityError:
    """A gold entity the model got wrong, or a predicted entity that meets no gold entity, with
    its whole sentence read both ways."""

    category: str
    entity: Entity  # the gold entity (the predicted one for spurious)
    sentence: int  # index of the sentence in the data
    tokens: tuple[str, ...]
    gold: tuple[Entity, ...]  # every gold entity of the sentence
    predicted: tuple[Entity, ...]  # every predicted entity of the sentence

    def to_dict(self) -> dict:
        return {"sentence": self.sentence, **asdict(self.entity), "tokens": list(self.tokens),
                "gold": [asdict(entity) for entity in self.gold],
                "predicted": [asdict(entity) for entity in self.predicted]}


@dataclass
class ErrorReport:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # type -> category -> n
    errors: dict[str, list[EntityError]] = field(default_factory=lambda: {name: [] for name in ERROR_CATEGORIES})

    def totals(self) -> Counter:
        return sum(self.counts.values(), Counter())

    def to_dict(self) -> dict:
        return {"counts": {name: {category: counts[category] for category in CATEGORIES}
                           for name, counts in sorted(self.counts.items())},
                "totals": {category: self.totals()[category] for category in CATEGORIES},
                "entities": {category: [error.to_dict() for error in errors]
                             for category, errors in self.errors.items()}}


def analyse(sentences: Sequence[Sequence[str]], gold: Sequence[Sequence[str]],
            predicted: Sequence[Sequence[str]]) -> ErrorReport:
    """Compare predicted entities with gold ones, sentence by sentence.

    A gold entity is correct (a prediction of the same span and type), of the wrong type (same
    span), of the wrong boundary (an overlapping prediction of its type), both wrong (only
    overlapping predictions of other types) or missed (no overlapping prediction). A predicted
    entity that overlaps no gold entity is spurious.
    """
    report = ErrorReport()
    for index, (tokens, gold_tags, predicted_tags) in enumerate(zip(sentences, gold, predicted)):
        gold_entities, predicted_entities = tuple(entities(gold_tags)), tuple(entities(predicted_tags))
        met: set[Entity] = set()
        found: list[tuple[str, Entity]] = []
        for entity in gold_entities:
            overlapping = [other for other in predicted_entities
                           if other.start < entity.end and entity.start < other.end]
            met.update(overlapping)
            found.append((_category(entity, overlapping), entity))
        found += [("spurious", entity) for entity in predicted_entities if entity not in met]
        for category, entity in found:
            report.counts[entity.type][category] += 1
            if category != "correct":
                report.errors[category].append(EntityError(category, entity, index, tuple(tokens), gold_entities,
                                                           predicted_entities))
    return report


def _category(gold: Entity, overlapping: list[Entity]) -> str:
    if not overlapping:
        return "missed"
    same_span = [other for other in overlapping if (other.start, other.end) == (gold.start, gold.end)]
    if same_span:
        return "correct" if same_span[0].type == gold.type else "wrong_type"
    return "wrong_boundary" if any(other.type == gold.type for other in overlapping) else "both_wrong"
