"""The training loop: steps over length-bucketed batches and an evaluation on dev after each
epoch, yielded as records; and the state a checkpoint captures to resume it exactly."""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol

import torch

from tagger.core.config import Runtime, TrainConfig
from tagger.model.encoding import Encoder, length_bucketed_batches
from tagger.model.network import BiLSTMTagger, Tensors
from tagger.model.transformer import TransformerFeatures
from tagger.train import distributed
from tagger.train.records import Epoch, Step
from tagger.use.metrics import evaluate
from tagger.use.predict import Tagger


class Sentences(Protocol):
    """The training sentences as the loop reads them: their lengths, and the tokens and tags of
    a batch of them (tagger.data.corpus.TrainingSentences, or lists held in memory)."""

    lengths: Sequence[int]

    def take(self, indices: Sequence[int]) -> tuple[list[list[str]], list[list[str]]]: ...


# The --precision names as torch's types.
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Position:
    """Where a run stands: what a checkpoint holds beside the weights and optimiser."""

    epoch: int = 1  # the epoch under way
    step: int = 0  # its steps done
    epoch_order: tuple | None = None  # the shuffler's state as the epoch began: replays its batches
    loss_sum: float = 0.0  # over the epoch's steps done
    tokens: int = 0
    best_epoch: int = 0
    best_dev: dict | None = None  # Metrics.to_dict() of the best epoch
    since_best: int = 0

    @property
    def best_f1(self) -> float:
        return -1.0 if self.best_dev is None else self.best_dev["f1"]


@dataclass
class TrainingState:
    """Everything that changes as a run trains, so that a checkpoint can capture all of it."""

    model: BiLSTMTagger
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler  # fp16 only: scales the loss so small gradients do not underflow
    shuffler: random.Random
    world: distributed.World
    position: Position = field(default_factory=Position)

    @classmethod
    def start(cls, model: BiLSTMTagger, config: TrainConfig, runtime: Runtime,
              world: distributed.World) -> TrainingState:
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, fused=True)  # one kernel for all parameters
        schedule = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=config.lr_decay)
        scaler = torch.amp.GradScaler("cuda", enabled=runtime.precision == "fp16")
        if world.rank > 0:  # the same weights everywhere (DDP copies process 0's), but each its own dropout
            torch.manual_seed(hash((config.seed, world.rank)))
        return cls(model, optimizer, schedule, scaler, random.Random(config.seed), world)

    def checkpoint(self, config: TrainConfig, source: dict) -> dict:
        return {"config": config.to_dict(), "data": source, "position": asdict(self.position),
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
        if self.world.rank > 0:  # the checkpoint holds process 0's random state: the others start afresh
            torch.manual_seed(hash((checkpoint["config"]["seed"], self.world.rank, self.position.epoch,
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
# Newer PyTorch renamed the option; older versions know only the first name.
_NO_BUFFER_SYNC = ({"forward_sync_buffers": False}
                   if "forward_sync_buffers" in inspect.signature(torch.nn.parallel.DistributedDataParallel).parameters
                   else {"broadcast_buffers": False})


def fit(state: TrainingState, encoder: Encoder, train_sentences: Sentences,
        dev_data: tuple[Sequence, Sequence] | None, config: TrainConfig, runtime: Runtime,
        device: torch.device, adapt_threads: Callable[[], None] | None = None,
        features: TransformerFeatures | None = None) -> Iterator[Step | Epoch]:
    """Train from `state` until `config.epochs`, or `config.patience` epochs without a better
    dev F1; with no `dev_data`, every epoch counts as the best. `state` is up to date whenever a
    record is yielded. A model that reads a transformer's features gets them from `features`,
    which computes each sentence's in the first epoch and remembers them.

    The model holds the epoch's weights while its Epoch record is consumed: save it then.
    With several processes, every one draws the same batches and trains its share of each;
    the main one evaluates and tells the others the metrics.
    """
    lengths = train_sentences.lengths
    model, optimizer, scaler, position, world = state.model, state.optimizer, state.scaler, state.position, state.world
    tagger = Tagger(model, encoder, features=features)
    loss_of = model.loss
    if world.size > 1:
        loss_of = torch.nn.parallel.DistributedDataParallel(
            _TrainingLoss(model), device_ids=[device] if device.type == "cuda" else None, **_NO_BUFFER_SYNC)
    autocast = torch.autocast(device.type, dtype=DTYPES[runtime.precision], enabled=runtime.precision != "fp32")
    while position.epoch <= config.epochs and (config.patience is None or position.since_best < config.patience):
        model.train()
        started, tokens_now = time.perf_counter(), 0
        if position.step == 0:
            position.epoch_order = state.shuffler.getstate()
        else:  # resuming inside the epoch: draw its batches again and skip those done
            state.shuffler.setstate(position.epoch_order)
        batches = length_bucketed_batches(lengths, config.batch_size, state.shuffler, min_size=world.size)
        for step in range(position.step + 1, len(batches) + 1):
            indices = batches[step - 1]
            share = indices[world.rank::world.size]
            sentences, tags = train_sentences.take(share)
            encoded = encoder.encode(sentences, tags)
            batch = Tensors.of(encoded if features is None else features.add_to(encoded, sentences), device)
            tokens, batch_tokens = int(batch.lengths.sum()), sum(lengths[i] for i in indices)
            optimizer.zero_grad()
            with autocast:
                loss = loss_of(batch)
            # DDP averages the processes' gradients; weighting each by its share of the batch's
            # tokens makes that the gradient of the whole batch's per-token loss, as in one process.
            scaler.scale(loss * (world.size * tokens / batch_tokens)).backward()
            scaler.unscale_(optimizer)
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.clip)
            scaler.step(optimizer)
            scaler.update()
            tokens_now, loss_value = tokens_now + batch_tokens, loss.item()
            position.step, position.loss_sum, position.tokens = (step, position.loss_sum + loss_value * tokens,
                                                                 position.tokens + tokens)
            if adapt_threads is not None:
                adapt_threads()
            yield Step(position.epoch, step, len(batches), loss_value, batch_tokens)
        seconds = time.perf_counter() - started
        # Sent before the schedule moves on: a process lost here leaves the epoch's state whole.
        dev = None
        if dev_data is not None:
            dev = distributed.broadcast_from_main(world, evaluate(tagger, *dev_data) if world.is_main else None)
        state.schedule.step()
        is_best = dev is None or dev.f1 > position.best_f1
        if is_best:
            position.best_epoch, position.best_dev = position.epoch, dev and dev.to_dict()
        position.since_best = 0 if is_best else position.since_best + 1
        record = Epoch(position.epoch, position.loss_sum / max(1, position.tokens), dev, is_best, seconds,
                       tokens_now / seconds)
        position.epoch, position.step, position.loss_sum, position.tokens = position.epoch + 1, 0, 0.0, 0
        yield record

