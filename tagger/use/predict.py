"""Tagging with a model, with its confidence in each entity: the one path from tokens to tags, for
training's dev and test sets, `tagger eval`, `tagger predict` and the Python API (`tagger.load`)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Protocol, TypeVar

import numpy as np

from tagger.core.config import NETWORK_THREADS, PREDICT_BATCH_TOKENS
from tagger.core.entities import Entity, entities
from tagger.core.errors import TaggerError
from tagger.data.text import Sentence, joined_sentence, split_sentences
from tagger.model.decoding import Constraints, Transitions, decode
from tagger.model.encoding import Batch, Encoder
from tagger.model.exported import ExportedNetwork
from tagger.model.modeldir import load_model

BATCH_SENTENCES = 256  # sentences the model reads at once
BATCH_PADDED_TOKENS = 1 << 14  # and at most this many tokens, padding included: long sentences go fewer at a time

Item = TypeVar("Item")


@dataclass(frozen=True)
class Tagged:
    """A sentence's tags and the model's probability for each (None when not asked for)."""

    tags: list[str]
    probabilities: list[float] | None

    def entities(self) -> list[Entity]:
        return entities(self.tags)

    def score(self, entity: Entity) -> float:
        """The entity's score: the model's probability for it, the product of its tokens' tag
        probabilities (nan when they were not asked for)."""
        if self.probabilities is None:
            return math.nan
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


class Span(NamedTuple):
    """An entity found in a text: `text[start:end]` of the Doc, its type, the model's probability
    for it, and the index of its sentence."""

    text: str
    type: str
    start: int
    end: int
    score: float
    sentence: int


@dataclass(frozen=True)
class Doc:
    """A text as tagged: its sentences (tokens and their character offsets in `text`) and each
    sentence's tags."""

    text: str
    sentences: list[Sentence]
    tagged: list[Tagged]

    @property
    def tokens(self) -> list[str]:
        return [token for sentence in self.sentences for token in sentence.tokens]

    @property
    def tags(self) -> list[str]:
        return [tag for tagged in self.tagged for tag in tagged.tags]

    @property
    def entities(self) -> list[Span]:
        spans = []
        for index, (sentence, tagged) in enumerate(zip(self.sentences, self.tagged)):
            for entity in tagged.entities():
                start, end = sentence.starts[entity.start], sentence.ends[entity.end - 1]
                spans.append(Span(self.text[start:end], entity.type, start, end, tagged.score(entity), index))
        return spans


class Network(Protocol):
    """What scores a batch: a torch model (tagger.model.network) or one exported to ONNX (tagger.model.exported)."""

    def scores(self, batch: Batch) -> tuple[np.ndarray, Transitions | None]:
        """The logits (batch, seq, tags), and the CRF's transitions (None for softmax)."""


