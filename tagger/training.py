"""Training: data in, the best model on the dev set out, with one record per step and epoch."""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import datasets
import torch

from tagger import data, distributed
from tagger.device import resolve_device
from tagger.artifact import (load_checkpoint, load_model, prepare_model_dir, recover_interrupted_save,
                             remove_checkpoint, save_checkpoint, save_model, update_info)
from tagger.embeddings import embedding_matrix, load_vectors
from tagger.encoding import Encoder, TrainingText, Vocabulary
from tagger.error_analysis import ErrorReport, analyse
from tagger.errors import ArtifactError, DataError, TaggerError
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
    precision: str = "fp32"  # on CUDA also bf16 or fp16: mixed precision (autocast)
    timeout: float = 600.0  # seconds a process waits for the others before giving up on them

    def __post_init__(self):
        if self.precision not in PRECISIONS:
            raise TaggerError(f"--precision {self.precision}: use one of {', '.join(PRECISIONS)}")


PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
# How to run, not what to train: on --resume these come from the command, the rest from the checkpoint.
RUNTIME_OPTIONS = ("device", "precision", "timeout")


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
    processes: int
    resumed_at: tuple[int, int] | None = None  # (epoch, steps of it done) when resuming


@dataclass(frozen=True)
class Step:
    epoch: int
    step: int
    steps: int
    loss: float
    tokens: int  # in the whole batch, across processes


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


def train(config: TrainConfig, source: str, model_dir: Path, resume: bool = False,
          overwrite: bool = False) -> Iterator[Prepared | Step | Epoch | Finished]:
    """Train on `source`, save the best model by dev F1 to `model_dir`, score it on test.

    A checkpoint in `model_dir` after every epoch, and when the caller closes this generator
    (say on Ctrl-C), lets `resume=True` continue exactly where the run stopped, with the
    options and data it started with.

    Started by torchrun as several processes, each trains its share of every batch
    (DistributedDataParallel); the main process alone reads and writes `model_dir`.
    """
    group = distributed.Group.from_environment()
    device = group.device(config.device)
    if device.type == "cpu" and config.precision != "fp32":
        raise TaggerError(f"--precision {config.precision}: mixed precision is for CUDA GPUs; "
                          "train on the CPU with --precision fp32")
    with distributed.joined(group, device, config.timeout):
        yield from _train(config, source, Path(model_dir), resume, overwrite, group, device)


