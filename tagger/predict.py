"""Tagging tokenised sentences with a saved model, and reading entities off the tags."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from tagger.artifact import load_model
from tagger.decoding import Constraints, viterbi
from tagger.encoding import Encoder
from tagger.model import BiLSTMTagger
from tagger.text import Line

MAX_SENTENCE_TOKENS = 250  # longer sentences are tagged in pieces of this size
LINE_BATCH_TOKENS = 20_000  # input tagged at a time: output starts early, memory stays flat


@dataclass(frozen=True)
class Entity:
    """Tokens `start` to `end` (exclusive) of a sentence, of one type."""

    type: str
    start: int
    end: int


class Tagger:
    """A saved model ready to tag: tokens in, tags out."""

    def __init__(self, model_dir: Path, device: torch.device | str = "cpu"):
        saved = load_model(model_dir, device)
        self.model, self.encoder, self.info = saved.model, saved.encoder, saved.info
        self.device = torch.device(device)

    def tag(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        """One tag per token, for each sentence."""
        return tag_sentences(self.model, self.encoder, sentences, self.device)


def tag_lines(tagger: Tagger, lines: Iterable[Line]) -> Iterator[tuple[Line, list[list[str]]]]:
    """Each line with the tags of its sentences, tagging a bounded batch of lines at a time."""
    pending: list[Line] = []
    tokens = 0
    for line in lines:
        pending.append(line)
        tokens += sum(len(sentence.tokens) for sentence in line.sentences)
        if tokens >= LINE_BATCH_TOKENS:
            yield from _tag_pending(tagger, pending)
            pending, tokens = [], 0
    yield from _tag_pending(tagger, pending)


def _tag_pending(tagger: Tagger, lines: list[Line]) -> Iterator[tuple[Line, list[list[str]]]]:
    tags = iter(tagger.tag([sentence.tokens for line in lines for sentence in line.sentences]))
    for line in lines:
        yield line, [next(tags) for _ in line.sentences]


def tag_sentences(model: BiLSTMTagger, encoder: Encoder, sentences: Sequence[Sequence[str]],
                  device: torch.device, batch_size: int = 256) -> list[list[str]]:
    """One tag per token, for each sentence (an empty sentence gets no tags)."""
    pieces = [(index, list(sentence[start:start + MAX_SENTENCE_TOKENS]))
              for index, sentence in enumerate(sentences)
              for start in range(0, len(sentence), MAX_SENTENCE_TOKENS)]
    piece_tags: list[list[str]] = [[] for _ in pieces]
    constraints = Constraints.for_tags(encoder.tags.items).to(device)
    # Similar lengths share a batch, so little time goes on padding.
    order = sorted(range(len(pieces)), key=lambda number: len(pieces[number][1]))
    for first in range(0, len(order), batch_size):
        numbers = order[first:first + batch_size]
        batch = encoder.encode([pieces[number][1] for number in numbers]).to(device)
        with torch.inference_mode():
            log_probs = model(batch).log_softmax(dim=-1)
        for number, ids in zip(numbers, viterbi(log_probs, batch.lengths, constraints)):
            piece_tags[number] = encoder.decode(ids)
    tags: list[list[str]] = [[] for _ in sentences]
    for (index, _), piece in zip(pieces, piece_tags):
        tags[index].extend(piece)
    return tags


def entities(tags: Sequence[str]) -> list[Entity]:
    """Entities in IOB2, IOB1 or BIOES tags, read as conlleval does: an I- tag of another type
    than the one before starts a new entity."""
    found: list[Entity] = []
    current: tuple[str, int] | None = None
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        continues = current is not None and prefix in "IE" and kind == current[0]
        if current is not None and not continues:
            found.append(Entity(current[0], current[1], position))
            current = None
        if prefix in "BS" or (prefix in "IE" and current is None):
            current = (kind, position)
        if current is not None and prefix in "ES":
            found.append(Entity(current[0], current[1], position + 1))
            current = None
    return found