class Tagger:
    """A model ready to tag: `tagger(text)` and `tagger.pipe(texts)` for raw text,
    `tagger.tag_tokens(sentences)` for tokens."""

    def __init__(self, model: Network, encoder: Encoder, model_dir: Path | None = None, features=None):
        self.model, self.encoder, self.model_dir = model, encoder, model_dir
        self.features = features  # a TransformerFeatures, for a model that reads a transformer's
        self.constraints = Constraints.for_tags(encoder.tags.items)

    @classmethod
    def load(cls, model_dir: Path, device: str = "cpu", threads: int = NETWORK_THREADS) -> Tagger:
        """The model saved in `model_dir`, torch's or exported to ONNX, its network running on
        `threads` threads."""
        saved = load_model(model_dir, device, threads)
        return cls(saved.model, saved.encoder, Path(model_dir), saved.features)

    @property
    def entity_types(self) -> list[str]:
        """The entity types the model tags (PER, LOC, ...), in the order of its tags."""
        return list(dict.fromkeys(tag[2:] for tag in self.encoder.tags.items if tag != "O"))

    def __repr__(self) -> str:
        network = "ONNX Runtime" if isinstance(self.model, ExportedNetwork) else "torch"
        where = "" if self.model_dir is None else f" from {self.model_dir}"
        features = "" if self.features is None else ", with a transformer's features"
        return (f"<Tagger{where}: {self.model.config.decoder} decoder on {network}{features}, entity types "
                f"{', '.join(self.entity_types) or 'none'}>")

    def __call__(self, text: str) -> Doc:
        """`text` split into sentences and tokens, and tagged."""
        if not isinstance(text, str):
            raise TypeError(f"a tagger takes a string of text, not {type(text).__name__}; "
                            "for tokens, call tag_tokens([[token, ...], ...])")
        return next(self.pipe([text]))

    def pipe(self, texts: Iterable[str], batch_size: int = PREDICT_BATCH_TOKENS) -> Iterator[Doc]:
        """Each text as a Doc, in order, tagging about `batch_size` tokens at a time: `texts` may be
        a stream of any length."""
        if isinstance(texts, str):
            raise TypeError("pipe takes an iterable of texts, e.g. a list of strings; for one text, call the "
                            "tagger on it: tagger(text)")
        _check_batch_size(batch_size)
        return self._docs(texts, batch_size)

    def _docs(self, texts: Iterable[str], batch_size: int) -> Iterator[Doc]:
        def split(text: str) -> list[Sentence]:
            if not isinstance(text, str):
                raise TypeError(f"pipe takes strings of text, not {type(text).__name__}; "
                                "for tokens, call tag_tokens([[token, ...], ...])")
            return split_sentences(text)

        documents = ((text, split(text)) for text in texts)
        for (text, sentences), tagged in tag_in_batches(self, documents, _tokens_of_document, batch_size):
            yield Doc(text, sentences, tagged)

    def tag_tokens(self, sentences: Iterable[Sequence[str]], batch_size: int = PREDICT_BATCH_TOKENS) -> list[Doc]:
        """A Doc per sentence of tokens, its text the tokens joined by spaces."""
        _refuse_strings(sentences)
        _check_batch_size(batch_size)
        documents = ((" ".join(sentence.tokens), [sentence]) for sentence in map(_joined, sentences))
        return [Doc(text, split, tagged) for (text, split), tagged
                in tag_in_batches(self, documents, _tokens_of_document, batch_size)]

    def tag(self, sentences: Sequence[Sequence[str]], with_probabilities: bool = True) -> list[Tagged]:
        """Each sentence's tags and, if asked, their probabilities (an empty sentence gets no
        tags). A sentence of any length is read whole."""
        _refuse_strings(sentences)
        results = [Tagged([], [] if with_probabilities else None) for _ in sentences]
        for numbers in _batches(sentences):
            chosen = [sentences[number] for number in numbers]
            batch = self.encoder.encode(chosen)
            if self.features is not None:
                batch = self.features.add_to(batch, chosen)
            logits, transitions = self.model.scores(batch)
            tag_ids, probabilities = decode(logits, batch.lengths, self.constraints, transitions, with_probabilities)
            for row, (number, length) in enumerate(zip(numbers, batch.lengths.tolist())):
                chosen = None if probabilities is None else probabilities[row, :length].tolist()
                results[number] = Tagged(self.encoder.decode(tag_ids[row, :length].tolist()), chosen)
        return results


def _tokens_of_document(document: tuple[str, list[Sentence]]) -> list[list[str]]:
    return [sentence.tokens for sentence in document[1]]


def _joined(tokens: Iterable[str]) -> Sentence:
    """A user's tokens, checked, as a sentence of the text they make joined by single spaces."""
    _refuse_strings([tokens])
    tokens = list(tokens)
    odd = next((token for token in tokens if not isinstance(token, str)), "")
    if odd != "":
        raise TypeError(f"a token of type {type(odd).__name__} in {tokens!r}; tokens are strings")
    if not all(tokens):
        raise ValueError(f"an empty token in {tokens!r}; tokens are words, punctuation and the like, "
                         "never empty strings")
    return joined_sentence(tokens)


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size {batch_size!r}: give a whole number of tokens, 1 or more")


