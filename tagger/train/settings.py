"""Training settings set against another run's: those a resumed run keeps, and those of the dev
run whose best epoch a model trained on train + dev takes (TrainConfig.epochs_from)."""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import asdict, fields, replace
from pathlib import Path

from tagger.core.config import TRAIN_OPTIONS, ModelConfig, TrainConfig, setting
from tagger.core.errors import ArtifactError, SettingError
from tagger.data.sources import Source, located_path
from tagger.model import embeddings, modeldir, transformer

SOURCE_FIELDS = frozenset(field.name for field in fields(Source))
# What a run is set by, each by its field name: the network's design within TrainConfig.model
# is given field by field.
SETTING_FIELDS = SOURCE_FIELDS | {field.name for config in (TrainConfig, ModelConfig) for field in fields(config)} - {"model"}


def refuse_settings_unlike_the_run(model_dir: Path, config: TrainConfig, source: Source,
                                   expected: Mapping[str, object]) -> None:
    """A resumed run keeps the settings and data it started with (`config`, `source`): one in
    `expected` (by its field name in TrainConfig, ModelConfig or Source) that differs would be
    ignored, so it is refused. The same value is fine: rerunning the first command with
    --resume added is how many resume."""
    recorded = {**_flat(config), **asdict(source.located())}  # format 1 kept local paths relative
    unlike = sorted(name for name, value in expected.items() if recorded[name] != _as_run(name, value))
    if unlike:
        options = ", ".join(f"no --{name.replace('_', '-')}" if recorded[name] is None
                            else f"--{name.replace('_', '-')} {recorded[name]}" for name in unlike)
        raise SettingError(f"{model_dir}: the run started with {options}; resume continues it with its own "
                           "settings, so leave out those that differ (or start a new run with --overwrite)")


def check_expected(expected: Mapping[str, object]) -> None:
    """Settings a caller expects a resumed run to have must be settings of a run, and may not
    ask it to take another's epochs: checked before the run's directory is read."""
    unknown = sorted(set(expected) - SETTING_FIELDS)
    if unknown:
        raise SettingError(f"{', '.join(unknown)}: not a setting of a training run; give fields of TrainConfig, "
                           "ModelConfig or Source")
    if expected.get("epochs_from") is not None:
        raise SettingError(f"{setting('epochs_from')} does not apply to resuming: the run keeps its own epochs")


def _flat(config: TrainConfig) -> dict[str, object]:
    """The settings of `config` by field name, the network's among them, a vectors file by its
    absolute path (format 1 kept it relative)."""
    flat = {field.name: getattr(config, field.name) for field in fields(TrainConfig) if field.name != "model"}
    return {**asdict(config.model), **flat, "embeddings": embeddings.locate(config.embeddings)}


def _as_run(name: str, value: object) -> object:
    """`value` of the setting `name` as a run records it."""
    if name in ("data", "train", "dev", "test"):
        return located_path(None if value is None else str(value))
    if name == "embeddings":
        return embeddings.locate(str(value))
    if name == "transformer":
        return transformer.recorded(str(value))
    if name == "init_from":
        return os.path.abspath(str(value))
    return value


def with_epochs_from(config: TrainConfig, model_dir: Path) -> TrainConfig:
    """`config` with the best epoch of the dev run `config.epochs_from` names, when it names one.
    That run must have trained as this one will (but for its seed), or its best epoch would mean
    something else here."""
    if config.epochs_from is None:
        return config
    epochs_from = Path(config.epochs_from)
    if epochs_from.resolve() == Path(model_dir).resolve():
        raise SettingError(f"{setting('epochs_from')} names the run's own directory, {model_dir}: the new "
                           "model would replace the run it takes its epochs from; give another --model")
    best_epoch, trained_with = dev_run(epochs_from)
    # Training on train + dev leaves nothing out as dev: the share held out does not matter.
    unlike = sorted(_settings_unlike(config, trained_with) - {"epochs", "patience", "seed", "train_with_dev",
                                                              "epochs_from", "dev_fraction"})
    if unlike:
        settings = _flat(trained_with)
        options = ", ".join(f"--{name.replace('_', '-')} {settings[name]}" if name in TRAIN_OPTIONS
                            else f"{name}={settings[name]!r}" for name in unlike)
        raise SettingError(f"{epochs_from} was trained with {options}: give the same, so that its best epoch "
                           "means the same here (or give --epochs N)")
    return replace(config, epochs=best_epoch, epochs_from=None)


def _settings_unlike(config: TrainConfig, other: TrainConfig) -> set[str]:
    """The ModelConfig and TrainConfig field names whose values differ."""
    settings, others = _flat(config), _flat(other)
    return {name for name in settings if settings[name] != others[name]}


def trained_with(training: dict, model: ModelConfig) -> TrainConfig:
    """The settings a saved model trained with, from its training.json: its `config`, or, as
    versions before it wrote them, its `options` and the model's own settings."""
    return TrainConfig.from_dict({"model": asdict(model), **modeldir.training_settings(training)})


def dev_run(model_dir: Path) -> tuple[int, TrainConfig]:
    """The best epoch of the finished run that saved the model in `model_dir`, chosen on dev, and
    the settings it trained with: how long, and how, to train on train + dev."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir() or not (modeldir.has_model(model_dir) or modeldir.has_checkpoint(model_dir)):
        kind = "no such directory" if not model_dir.exists() else "a file" if model_dir.is_file() else "holds no model"
        raise ArtifactError(f"{model_dir}: {kind}; --epochs-from takes the directory of a model trained with a dev set")
    if modeldir.has_checkpoint(model_dir):
        raise ArtifactError(f"{model_dir}: its run is unfinished, so its best epoch may not be its last word; finish "
                            f"it with `tagger train --model {shlex.quote(str(model_dir))} --resume`, or give --epochs N")
    saved = modeldir.load_model(model_dir)
    epoch = saved.training.get("best_epoch")
    if saved.training.get("dev") is None or not isinstance(epoch, int) or epoch < 1 \
            or not modeldir.training_settings(saved.training):
        raise ArtifactError(f"{model_dir}: its model was not chosen on a dev set, so it has no best epoch to "
                            "train for; give a model trained without --train-with-dev, or --epochs N")
    try:
        return epoch, trained_with(saved.training, saved.model.config)
    except (TypeError, ValueError) as error:
        raise ArtifactError(f"{model_dir / modeldir.TRAINING_FILE}: its settings are not this tagger's ({error})") from None
