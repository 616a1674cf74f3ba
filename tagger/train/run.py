"""A training run, from data to a saved and evaluated model: the model directory, resuming, the
data and a fresh model, the training loop's records passed on as they come, each best model
saved, and the test metrics at the end."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Collection, Generator, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import datasets
import torch

from tagger.core.config import TRANSFORMER_SETTINGS, Dimensions, Runtime, TrainConfig, setting
from tagger.core.entities import is_bioes
from tagger.core.errors import DataError, SettingError, TaggerError, plural
from tagger.data import corpus
from tagger.data.sources import Source
from tagger.model import compact, embeddings, modeldir, transformer
from tagger.model.encoding import Encoder, TrainingText, Vocabulary
from tagger.model.network import BiLSTMTagger
from tagger.model.modeldir import CONFIG_FILE, TRANSFORMER_DIR
from tagger.model.transformer import TransformerFeatures, load_kept
from tagger.train import distributed, extend
from tagger.train.loop import TrainingState, fit
from tagger.train.records import Epoch, Finished, Record, Started, Stopped
from tagger.train.rundir import RunDirectory
from tagger.train.settings import check_expected, refuse_settings_unlike_the_run, with_epochs_from
from tagger.train.threads import AdaptiveThreads
from tagger.use.metrics import Metrics, evaluate
from tagger.use.predict import Tagger


def train(config: TrainConfig, source: str | Source, model_dir: Path, runtime: Runtime = Runtime(), *,
          overwrite: bool = False, stop: threading.Event | None = None,
          given: Collection[str] = ()) -> Iterator[Record]:
    """Train on `source` (a location, or a file per split), save the best model by dev F1 to `model_dir`, evaluate it on test.

    A checkpoint in `model_dir` after every epoch lets `resume` continue the run exactly where
    it stopped. Setting `stop` ends the run after the step under way, with a checkpoint and a
    Stopped record; so does closing this generator, without the record. A setting or a model
    directory that cannot work raises TaggerError before any data is read.

    Started by torchrun as several processes, each trains its share of every batch
    (DistributedDataParallel); the main process alone reads and writes `model_dir`. `given`
    names the settings the caller chose (the command line's typed options): with
    `config.init_from`, one of them that would change the model's network is refused, even at
    its default value.
    """
    config = replace(config, embeddings=embeddings.locate(config.embeddings),
                     transformer=config.transformer and transformer.recorded(config.transformer),
                     init_from=config.init_from and os.path.abspath(config.init_from))
    yield from _run(Path(model_dir), runtime, stop, (config, Source.of(source), overwrite, frozenset(given)))


def resume(model_dir: Path, runtime: Runtime = Runtime(), *, stop: threading.Event | None = None,
           expected: Mapping[str, object] | None = None) -> Iterator[Record]:
    """Continue the unfinished run in `model_dir` where it stopped, with the settings and data it
    started with; as `train` otherwise. `expected`: settings the caller gave, by their field
    names in TrainConfig, ModelConfig or Source; one the run started with otherwise is refused."""
    yield from _run(Path(model_dir), runtime, stop, dict(expected or {}))


def _run(model_dir: Path, runtime: Runtime, stop: threading.Event | None,
         start: tuple[TrainConfig, Source, bool, frozenset[str]] | dict) -> Iterator[Record]:
    """A new run (`start` is its settings, data and whether to overwrite) or a resumed one (the
    settings its caller expects), on the threads and processes this one was started with."""
    world = distributed.World.from_environment()
    device = world.device(runtime.device)
    runtime.check_device_type(device.type)
    threads = torch.get_num_threads()
    adapt = None
    if runtime.threads is not None:
        torch.set_num_threads(runtime.threads)
    elif "OMP_NUM_THREADS" in os.environ:  # torch's own way to choose, and it has chosen
        pass
    elif world.size == 1 and device.type == "cpu" and AdaptiveThreads.possible():
        adapt = AdaptiveThreads()
    else:  # each of several processes on a core of its own; a GPU's work is not on the CPU's threads
        torch.set_num_threads(1)
    try:
        with distributed.process_group(world, device, runtime.timeout):
            started = time.perf_counter()
            run = _prepare(_open(model_dir, start, world), runtime, world, device)
            yield run.started
            end = yield from _loop(run, runtime, stop or threading.Event(), adapt)
            yield end or _finish(run, time.perf_counter() - started)
    finally:
        torch.set_num_threads(threads)  # a Python caller's own setting, as it was


@dataclass
class _Run:
    """A run once prepared: its directory, settings and data, the model and its state."""

    directory: RunDirectory
    config: TrainConfig
    splits: datasets.DatasetDict
    sentences: corpus.TrainingSentences | extend.Respelled  # read in the scheme of a model trained further
    dev_split: datasets.Dataset | None
    encoder: Encoder
    features: TransformerFeatures | None
    state: TrainingState
    device: torch.device
    started: Started
    summary: dict  # what training.json records of the run beside its best epoch and scores


def _open(model_dir: Path, start: tuple[TrainConfig, Source, bool, frozenset[str]] | dict,
          world: distributed.World) -> tuple[RunDirectory, TrainConfig, Source]:
    """The run's directory, settings and data: the main process opens the directory (reading a
    resumed run's checkpoint, once) and settles the settings; the others are told them."""
    opened, failure = None, None
    if world.is_main:
        try:
            if isinstance(start, dict):
                check_expected(start)
                directory = RunDirectory.reopen(model_dir)
                config, source = directory.started_with()
                refuse_settings_unlike_the_run(model_dir, config, source, start)
            else:
                config, source, overwrite, given = start
                embeddings.check(config.embeddings)
                if config.init_from is not None:
                    config = extend.with_design_of(config, given)
                elif config.transformer is not None:
                    transformer.locate(config.transformer)
                elif given & set(TRANSFORMER_SETTINGS):  # typed at the default value, which TrainConfig allows
                    raise SettingError(f"{', '.join(map(setting, sorted(given & set(TRANSFORMER_SETTINGS))))}: for a "
                                       f"{setting('transformer')}, and none is given; give one, or leave it out")
                config = with_epochs_from(config, model_dir)
                directory = RunDirectory.create(model_dir, overwrite)
            opened = (directory.checkpoint, config.to_dict(), source.to_dict())
        except TaggerError as error:
            failure = error
    distributed.raise_if_any_failed(world, failure)
    checkpoint, config, source = distributed.broadcast_from_main(world, opened)  # every process as the main one
    return RunDirectory(model_dir, checkpoint, writes=world.is_main), TrainConfig.from_dict(config), Source.of(source)


def _prepare(opened: tuple[RunDirectory, TrainConfig, Source], runtime: Runtime, world: distributed.World,
             device: torch.device) -> _Run:
    """Read the data, build the model, and restore a resumed run's state into it."""
    directory, config, source = opened
    checkpoint, failure = directory.checkpoint, None
    # A resumed run that has saved a model reads its transformer, and the vocabularies it extended
    # another model's with, from there: the folders it started from may have changed or gone since.
    saved = Path(directory.path) if checkpoint is not None and directory.has_model() else None
    try:
        features = None
        if config.transformer is not None and config.init_from is None:
            features = (load_kept(saved / TRANSFORMER_DIR, modeldir.read_json(saved / CONFIG_FILE), config.model, "cpu",
                                  "start again with --overwrite") if saved else
                        TransformerFeatures.load(transformer.locate(config.transformer), config.model)).remembering()
        splits, sentences, dev_split, held_out = _load_data(config, source, world)
        torch.manual_seed(config.seed)
        if config.init_from is not None:
            model, encoder, features, coverage, sentences = extend.extended_model(config, sentences,
                                                                                  saved or Path(config.init_from))
        else:
            # A run that an earlier version started keeps its frozen vectors in half precision.
            frozen_bits = 16 if checkpoint is not None and "frozen_vectors" in checkpoint["model"] else 4
            model, encoder, coverage = build_model(config, sentences.tokens(), sentences.tag_names, frozen_bits,
                                                   0 if features is None else features.dim)
    except TaggerError as error:
        failure = error
    distributed.raise_if_any_failed(world, failure)
    model.to(device)
    if features is not None:
        features.model.to(device)
    state = TrainingState.start(model, config, runtime, world)
    if checkpoint is not None:
        try:
            state.restore(checkpoint, device)
        except RuntimeError:  # the weights' shapes differ: the words or tags of the data are not the run's
            raise DataError(f"{source.location}: the data changed since the run started (its words or tags differ "
                            f"from the checkpoint's); restore it to resume, or start again with --overwrite") from None
    started = Started(
        train_sentences=len(sentences), train_tokens=sum(sentences.lengths),
        dev_sentences=0 if dev_split is None else len(dev_split), dev_held_out=held_out,
        test_sentences=len(splits["test"]) if "test" in splits else 0, tags=encoder.tags.items,
        words=len(encoder.words), pretrained_coverage=coverage, parameters=sum(p.numel() for p in model.parameters()),
        device=str(device), processes=world.size,
        resumed_at=(state.position.epoch, state.position.step) if checkpoint is not None else None,
        untrained_types=_untrained_types(splits, encoder.tags.items), dev_trained=config.train_with_dev,
        decoder=config.model.decoder, transformer=features and features.describe(config.transformer),
        init_from=config.init_from)
    summary = {"data": source.located().to_dict(), "config": config.to_dict(),
               "runtime": {"device": str(device), "precision": runtime.precision, "processes": world.size}}
    return _Run(directory, config, splits, sentences, dev_split, encoder, features, state, device, started, summary)


def _loop(run: _Run, runtime: Runtime, stop: threading.Event,
          adapt: AdaptiveThreads | None) -> Generator[Record, None, Stopped | None]:
    """Train, yielding the loop's records, keeping each best model and a checkpoint after every
    epoch; returns a Stopped record when `stop` ended the run first."""
    directory, state, world = run.directory, run.state, run.state.world
    if stop.is_set():  # before the first step: nothing to keep
        return Stopped(state.position.epoch, state.position.step, resumable=directory.checkpoint is not None,
                       best_model_saved=directory.has_model(), dev_trained=run.config.train_with_dev)

    def save_checkpoint() -> None:
        directory.save_checkpoint(state.checkpoint(run.config, run.summary["data"]))

    def save_where_lost() -> str:
        save_checkpoint()
        if world.is_main:
            return f"the run is saved at epoch {state.position.epoch}, step {state.position.step}"
        return f"process 0 keeps the run's checkpoint in {directory.path}"

    # Only the main process evaluates: the others need no dev sentences in memory.
    dev_data = None if run.config.train_with_dev else \
        (run.dev_split["tokens"], corpus.tag_sequences(run.dev_split)) if world.is_main else ([], [])
    try:
        with distributed.on_lost_peers(world, save_where_lost):
            for record in fit(state, run.encoder, run.sentences, dev_data, run.config, runtime, run.device,
                              adapt, run.features):
                if isinstance(record, Epoch):
                    if record.is_best:
                        directory.save_model(state.model, run.encoder, {
                            **run.summary, "best_epoch": record.epoch, "dev": record.dev and record.dev.to_dict()},
                            run.features)
                    save_checkpoint()
                yield record
                if stop.is_set():
                    save_checkpoint()
                    return Stopped(state.position.epoch, state.position.step, resumable=True,
                                   best_model_saved=directory.has_model(), dev_trained=run.config.train_with_dev)
    except GeneratorExit:  # the caller stops reading between two steps: keep the run's place
        save_checkpoint()
        raise
    return None


def _finish(run: _Run, seconds: float) -> Finished:
    """Score the best model on test, record it, and remove the checkpoint."""
    position, test = run.state.position, None
    if run.state.world.is_main:
        if "test" in run.splits:
            tagger = Tagger.load(run.directory.path, str(run.device))
            test = evaluate(tagger, run.splits["test"]["tokens"], corpus.tag_sequences(run.splits["test"]))
        run.directory.finish(test and test.to_dict())
    return Finished(position.best_epoch, position.best_dev and Metrics.from_dict(position.best_dev), test,
                    stopped_early=run.config.patience is not None and position.since_best >= run.config.patience,
                    seconds=seconds)


def _load_data(config: TrainConfig, source: Source,
               world: distributed.World) -> tuple[datasets.DatasetDict, corpus.TrainingSentences, datasets.Dataset | None,
                                                  bool]:
    """The corpus, the sentences to train on and the split to choose the best epoch on (with
    train_with_dev, the dev split trained on, if any), and whether that was held out of train."""
    splits = corpus.load_corpus(source)
    if "train" not in splits:
        raise DataError(f"{source.location}: no train split (it has: {', '.join(splits)}); name a file or "
                        "folder for it train, or give it with --train")
    train_split, held_out = splits["train"], "validation" not in splits
    if corpus.tag_names(train_split) == ["O"]:
        raise DataError(f"{source.location}: every tag of the train split is O, so there is nothing to learn; "
                        "check the tags column (or --tags-column)")
    dev_split = splits.get("validation")
    if config.train_with_dev:  # with no dev split, the final model trains on all of train
        if not held_out:
            if len({is_bioes(corpus.tag_names(split)) for split in (train_split, dev_split)
                    if corpus.tag_names(split) != ["O"]}) > 1:
                raise DataError(f"{source.location}: train and dev are tagged in different schemes (one BIOES, the "
                                "other IOB); tag them alike to train on both together")
            train_split = corpus.joined([train_split, dev_split])
        held_out = False
    elif held_out:
        if len(train_split) * config.dev_fraction < 1:
            raise DataError(f"{source.location}: {plural(len(train_split), 'sentence')} to train on, too few to hold "
                            f"{config.dev_fraction:.0%} of them out as a dev set; give a dev set with --dev FILE "
                            "(or a dev file beside train in the folder)")
        parts = train_split.train_test_split(test_size=config.dev_fraction, seed=config.seed)
        train_split, dev_split = parts["train"], parts["test"]
    elif len(dev_split) == 0:
        raise DataError(f"{source.location}: the dev split has no sentences; give one that has")
    if len(train_split) < world.size:
        raise DataError(f"{source.location}: {plural(len(train_split), 'sentence')} to train on for {world.size} "
                        "processes; start fewer processes")
    return splits, corpus.TrainingSentences(train_split), dev_split, held_out


def _untrained_types(splits: datasets.DatasetDict, trained_tags: list[str]) -> tuple[str, ...]:
    trained = {tag[2:] for tag in trained_tags}
    return tuple(sorted({tag[2:] for split in ("validation", "test") if split in splits
                         for tag in corpus.tag_names(splits[split]) if tag != "O"} - trained))


def build_model(config: TrainConfig, sentences: Iterable[Sequence[str]], tag_names: Sequence[str],
                frozen_bits: int = 4, feature_dim: int = 0) -> tuple[BiLSTMTagger, Encoder, float | None]:
    """A fresh model and its encoder, with pretrained vectors where `config.embeddings` has them,
    those of words the training data lacks kept in `frozen_bits` bits a value (tagger.model.compact),
    reading a transformer's features of `feature_dim` (0: none).

    Also returns the share of training tokens the pretrained vectors cover (None without them).
    """
    pretrained = embeddings.load_vectors(config.embeddings)
    kept = pretrained.words[:config.pretrained_words] if pretrained else []
    text = TrainingText.count(sentences)
    encoder = Encoder.from_counts(text, tag_names, kept)
    trained_words = len(Vocabulary(text.word_counts))  # the encoder lists training words first
    dimensions = Dimensions(len(encoder.words), len(encoder.chars), len(encoder.tags),
                            word_dim=pretrained.dim if pretrained else 100,
                            frozen_words=len(encoder.words) - trained_words, frozen_bits=frozen_bits,
                            feature_dim=feature_dim)
    model = BiLSTMTagger(config.model, dimensions)
    if pretrained is None:
        return model, encoder, None
    matrix = embeddings.embedding_matrix(encoder.words, pretrained, config.seed)
    model.word_embedding.weight.data.copy_(torch.from_numpy(matrix[:trained_words]))
    if frozen_bits == 4:
        codes, scales = compact.pack_nibbles(matrix[trained_words:])
        model.frozen_codes.copy_(torch.from_numpy(codes))
        model.frozen_scales.copy_(torch.from_numpy(scales))
    else:
        model.frozen_vectors.copy_(torch.from_numpy(matrix[trained_words:]))
    known = set(pretrained.words)
    covered = sum(count for word, count in text.word_counts.items() if word in known)
    return model, encoder, covered / max(1, text.word_counts.total())


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """On Ctrl-C or SIGTERM (a scheduler's or torchrun's stop), set `stop`: the run ends after the
    step under way, with a checkpoint. A second signal raises KeyboardInterrupt at once."""
    stop_signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(signum, frame):
        stop.set()
        for stop_signal in stop_signals:
            signal.signal(stop_signal, signal.default_int_handler)

    previous = {stop_signal: signal.signal(stop_signal, on_signal) for stop_signal in stop_signals}
    try:
        yield
    finally:
        for stop_signal, handler in previous.items():
            signal.signal(stop_signal, handler)