def _refuse_strings(sentences: Iterable[Sequence[str]]) -> None:
    """A string where tokens belong would be tagged a character at a time, each as a token."""
    if isinstance(sentences, str) or (isinstance(sentences, Sequence)
                                      and any(isinstance(sentence, str) for sentence in sentences)):
        raise TypeError("tag_tokens takes a list of sentences, each a list of tokens, e.g. "
                        "[['Angela', 'Merkel', 'visited', 'Paris', '.']]; for raw text, call the tagger on "
                        "the string: tagger(text)")


def _batches(sentences: Sequence[Sequence[str]]) -> Iterator[list[int]]:
    """Indices of `sentences` in batches for the model: similar lengths together, so little time
    goes on padding, and a bounded number of tokens in each."""
    order = sorted(range(len(sentences)), key=lambda number: len(sentences[number]))
    batch: list[int] = []
    for number in order:
        if not sentences[number]:
            continue  # no tokens, no tags: the model is not asked
        # Sorted by length: this sentence is the longest so far and sets the padded size.
        if batch and (len(batch) == BATCH_SENTENCES or (len(batch) + 1) * len(sentences[number]) > BATCH_PADDED_TOKENS):
            yield batch
            batch = []
        batch.append(number)
    if batch:
        yield batch


def tag_in_batches(tagger: Tagger, items: Iterable[Item], tokens_of: Callable[[Item], Sequence[Sequence[str]]],
                   batch_size: int = PREDICT_BATCH_TOKENS, waiting: Callable[[], bool] | None = None,
                   processes: int = 1, with_probabilities: bool = True) -> Iterator[tuple[Item, list[Tagged]]]:
    """Each item with the tags of its sentences (`tokens_of` the item), in order, tagging items
    about `batch_size` tokens at a time; with `waiting`, also as soon as no more input is waiting, so that a live stream is
    answered line by line while a large input still goes in large batches.

    With `processes` above 1, an input that fills a batch is tagged on that many worker
    processes (tagger.use.workers), a batch each at a time, while this one reads on. Input that
    turns out bad part-way (a TaggerError from `items`) raises once all before it is given.
    """
    from collections import deque

    if processes > 1:
        from tagger.use import workers as worker_processes

        processes = processes if worker_processes.available() else 1
    pending: list[Item] = []
    tokens = 0
    workers = None
    in_flight: deque = deque()  # (items, their result), oldest first

    def submit() -> None:
        sentences = [tokens for item in pending for tokens in tokens_of(item)]
        result = workers.tag(sentences, with_probabilities) if workers else \
            _Done(tagger.tag(sentences, with_probabilities))
        in_flight.append((pending, result))

    failure: TaggerError | None = None

    def read() -> Iterator[Item]:
        nonlocal failure
        try:
            yield from items
        except TaggerError as error:  # bad input part-way: what came before it is still tagged and given
            failure = error

    try:
        for item in read():
            pending.append(item)
            tokens += sum(map(len, tokens_of(item)))
            live = waiting is not None and not waiting()
            if tokens >= batch_size or live:
                if workers is None and processes > 1 and not live:
                    workers = worker_processes.Workers(tagger, processes)
                submit()
                pending, tokens = [], 0
                # Answer a live stream now; otherwise keep every worker busy, and memory bounded.
                while in_flight and (live or len(in_flight) > 2 * processes or in_flight[0][1].ready()):
                    yield from _with_tags(*in_flight.popleft(), tokens_of)
        if pending:
            submit()
        while in_flight:
            yield from _with_tags(*in_flight.popleft(), tokens_of)
        if failure is not None:
            raise failure
    finally:
        if workers:
            workers.close()


class _Done:
    """A result tagged in this process, answering as a worker's does."""

    def __init__(self, value: list[Tagged]):
        self.value = value

    def ready(self) -> bool:
        return True

    def get(self) -> list[Tagged]:
        return self.value


def _with_tags(items: list[Item], result, tokens_of: Callable[[Item], Sequence[Sequence[str]]]
               ) -> Iterator[tuple[Item, list[Tagged]]]:
    tagged = iter(result.get())
    for item in items:
        yield item, [next(tagged) for _ in tokens_of(item)]