def _train(config: TrainConfig, source: str, model_dir: Path, resume: bool, overwrite: bool,
           group: distributed.Group, device: torch.device) -> Iterator[Prepared | Step | Epoch | Finished]:
    started = time.perf_counter()
    checkpoint, failure = None, None
    if group.is_main:
        try:
            recover_interrupted_save(model_dir)  # a crash mid-save may have left the run's directory aside
            checkpoint = _checkpoint_to_resume(model_dir) if resume else None
            if checkpoint is None:
                prepare_model_dir(model_dir, overwrite)
        except TaggerError as error:
            failure = error
    distributed.raise_first_failure(group, failure)
    checkpoint = distributed.share(group, checkpoint)  # every process resumes from the main one's
    if checkpoint is not None:
        runtime = {name: getattr(config, name) for name in RUNTIME_OPTIONS}
        config, source = replace(TrainConfig(**checkpoint["config"]), **runtime), checkpoint["data"]

    failure = None
    try:
        corpus, train_sentences, dev_split, held_out = _load_data(config, source, group)
        torch.manual_seed(config.seed)
        model, encoder, coverage = build_model(config, train_sentences.tokens(), train_sentences.tag_names)
    except TaggerError as error:
        failure = error
    distributed.raise_first_failure(group, failure)
    model.to(device)
    state = TrainingState.start(model, config, group)
    if checkpoint is not None:
        state.restore(checkpoint, device)
    resumed_at = (state.position.epoch, state.position.step) if checkpoint is not None else None
    yield Prepared(len(train_sentences), sum(train_sentences.lengths), len(dev_split), held_out,
                   len(corpus["test"]) if "test" in corpus else 0, encoder.tags.items, len(encoder.words),
                   coverage, sum(p.numel() for p in model.parameters()), str(device), group.size, resumed_at)

    info = {"training": {**asdict(config), "device": str(device), "processes": group.size}, "data": source}
    # Only the main process evaluates: the others need no dev sentences in memory.
    dev_data = (dev_split["tokens"], data.tag_sequences(dev_split)) if group.is_main else ([], [])
    records = fit(state, encoder, train_sentences, dev_data, config, device)
    try:
        for record in records:
            if isinstance(record, Epoch) and group.is_main:
                if record.is_best:
                    save_model(model_dir, model, encoder, {**info, "best_epoch": record.epoch,
                                                           "dev": record.dev.to_dict()})
                save_checkpoint(model_dir, state.checkpoint(config, source))
            yield record
    except GeneratorExit:  # the caller stops the run between two steps: keep its place
        if group.is_main:
            save_checkpoint(model_dir, state.checkpoint(config, source))
        raise
    except RuntimeError as error:
        if not distributed.lost_peers(group, error):
            raise
        # A collective fails before the optimiser's step: the state is still the last step's, whole.
        if group.is_main:
            save_checkpoint(model_dir, state.checkpoint(config, source))
            kept = f"the run is saved at epoch {state.position.epoch}, step {state.position.step}"
        else:
            kept = f"process 0 keeps the run's checkpoint in {model_dir}"
        raise distributed.PeerError(f"process {group.rank}: lost the other training processes "
                                    f"({distributed.first_line(error)}); {kept}; start all the processes "
                                    "again with --resume to continue") from None

    position = state.position
    test_scores = None
    if group.is_main:
        if "test" in corpus:
            saved = load_model(model_dir, device)
            test_scores = evaluate(saved.model, saved.encoder, corpus["test"]["tokens"],
                                   data.tag_sequences(corpus["test"]), device)
            update_info(model_dir, test=test_scores.to_dict())
        remove_checkpoint(model_dir)
    yield Finished(position.best_epoch, Scores.from_dict(position.best_dev), test_scores,
                   stopped_early=position.since_best >= config.patience,
                   seconds=time.perf_counter() - started)


def _load_data(config: TrainConfig, source: str,
               group: distributed.Group) -> tuple[datasets.DatasetDict, data.TrainingSentences, datasets.Dataset, bool]:
    """The corpus, the sentences to train on and the split to choose the best epoch on, and
    whether that was held out of train."""
    corpus = data.load_corpus(source)
    if "train" not in corpus:
        raise DataError(f"{source}: no train split (it has: {', '.join(corpus)}); "
                        "a CoNLL directory needs train.txt or eng.train")
    train_split, held_out = corpus["train"], "validation" not in corpus
    dev_split = corpus.get("validation")
    if held_out:
        parts = train_split.train_test_split(test_size=config.dev_fraction, seed=config.seed)
        train_split, dev_split = parts["train"], parts["test"]
    if len(train_split) < group.size:
        raise DataError(f"{source}: {len(train_split)} training sentences for {group.size} processes; "
                        "start fewer processes")
    return corpus, data.TrainingSentences(train_split), dev_split, held_out


def _checkpoint_to_resume(model_dir: Path) -> dict:
    checkpoint = load_checkpoint(model_dir)
    if checkpoint is None:
        finished = " holds a finished model" if (Path(model_dir) / "config.json").is_file() else " has no run"
        raise ArtifactError(f"{model_dir}:{finished} to resume; train without --resume to start a new run")
    return checkpoint


def build_model(config: TrainConfig, sentences: Iterable[Sequence[str]],
                tag_names: Sequence[str]) -> tuple[BiLSTMTagger, Encoder, float | None]:
    """A fresh model and its encoder, with pretrained vectors where `config.embeddings` has them.

    Also returns the share of training tokens the pretrained vectors cover (None without them).
    """
    pretrained = load_vectors(config.embeddings)
    kept = pretrained.words[:config.pretrained_words] if pretrained else []
    text = TrainingText.count(sentences)
    encoder = Encoder.from_counts(text, tag_names, kept)
    trained_words = len(Vocabulary(text.word_counts))  # the encoder lists training words first
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
    covered = sum(count for word, count in text.word_counts.items() if word in known)
    return model, encoder, covered / max(1, text.word_counts.total())


