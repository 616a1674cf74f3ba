"""What a training run yields as it goes, record by record: read by the display, the CLI and
Python callers alike, so this module imports neither torch nor datasets."""

from __future__ import annotations

from dataclasses import dataclass

from tagger.use.metrics import Metrics


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
    dev: Metrics | None  # None when training on train + dev: each epoch's model is kept
    is_best: bool
    seconds: float
    tokens_per_second: float


@dataclass(frozen=True)
class Started:
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
    untrained_types: tuple[str, ...] = ()  # entity types of dev or test that train lacks: they can only be missed
    dev_trained: bool = False  # dev is part of the training sentences (--train-with-dev)
    decoder: str = ""
    transformer: str | None = None  # whose contextual features the model reads, with their layers and sub-words
    init_from: str | None = None  # the trained model whose weights the run starts from


@dataclass(frozen=True)
class Stopped:
    """The run stopped when asked to, before its end."""

    epoch: int  # the epoch under way
    step: int  # its steps done
    resumable: bool  # a checkpoint holds the run where it stopped
    best_model_saved: bool  # the model directory holds the best model so far
    dev_trained: bool = False  # trained on train + dev: the model kept is the last epoch's


@dataclass(frozen=True)
class Finished:
    best_epoch: int  # the saved model's; training on train + dev, the last
    dev: Metrics | None  # None when dev was trained on
    test: Metrics | None
    stopped_early: bool
    seconds: float


Record = Started | Step | Epoch | Stopped | Finished  # in the order a run yields them
