"""Tagging tokenised sentences with a saved model, with the model's confidence in each entity."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tagger.artifact import load_model
from tagger.decoding import Constraints
from tagger.encoding import Encoder
from tagger.entities import Entity, entities
from tagger.model import BiLSTMTagger
from tagger.text import Line

MAX_SENTENCE_TOKENS = 250  # longer sentences are tagged in pieces of this size
LINE_BATCH_TOKENS = 20_000  # input tagged at a time: output starts early, memory stays flat


@dataclass(frozen=True)
class Tagged:
    """A sentence's tags and the model's probability for each."""

    tags: list[str]
    probabilities: list[float]

    def entities(self) -> list[Entity]:
        return entities(self.tags)

    def score(self, entity: Entity) -> float:
        """The model's probability for the entity: the product of its tokens' tag probabilities."""
        return math.prod(self.probabilities[entity.start:entity.end])

    def keeping(self, min_score: float) -> Tagged:
        """These tags with every entity scored below `min_score` turned into O."""
        if min_score <= 0.0:
            return self
        tags = list(self.tags)
        for entity in self.entities():
            if self.score(entity) < min_score:
                tags[entity.start:entity.end] = ["O"] * (entity.end - entity.start)
        return Tagged(tags, self.probabilities)


class Tagger:
    """A saved model ready to tag: tokens in, tags out."""

    def __init__(self, model_dir: Path, device: torch.device | str = "cpu"):
        saved = load_model(model_dir, device)
        self.model, self.encoder, self.info = saved.model, saved.encoder, saved.info
        self.device = torch.device(device)

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[Tagged]:
        """Tags and their probabilities, for each sentence."""
        return [Tagged(tags, probabilities) for tags, probabilities
                in score_sentences(self.model, self.encoder, sentences, self.device)]


def tag_lines(tagger: Tagger, lines: Iterable[Line], min_score: float = 0.0) -> Iterator[tuple[Line, list[Tagged]]]:
    """Each line with its tagged sentences, tagging a bounded batch of lines at a time;
    entities the model gives less than `min_score` are left out (tagged O)."""
    pending: list[Line] = []
    tokens = 0
    for line in lines:
        pending.append(line)
        tokens += sum(len(sentence.tokens) for sentence in line.sentences)
        if tokens >= LINE_BATCH_TOKENS:
            yield from _tag_pending(tagger, pending, min_score)
            pending, tokens = [], 0
    yield from _tag_pending(tagger, pending, min_score)


def _tag_pending(tagger: Tagger, lines: list[Line], min_score: float) -> Iterator[tuple[Line, list[Tagged]]]:
    tagged = iter(tagger.tag([sentence.tokens for line in lines for sentence in line.sentences]))
    for line in lines:
        yield line, [next(tagged).keeping(min_score) for _ in line.sentences]


def tag_sentences(model: BiLSTMTagger, encoder: Encoder, sentences: Sequence[Sequence[str]],
                  device: torch.device) -> list[list[str]]:
    """One tag per token, for each sentence (an empty sentence gets no tags)."""
    return [tags for tags, _ in score_sentences(model, encoder, sentences, device, with_probabilities=False)]


def score_sentences(model: BiLSTMTagger, encoder: Encoder, sentences: Sequence[Sequence[str]],
                    device: torch.device, batch_size: int = 256,
                    with_probabilities: bool = True) -> list[tuple[list[str], list[float]]]:
    """For each sentence, one tag per token and the model's probability for that tag (an
    empty list without `with_probabilities`)."""
    pieces = [(index, sentence if len(sentence) <= MAX_SENTENCE_TOKENS
               else sentence[start:start + MAX_SENTENCE_TOKENS])  # most sentences go uncopied
              for index, sentence in enumerate(sentences)
              for start in range(0, len(sentence), MAX_SENTENCE_TOKENS)]
    piece_results: list[tuple[list[int], list[float]]] = [([], []) for _ in pieces]
    constraints = Constraints.for_tags(encoder.tags.items).to(device)
    # Similar lengths share a batch, so little time goes on padding.
    order = sorted(range(len(pieces)), key=lambda number: len(pieces[number][1]))
    for first in range(0, len(order), batch_size):
        numbers = order[first:first + batch_size]
        batch = encoder.encode([pieces[number][1] for number in numbers]).to(device)
        with torch.inference_mode():
            paths, probabilities = model.decode(batch, constraints, with_probabilities)
        for number, path, path_probabilities in zip(numbers, paths, probabilities or [[]] * len(paths)):
            piece_results[number] = (path, path_probabilities)
    results: list[tuple[list[str], list[float]]] = [([], []) for _ in sentences]
    for (index, _), (path, path_probabilities) in zip(pieces, piece_results):
        results[index][0].extend(encoder.decode(path))
        results[index][1].extend(path_probabilities)
    return results
