"""Training: data in, the best model on the dev set out, with one record per step and epoch."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from tagger import data
from tagger.device import resolve_device
from tagger.artifact import load_model, save_model, update_info
from tagger.embeddings import embedding_matrix, load_vectors
from tagger.encoding import Encoder, Vocabulary, normalise_word
from tagger.error_analysis import ErrorReport, analyse
from tagger.errors import DataError
from tagger.metrics import Scores, score
from tagger.model import BiLSTMTagger, ModelConfig
from tagger.predict import tag_sentences

BUCKET_BATCHES = 50  # batches drawn together and sorted by length: little padding, still random


@dataclass(frozen=True)
class TrainConfig:
    """Training options; the defaults are the ones `tagger train` uses."""

    epochs: int = 30
    patience: int = 5
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 1
    embeddings: str = "glove"
    decoder: str = "softmax"
    hidden_size: int = 200
    lstm_layers: int = 1
    dropout: float = 0.33
    word_dropout: float = 0.05
    clip: float = 5.0
    lr_decay: float = 0.95  # the learning rate is multiplied by this after every epoch
    pretrained_words: int = 400_000  # most frequent pretrained words kept for text unseen in training
    dev_fraction: float = 0.1  # of train held out when the data has no dev split
    device: str = "auto"


@dataclass(frozen=True)
class Prepared:
    """The data and model are ready; training starts."""

    train_sentences: int
    train_tokens: int
    dev_sentences: int
    dev_held_out: bool  # True when dev was carved out of train
    test_sentences: int
    tags: list[str]
    words: int
    pretrained_coverage: float | None  # share of training tokens with a pretrained vector
    parameters: int
    device: str


@dataclass(frozen=True)
class Step:
    epoch: int
    step: int
    steps: int
    loss: float
    tokens: int


@dataclass(frozen=True)
class Epoch:
    epoch: int
    loss: float
    dev: Scores
    is_best: bool
    seconds: float
    tokens_per_second: float


@dataclass(frozen=True)
class Finished:
    best_epoch: int
    dev: Scores
    test: Scores | None
    stopped_early: bool
    seconds: float


def train(config: TrainConfig, source: str, model_dir: Path) -> Iterator[Prepared | Step | Epoch | Finished]:
    """Train on `source`, save the best model by dev F1 to `model_dir`, score it on test."""
    started = time.perf_counter()
    device = resolve_device(config.device)
    corpus = data.load_corpus(source)
    if "train" not in corpus:
        raise DataError(f"{source}: no train split (it has: {', '.join(corpus)}); "
                        "a CoNLL directory needs train.txt or eng.train")
    train_split, held_out = corpus["train"], "validation" not in corpus
    dev_split = corpus.get("validation")
    if held_out:
        parts = train_split.train_test_split(test_size=config.dev_fraction, seed=config.seed)
        train_split, dev_split = parts["train"], parts["test"]
    train_sentences, train_tags = train_split["tokens"], data.tag_sequences(train_split)
    dev_sentences, dev_tags = dev_split["tokens"], data.tag_sequences(dev_split)

    torch.manual_seed(config.seed)
    model, encoder, coverage = build_model(config, train_sentences, data.tag_names(train_split))
    model.to(device)
    yield Prepared(len(train_sentences), sum(map(len, train_sentences)), len(dev_sentences), held_out,
                   len(corpus["test"]) if "test" in corpus else 0, encoder.tags.items, len(encoder.words),
                   coverage, sum(p.numel() for p in model.parameters()), str(device))

    info = {"training": {**asdict(config), "device": str(device)}, "data": source}
    best = last = None
    for record in fit(model, encoder, (train_sentences, train_tags), (dev_sentences, dev_tags), config, device):
        if isinstance(record, Epoch):
            last = record
            best = record if record.is_best else best
        if record is best:
            save_model(model_dir, model, encoder, {**info, "best_epoch": record.epoch,
                                                   "dev": record.dev.to_dict()})
        yield record

    test_scores = None
    if "test" in corpus:
        saved = load_model(model_dir, device)
        test_scores = evaluate(saved.model, saved.encoder, corpus["test"]["tokens"],
                               data.tag_sequences(corpus["test"]), device)
        update_info(model_dir, test=test_scores.to_dict())
    yield Finished(best.epoch, best.dev, test_scores, stopped_early=last.epoch < config.epochs,
                   seconds=time.perf_counter() - started)


def build_model(config: TrainConfig, sentences: Sequence[Sequence[str]],
                tag_names: Sequence[str]) -> tuple[BiLSTMTagger, Encoder, float | None]:
    """A fresh model and its encoder, with pretrained vectors where `config.embeddings` has them.

    Also returns the share of training tokens the pretrained vectors cover (None without them).
    """
    pretrained = load_vectors(config.embeddings)
    kept = pretrained.words[:config.pretrained_words] if pretrained else []
    encoder = Encoder.build(sentences, tag_names, kept)
    tokens = [normalise_word(token) for sentence in sentences for token in sentence]
    trained_words = len(Vocabulary(tokens))  # the encoder lists training words first
    model = BiLSTMTagger(ModelConfig(len(encoder.words), len(encoder.chars), len(encoder.tags),
                                     word_dim=pretrained.dim if pretrained else 100,
                                     frozen_words=len(encoder.words) - trained_words,
                                     hidden_size=config.hidden_size, lstm_layers=config.lstm_layers,
                                     dropout=config.dropout, word_dropout=config.word_dropout,
                                     decoder=config.decoder))
    if pretrained is None:
        return model, encoder, None
    matrix = torch.from_numpy(embedding_matrix(encoder.words, pretrained, config.seed))
    model.word_embedding.weight.data.copy_(matrix[:trained_words])
    model.frozen_vectors.copy_(matrix[trained_words:])
    known = set(pretrained.words)
    return model, encoder, sum(token in known for token in tokens) / max(1, len(tokens))


def fit(model: BiLSTMTagger, encoder: Encoder, train_data: tuple[Sequence, Sequence],
        dev_data: tuple[Sequence, Sequence], config: TrainConfig,
        device: torch.device) -> Iterator[Step | Epoch]:
    """Train until `config.epochs` or `config.patience` epochs without a better dev F1.

    The model holds the epoch's weights while its Epoch record is consumed: save it then.
    """
    sentences, tags = train_data
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
    shuffler = random.Random(config.seed)
    best_f1, since_best = -1.0, 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        started, total_loss, total_tokens = time.perf_counter(), 0.0, 0
        batches = length_bucketed_batches([len(s) for s in sentences], config.batch_size, shuffler)
        for step, indices in enumerate(batches, 1):
            batch = encoder.encode([sentences[i] for i in indices], [tags[i] for i in indices]).to(device)
            optimizer.zero_grad()
            loss = model.loss(batch)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            optimizer.step()
            tokens = int(batch.lengths.sum())
            total_loss += loss.item() * tokens
            total_tokens += tokens
            yield Step(epoch, step, len(batches), loss.item(), tokens)
        schedule.step()
        seconds = time.perf_counter() - started
        dev_scores = evaluate(model, encoder, *dev_data, device)
        is_best = dev_scores.f1 > best_f1
        best_f1, since_best = (dev_scores.f1, 0) if is_best else (best_f1, since_best + 1)
        yield Epoch(epoch, total_loss / max(1, total_tokens), dev_scores, is_best, seconds,
                    total_tokens / seconds)
        if since_best >= config.patience:
            return


def evaluate(model: BiLSTMTagger, encoder: Encoder, sentences: Sequence[Sequence[str]],
             gold: Sequence[Sequence[str]], device: torch.device) -> Scores:
    """Tag `sentences` and score the tags against `gold`."""
    was_training = model.training
    model.eval()
    predicted = tag_sentences(model, encoder, sentences, device)
    model.train(was_training)
    return score(gold, predicted)


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffler: random.Random) -> list[list[int]]:
    """Batches of sentence indices of similar length, in random order."""
    order = list(range(len(lengths)))
    shuffler.shuffle(order)
    batches = []
    span = batch_size * BUCKET_BATCHES
    for first in range(0, len(order), span):
        bucket = sorted(order[first:first + span], key=lambda i: lengths[i])
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
    shuffler.shuffle(batches)
    return batches


@dataclass(frozen=True)
class Evaluation:
    scores: Scores
    sentences: int
    tokens: int
    seconds: float
    errors: ErrorReport | None = None

    def to_dict(self) -> dict:
        errors = {} if self.errors is None else {"errors": self.errors.to_dict()}
        return {**self.scores.to_dict(), "sentences": self.sentences, "tokens": self.tokens,
                "seconds": self.seconds, **errors}


def evaluate_saved(model_dir: Path, source: str, split: str, device_name: str = "auto",
                   with_errors: bool = False) -> Evaluation:
    """Score the model saved in `model_dir` on one split of `source` (or on a CoNLL file),
    with the breakdown of its errors if asked."""
    device = resolve_device(device_name)
    saved = load_model(model_dir, device)
    dataset = data.load_split(source, split)
    sentences, gold = dataset["tokens"], data.tag_sequences(dataset)
    started = time.perf_counter()
    predicted = tag_sentences(saved.model, saved.encoder, sentences, device)
    seconds = time.perf_counter() - started
    errors = analyse(sentences, gold, predicted) if with_errors else None
    return Evaluation(score(gold, predicted), len(sentences), sum(map(len, sentences)), seconds, errors)