@dataclass
class Position:
    """Where a run stands: what a checkpoint holds beside the weights and optimiser."""

    epoch: int = 1  # the epoch under way
    step: int = 0  # its steps done
    epoch_order: tuple | None = None  # the shuffler's state as the epoch began: replays its batches
    loss_sum: float = 0.0  # over the epoch's steps done
    tokens: int = 0
    best_f1: float = -1.0
    best_epoch: int = 0
    best_dev: dict | None = None
    since_best: int = 0


@dataclass
class TrainingState:
    """Everything that changes as a run trains, so that a checkpoint can capture all of it."""

    model: BiLSTMTagger
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler  # fp16 only: scales the loss so small gradients do not underflow
    shuffler: random.Random
    position: Position
    group: distributed.Group

    @classmethod
    def start(cls, model: BiLSTMTagger, config: TrainConfig, group: distributed.Group) -> TrainingState:
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # one kernel per step: ~10% faster
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=config.precision == "fp16")
        if group.rank > 0:  # the same weights everywhere (DDP copies process 0's), but each its own dropout
            torch.manual_seed(hash((config.seed, group.rank)))
        return cls(model, optimizer, schedule, scaler, random.Random(config.seed), Position(), group)

    def checkpoint(self, config: TrainConfig, source: str) -> dict:
        return {"config": asdict(config), "data": source, "position": asdict(self.position),
                "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "schedule": self.schedule.state_dict(), "scaler": self.scaler.state_dict(),
                "shuffler": self.shuffler.getstate(), "torch_rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}

    def restore(self, checkpoint: dict, device: torch.device) -> None:
        self.model.load_state_dict(checkpoint["model"])
        self.model.to(device)
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.schedule.load_state_dict(checkpoint["schedule"])
        if checkpoint.get("scaler"):
            self.scaler.load_state_dict(checkpoint["scaler"])
        self.shuffler.setstate(checkpoint["shuffler"])
        self.position = Position(**checkpoint["position"])
        if self.group.rank > 0:  # the checkpoint holds process 0's random state: the others start afresh
            torch.manual_seed(hash((checkpoint["config"]["seed"], self.group.rank, self.position.epoch,
                                    self.position.step)))
            return
        torch.set_rng_state(checkpoint["torch_rng"])
        if checkpoint["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(checkpoint["cuda_rng"])


class _TrainingLoss(torch.nn.Module):
    """The model's loss as a forward pass: what DistributedDataParallel wraps, as it
    synchronises the gradients of whatever `forward` computes."""

    def __init__(self, model: BiLSTMTagger):
        super().__init__()
        self.model = model

    def forward(self, batch) -> torch.Tensor:
        return self.model.loss(batch)


# The frozen vectors never change: syncing buffers before every step would send them all.
# PyTorch 2.13 renamed the option; older versions know only the first name.
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def fit(state: TrainingState, encoder: Encoder, train_sentences: data.TrainingSentences,
        dev_data: tuple[Sequence, Sequence], config: TrainConfig, device: torch.device) -> Iterator[Step | Epoch]:
    """Train from `state` until `config.epochs`, or `config.patience` epochs without a better
    dev F1. `state` is up to date whenever a record is yielded.

    The model holds the epoch's weights while its Epoch record is consumed: save it then.
    With several processes, every one draws the same batches and trains its share of each;
    the main one evaluates and tells the others the scores.
    """
    lengths = train_sentences.lengths
    model, optimizer, scaler, position, group = state.model, state.optimizer, state.scaler, state.position, state.group
    loss_of = model.loss
    if group.size > 1:
        loss_of = torch.nn.parallel.DistributedDataParallel(
            _TrainingLoss(model), device_ids=[device] if device.type == "cuda" else None, **_NO_BUFFER_SYNC)
    autocast = torch.autocast(device.type, dtype=PRECISIONS[config.precision], enabled=config.precision != "fp32")
    while position.epoch <= config.epochs and position.since_best < config.patience:
        model.train()
        started, tokens_now = time.perf_counter(), 0
        if position.step == 0:
            position.epoch_order = state.shuffler.getstate()
        else:  # resuming inside the epoch: draw its batches again and skip those done
            state.shuffler.setstate(position.epoch_order)
        batches = length_bucketed_batches(lengths, config.batch_size, state.shuffler, min_size=group.size)
        for step in range(position.step + 1, len(batches) + 1):
            indices = batches[step - 1]
            share = indices[group.rank::group.size]
            batch = encoder.encode(*train_sentences.take(share)).to(device)
            tokens, batch_tokens = int(batch.lengths.sum()), sum(lengths[i] for i in indices)
            optimizer.zero_grad()
            with autocast:
                loss = loss_of(batch)
            # DDP averages the processes' gradients; weighting each by its share of the batch's
            # tokens makes that the gradient of the whole batch's per-token loss, as in one process.
            scaler.scale(loss * (group.size * tokens / batch_tokens)).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            scaler.step(optimizer)
            scaler.update()
            tokens_now, loss_value = tokens_now + batch_tokens, loss.item()
            position.step, position.loss_sum, position.tokens = (step, position.loss_sum + loss_value * tokens,
                                                                 position.tokens + tokens)
            yield Step(position.epoch, step, len(batches), loss_value, batch_tokens)
        seconds = time.perf_counter() - started
        # Shared before the schedule moves on: a process lost here leaves the epoch's state whole.
        dev_scores = distributed.share(group, evaluate(model, encoder, *dev_data, device) if group.is_main else None)
        state.schedule.step()
        is_best = dev_scores.f1 > position.best_f1
        if is_best:
            position.best_f1, position.best_epoch, position.best_dev = dev_scores.f1, position.epoch, dev_scores.to_dict()
        position.since_best = 0 if is_best else position.since_best + 1
        record = Epoch(position.epoch, position.loss_sum / max(1, position.tokens), dev_scores, is_best, seconds,
                       tokens_now / seconds)
        position.epoch, position.step, position.loss_sum, position.tokens = position.epoch + 1, 0, 0.0, 0
        yield record


def evaluate(model: BiLSTMTagger, encoder: Encoder, sentences: Sequence[Sequence[str]],
             gold: Sequence[Sequence[str]], device: torch.device) -> Scores:
    """Tag `sentences` and score the tags against `gold`."""
    was_training = model.training
    model.eval()
    predicted = tag_sentences(model, encoder, sentences, device)
    model.train(was_training)
    return score(gold, predicted)


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, shuffler: random.Random,
                            min_size: int = 1) -> list[list[int]]:
    """Batches of sentence indices of similar length, in random order.

    A bucket's last batch, when smaller than `min_size` (the number of processes, each of
    which needs a sentence of every batch), joins the batch before it.
    """
    order = list(range(len(lengths)))
    shuffler.shuffle(order)
    batches = []
    span = batch_size * BUCKET_BATCHES
    for first in range(0, len(order), span):
        bucket = sorted(order[first:first + span], key=lambda i: lengths[i])
        batches += [bucket[i:i + batch_size] for i in range(0, len(bucket), batch_size)]
        if len(batches) > 1 and len(batches[-1]) < min_size:
            batches[-2] += batches.pop()
    shuffler.shuffle(batches)
    return batches


@dataclass(frozen=True)
class Evaluation:
    scores: Scores
    sentences: int
    tokens: int
    seconds: float
    unseen_tags: list[str]  # gold tags the model was never trained on: their entities can only be missed
    errors: ErrorReport | None = None

    def to_dict(self) -> dict:
        errors = {} if self.errors is None else {"errors": self.errors.to_dict()}
        return {**self.scores.to_dict(), "sentences": self.sentences, "tokens": self.tokens,
                "seconds": self.seconds, "unseen_tags": self.unseen_tags, **errors}


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
    unseen = sorted({tag for tags in gold for tag in tags} - set(saved.encoder.tags.items))
    return Evaluation(score(gold, predicted), len(sentences), sum(map(len, sentences)), seconds, unseen, errors)
