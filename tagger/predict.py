"""Tagging tokenised sentences with a model, with the model's confidence in each entity: the one
path from tokens to tags, for training's dev and test sets, `tagger eval` and `tagger predict`."""

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

MAX_SENTENCE_TOKENS = 250  # longer sentences are tagged in chunks of this size
LINE_BATCH_TOKENS = 20_000  # input tagged at a time: output starts early, memory stays flat
BATCH_SENTENCES = 256


@dataclass(frozen=True)
class Tagged:
    """A sentence's tags and the model's probability for each (none when not asked for)."""

    tags: list[str]
    probabilities: list[float]

    def entities(self) -> list[Entity]:
        return entities(self.tags)

    def score(self, entity: Entity) -> float:
        """The entity's score: the model's probability for it, the product of its tokens' tag probabilities."""
        return math.prod(self.probabilities[entity.start:entity.end])

    def without_entities_below(self, min_score: float) -> Tagged:
        """These tags with every entity scored below `min_score` turned into O."""
        if min_score <= 0.0:
            return self
        tags = list(self.tags)
        for entity in self.entities():
            if self.score(entity) < min_score:
                tags[entity.start:entity.end] = ["O"] * (entity.end - entity.start)
        return Tagged(tags, self.probabilities)


class Tagger:
    """A model ready to tag: tokens in, tags out."""

    def __init__(self, model: BiLSTMTagger, encoder: Encoder, device: torch.device | str = "cpu"):
        self.model, self.encoder, self.device = model, encoder, torch.device(device)
        self.constraints = Constraints.for_tags(encoder.tags.items).to(self.device)

    @classmethod
    def load(cls, model_dir: Path, device: torch.device | str = "cpu") -> Tagger:
        """The model saved in `model_dir`."""
        saved = load_model(model_dir, device)
        return cls(saved.model, saved.encoder, device)

    def tag(self, sentences: Sequence[Sequence[str]], with_probabilities: bool = True) -> list[Tagged]:
        """Each sentence's tags and, if asked, their probabilities (an empty sentence gets no tags)."""
        chunks = [(index, sentence if len(sentence) <= MAX_SENTENCE_TOKENS
                   else sentence[start:start + MAX_SENTENCE_TOKENS])  # most sentences go uncopied
                  for index, sentence in enumerate(sentences)
                  for start in range(0, len(sentence), MAX_SENTENCE_TOKENS)]
        chunk_results: list[tuple[list[int], list[float]]] = [([], []) for _ in chunks]
        was_training = self.model.training  # training evaluates on dev between epochs
        self.model.eval()
        try:
            # Similar lengths share a batch, so little time goes on padding.
            order = sorted(range(len(chunks)), key=lambda number: len(chunks[number][1]))
            for first in range(0, len(order), BATCH_SENTENCES):
                numbers = order[first:first + BATCH_SENTENCES]
                batch = self.encoder.encode([chunks[number][1] for number in numbers]).to(self.device)
                with torch.inference_mode():
                    paths, probabilities = self.model.decode(batch, self.constraints, with_probabilities)
                for number, path, path_probabilities in zip(numbers, paths, probabilities or [[]] * len(paths)):
                    chunk_results[number] = (path, path_probabilities)
        finally:
            self.model.train(was_training)
        tags: list[list[str]] = [[] for _ in sentences]
        probabilities: list[list[float]] = [[] for _ in sentences]
        for (index, _), (path, path_probabilities) in zip(chunks, chunk_results):
            tags[index].extend(self.encoder.decode(path))
            probabilities[index].extend(path_probabilities)
        return [Tagged(*pair) for pair in zip(tags, probabilities)]


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
        yield line, [next(tagged).without_entities_below(min_score) for _ in line.sentences]
