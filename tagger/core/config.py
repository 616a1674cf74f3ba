"""The settings a user chooses, each with its one default: the network's design, the training
options, and how to run. The command line takes its defaults from here, so this module
imports neither torch nor datasets (`tagger predict` must start fast)."""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from tagger.core.errors import ArtifactError, SettingError, plural

DECODERS = ("softmax", "crf")
# A transformer's features of a token (tagger.model.transformer): from its last layer, the mean of
# its last four, or its last four mixed by weights the network learns; of a word's first
# sub-word, or the mean of its sub-words.
TRANSFORMER_LAYERS = ("last", "mean4", "mix4")
SUBWORD_POOLING = ("first", "mean")
TRANSFORMER_SETTINGS = ("transformer_layers", "subword_pooling")  # ModelConfig's
PRECISIONS = ("fp32", "bf16", "fp16")
INPUT_FORMATS = ("text", "tokenized", "conll")  # what tagger predict reads
OUTPUT_FORMATS = ("conll", "jsonl", "inline", "html")  # and writes (tagger.use.formats.FORMATS)
MODEL_VARIABLE = "TAGGER_MODEL"  # the model directory every command uses without --model
DEFAULT_MODEL_DIR = Path("models/conll2003")
CHECKOUT = Path(__file__).resolve().parents[2]  # a clone's root, when tagger runs from one
PREDICT_BATCH_TOKENS = 20_000  # tokens tagged at a time: output starts early, memory stays flat
# Threads of the network's own operations in each process that tags: one, as with more every
# small operation ends in a wait for the slowest thread, and where another program holds a
# core that wait is for a thread the system is not running (tagger.use.workers, tagger.train.threads).
NETWORK_THREADS = 1


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# The settings `tagger train` takes as options of the same name (--lr-decay for lr_decay): its messages
# name both.
TRAIN_OPTIONS = frozenset({"hidden_size", "dropout", "word_dropout", "embeddings", "epochs", "patience", "batch_size",
                           "lr", "lr_decay", "seed", "train_with_dev", "epochs_from", "decoder", "precision", "device",
                           "timeout", "threads", "transformer", "transformer_layers", "subword_pooling",
                           "init_from"})
DEFAULT_EPOCHS, DEFAULT_PATIENCE = 30, 5


def setting(name: str) -> str:
    """A setting as Python knows it and, where it is one, as the command line's option:
    `lr_decay (--lr-decay)`, so that one message serves both."""
    return f"{name} (--{name.replace('_', '-')})" if name in TRAIN_OPTIONS else name


def _check(settings: object, name: str, holds: bool, remedy: str) -> None:
    """A setting out of range: one line naming it, with its value."""
    if not holds:
        field, _, option = setting(name).partition(" ")
        raise SettingError(f"{type(settings).__name__}.{field} = {getattr(settings, name)!r}{' ' + option if option else ''}: "
                           f"{remedy}")


@dataclass(frozen=True)
class ModelConfig:
    """The network's design; with the sizes the data gives (model.Dimensions), what rebuilds it."""

    decoder: str = "crf"  # softmax: each token's tag from the classifier; crf: a linear-chain CRF
    hidden_size: int = 200  # LSTM units per direction
    lstm_layers: int = 1
    dropout: float = 0.33  # on the LSTM's inputs and outputs
    word_dropout: float = 0.05  # share of training words replaced by the unknown word
    char_dim: int = 30
    char_filters: int = 50
    char_kernel: int = 3
    transformer_layers: str = "mix4"  # with a transformer: which of its layers a token's features come from
    subword_pooling: str = "first"  # and from which of a word's sub-words

    def __post_init__(self):
        _check(self, "decoder", self.decoder in DECODERS, f"use one of {', '.join(DECODERS)}")
        _check(self, "transformer_layers", self.transformer_layers in TRANSFORMER_LAYERS,
               f"use one of {', '.join(TRANSFORMER_LAYERS)}")
        _check(self, "subword_pooling", self.subword_pooling in SUBWORD_POOLING,
               f"use one of {', '.join(SUBWORD_POOLING)}")
        for size in ("hidden_size", "lstm_layers", "char_dim", "char_filters", "char_kernel"):
            _check(self, size, _whole(getattr(self, size)) and getattr(self, size) >= 1, "give a whole number, 1 or more")
        for share in ("dropout", "word_dropout"):
            _check(self, share, _number(getattr(self, share)) and 0 <= getattr(self, share) < 1,
                   "give a share from 0 up to (not including) 1")

    @property
    def feature_layers(self) -> int:
        """The layers of a transformer's features each token carries: the four to mix, or one."""
        return 4 if self.transformer_layers == "mix4" else 1


