"""Where the entity errors are: every gold entity, and every predicted one that meets no gold
entity, put in exactly one category, with examples in context."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from tagger.entities import Entity, entities

CATEGORIES = ("correct", "wrong type", "wrong boundary", "both wrong", "missed", "spurious")
EXAMPLES_PER_CATEGORY = 3
CONTEXT_TOKENS = 5  # tokens shown on each side of an example


@dataclass(frozen=True)
class Example:
    sentence: int  # index of the sentence in the data
    type: str  # the gold entity's type (the predicted one's for spurious)
    gold: str  # the context with gold entities marked [text](TYPE)
    predicted: str  # the same context with predicted entities marked


@dataclass
class ErrorReport:
    counts: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # type -> category -> n
    examples: dict[str, list[Example]] = field(default_factory=lambda: {name: [] for name in CATEGORIES})

    def totals(self) -> Counter:
        return sum(self.counts.values(), Counter())

    def to_dict(self) -> dict:
        return {"counts": {name: {category: counts[category] for category in CATEGORIES}
                           for name, counts in sorted(self.counts.items())},
                "totals": {category: self.totals()[category] for category in CATEGORIES},
                "examples": {category: [asdict(example) for example in examples]
                             for category, examples in self.examples.items()}}


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
        gold_entities, predicted_entities = entities(gold_tags), entities(predicted_tags)
        met: set[Entity] = set()
        for entity in gold_entities:
            overlapping = [other for other in predicted_entities
                           if other.start < entity.end and entity.start < other.end]
            met.update(overlapping)
            category = _category(entity, overlapping)
            _count(report, category, entity, overlapping, index, tokens, gold_entities, predicted_entities)
        for entity in predicted_entities:
            if entity not in met:
                _count(report, "spurious", entity, [entity], index, tokens, gold_entities, predicted_entities)
    return report


def _category(gold: Entity, overlapping: list[Entity]) -> str:
    if not overlapping:
        return "missed"
    same_span = [other for other in overlapping if (other.start, other.end) == (gold.start, gold.end)]
    if same_span:
        return "correct" if same_span[0].type == gold.type else "wrong type"
    return "wrong boundary" if any(other.type == gold.type for other in overlapping) else "both wrong"


def _count(report: ErrorReport, category: str, entity: Entity, related: list[Entity], index: int,
           tokens: Sequence[str], gold: list[Entity], predicted: list[Entity]) -> None:
    report.counts[entity.type][category] += 1
    examples = report.examples[category]
    if len(examples) < EXAMPLES_PER_CATEGORY:
        first = max(0, min(other.start for other in [entity, *related]) - CONTEXT_TOKENS)
        last = min(len(tokens), max(other.end for other in [entity, *related]) + CONTEXT_TOKENS)
        examples.append(Example(index, entity.type, _marked(tokens, first, last, gold),
                                _marked(tokens, first, last, predicted)))


def _marked(tokens: Sequence[str], first: int, last: int, spans: list[Entity]) -> str:
    """Tokens `first` to `last` with the entities among them written as [text](TYPE)."""
    words = list(tokens[first:last])
    for entity in reversed(spans):
        start, end = max(entity.start, first) - first, min(entity.end, last) - first
        if start < end:
            words[start:end] = [f"[{' '.join(words[start:end])}]({entity.type})"]
    return ("… " if first > 0 else "") + " ".join(words) + (" …" if last < len(tokens) else "")