@dataclass(frozen=True)
class Dimensions:
    """The sizes the training data and the word vectors give the network: with a ModelConfig,
    what rebuilds it."""

    word_count: int
    char_count: int
    tag_count: int
    word_dim: int = 50
    frozen_words: int = 0  # the last word ids: pretrained words unseen in training, kept as they are
    frozen_bits: int = 16  # how they are kept: 4 (tagger.model.compact), or 16 (half precision) as before format 3
    feature_dim: int = 0  # a transformer's hidden size, with one; 0 without


@dataclass(frozen=True)
class TrainConfig:
    """What to train and how, checked whole when made: each setting in its range and the
    settings that go together, so that the command line and Python get the same answer before
    any data is read. A resumed run takes all of it from its checkpoint.

    `epochs` and `patience` left at None take their defaults (30, 5), but for training on train
    + dev: with no dev F1 to stop on it takes no patience, and its epochs are given, or taken
    from the best epoch of the dev run `epochs_from` names (tagger.train.settings).
    """

    model: ModelConfig = ModelConfig()
    embeddings: str = "glove"  # glove (GloVe 6B 50d), none, or a GloVe / word2vec text file
    transformer: str | None = None  # contextual features from this transformer: minilm, a model folder or a Hub id
    pretrained_words: int = 250_000  # most frequent pretrained words kept for text unseen in training
    epochs: int | None = None  # most epochs to train
    patience: int | None = None  # epochs without a better dev F1 before stopping
    batch_size: int = 16  # sentences, across all processes
    lr: float = 1e-3  # Adam's
    lr_decay: float = 0.95  # the learning rate is multiplied by this after every epoch
    clip: float = 5.0  # gradient norm
    seed: int = 1
    dev_fraction: float = 0.1  # of train held out when the data has no dev split
    train_with_dev: bool = False  # train on train + dev for `epochs`, with no dev set to choose an epoch on
    epochs_from: str | None = None  # with train_with_dev: a dev run's model directory, whose best epoch it takes
    init_from: str | None = None  # a trained model's directory: start from its weights (tagger.train.extend)

    def __post_init__(self):
        _check(self, "model", isinstance(self.model, ModelConfig), "give a ModelConfig")
        _check(self, "embeddings", isinstance(self.embeddings, str), "give glove, none or a vectors file's path")
        _check(self, "transformer", self.transformer is None or (isinstance(self.transformer, str)
                                                                  and self.transformer != ""),
               "give minilm, a Hugging Face model folder or a Hub id, as a string")
        _check(self, "train_with_dev", isinstance(self.train_with_dev, bool), "give True or False")
        for directory in ("epochs_from", "init_from"):
            _check(self, directory, getattr(self, directory) is None or isinstance(getattr(self, directory), str),
                   "give a model directory's path, as a string")
        _check(self, "seed", _whole(self.seed) and 0 <= self.seed < 2 ** 32, "give a whole number from 0 to 2**32 - 1")
        if self.transformer is None and self.init_from is None:
            unused = [setting(name) for name in TRANSFORMER_SETTINGS
                      if getattr(self.model, name) != getattr(ModelConfig, name)]
            if unused:
                many = len(unused) > 1
                raise SettingError(f"TrainConfig: {', '.join(unused)} {'are' if many else 'is'} for a "
                                   f"{setting('transformer')}, and none is given; give one, or leave "
                                   f"{'them' if many else 'it'} out")
        if self.train_with_dev:
            self._check_training_on_dev()
        else:
            if self.epochs_from is not None:
                raise SettingError(f"TrainConfig: {setting('epochs_from')} is for {setting('train_with_dev')}: "
                                   "without it, dev F1 chooses the epoch; leave it out")
            object.__setattr__(self, "epochs", DEFAULT_EPOCHS if self.epochs is None else self.epochs)
            object.__setattr__(self, "patience", DEFAULT_PATIENCE if self.patience is None else self.patience)
            _check(self, "patience", _whole(self.patience) and self.patience >= 1, "give a whole number, 1 or more")
        if self.epochs is not None:
            _check(self, "epochs", _whole(self.epochs) and self.epochs >= 1, "give a whole number, 1 or more")
        _check(self, "batch_size", _whole(self.batch_size) and self.batch_size >= 1, "give a whole number, 1 or more")
        _check(self, "pretrained_words", _whole(self.pretrained_words) and self.pretrained_words >= 0,
               "give a whole number of words, 0 or more")
        _check(self, "lr", _number(self.lr) and self.lr > 0, "give a learning rate above 0, e.g. 1e-3")
        _check(self, "lr_decay", _number(self.lr_decay) and 0 < self.lr_decay <= 1,
               "give a factor above 0 and at most 1 (1: no decay)")
        _check(self, "clip", _number(self.clip) and self.clip > 0, "give a gradient norm above 0")
        _check(self, "dev_fraction", _number(self.dev_fraction) and 0 < self.dev_fraction < 1,
               "give a share above 0 and below 1")

    def _check_training_on_dev(self) -> None:
        on_dev = setting("train_with_dev")
        if self.patience is not None:
            raise SettingError(f"TrainConfig: {setting('patience')} does not apply to {on_dev}: with no dev F1 to "
                               "stop on, it trains for all of its epochs; leave it out")
        if self.epochs is not None and self.epochs_from is not None:
            raise SettingError(f"TrainConfig: {setting('epochs')} and {setting('epochs_from')} both given: give one")
        if self.epochs is None and self.epochs_from is None:
            raise SettingError(f"TrainConfig: {on_dev} leaves no dev set to choose an epoch on: give "
                               f"{setting('epochs')}, or {setting('epochs_from')}, a model trained with dev whose "
                               "best epoch it takes")

    def to_dict(self) -> dict:
        """The settings as JSON: a checkpoint's and training.json's `config`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, settings: dict) -> TrainConfig:
        """The settings `to_dict` gave, or a run of an earlier version recorded: it gave a run on
        train + dev the patience it had no use for."""
        settings = {**settings, "model": ModelConfig(**settings["model"])}
        if settings.get("train_with_dev"):
            settings["patience"] = None
        return cls(**settings)


@dataclass(frozen=True)
class Runtime:
    """How to run, not what to train: a resumed run takes these from its command."""

    device: str = "auto"  # auto (the first GPU if there is one, else the CPU), cpu, cuda or cuda:N
    precision: str = "fp32"  # on CUDA also bf16 or fp16: mixed precision (autocast)
    timeout: float = 600.0  # with several processes: seconds each waits for the others
    threads: int | None = None  # torch's; None: the cores no other program uses (tagger.train.threads)

    def __post_init__(self):
        _check(self, "precision", self.precision in PRECISIONS, f"use one of {', '.join(PRECISIONS)}")
        _check(self, "timeout", _number(self.timeout) and self.timeout > 0, "give seconds above 0")
        if self.threads is not None:
            check_threads(self.threads)
        _check(self, "device", isinstance(self.device, str) and (self.device in ("auto", "cpu", "cuda")
                                                                  or self.device.startswith("cuda:")),
               "use auto, cpu, cuda or cuda:N")
        if self.device == "cpu":
            self.check_device_type("cpu")

    def check_device_type(self, device_type: str) -> None:
        """Mixed precision is for CUDA: on the CPU, the device named or the one `auto` found, it
        is refused before any data is read."""
        if device_type != "cuda" and self.precision != "fp32":
            _check(self, "precision", False, "mixed precision is for CUDA GPUs; on the CPU use fp32")


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def check_threads(threads: int) -> None:
    """A number of threads or processes must be a whole number, from 1 to the cores this
    process may use: more only wait for one another."""
    if not _whole(threads) or threads < 1:
        raise SettingError(f"threads (--threads) = {threads!r}: give a whole number, 1 or more")
    if threads > cores():
        raise SettingError(f"threads (--threads) = {threads}: tagger may use {plural(cores(), 'core')} here, and "
                           f"threads beyond them only wait for one another; give {cores()} or fewer")


def package_version() -> str:
    """tagger's version: what --version prints and a model directory records."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("tagger")
    except PackageNotFoundError:  # run from a copy of the package on PYTHONPATH, never installed
        return "unknown"


def model_dir_to_train() -> Path:
    """Where `train` saves without --model: $TAGGER_MODEL, else models/conll2003 in the current
    directory."""
    return Path(os.environ.get(MODEL_VARIABLE) or DEFAULT_MODEL_DIR)


def model_dir_to_read() -> Path:
    """The model `predict` and `eval` use without --model: $TAGGER_MODEL; else models/conll2003 in
    the current directory, then in the clone tagger runs from (an editable install), so that
    the default model is found from any directory."""
    named = os.environ.get(MODEL_VARIABLE)
    places = [Path(named)] if named else [DEFAULT_MODEL_DIR]
    if not named and (CHECKOUT / "pyproject.toml").is_file():
        places.append(CHECKOUT / DEFAULT_MODEL_DIR)
    for place in places:
        if place.exists():
            return place
    default = f"{named} (from {MODEL_VARIABLE})" if named else str(DEFAULT_MODEL_DIR)
    looked = " and ".join(dict.fromkeys(str(place.absolute()) for place in places))
    raise ArtifactError(f"no model at the default {default}: looked in {looked}; train one with `tagger train`, "
                        f"or give another model directory with --model DIR or {MODEL_VARIABLE}=DIR")
