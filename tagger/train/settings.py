"""Training settings set against another run's: those a resumed run keeps, and those of the dev
run whose best epoch a model trained on train + dev takes (--epochs-from)."""

from __future__ import annotations

import shlex
from dataclasses import asdict, fields, replace
from pathlib import Path

from tagger.core.config import ModelConfig, TrainConfig
from tagger.core.errors import ArtifactError, TaggerError
from tagger.data.sources import Source
from tagger.model import artifact, embeddings, modeldir


def settings_unlike_the_run(model_dir: Path, config: TrainConfig, source: str | Source) -> set[str]:
    """The settings (ModelConfig, TrainConfig and Source field names) in which `config` and
    `source` differ from those the unfinished run in `model_dir` started with, and resumes
    with; none without such a run."""
    checkpoint = artifact.load_checkpoint(model_dir)
    if checkpoint is None:
        return set()
    started_on, source = Source.of(checkpoint["data"]).located(), Source.of(source).located()
    return (_settings_unlike(config, TrainConfig.from_dict(checkpoint["config"]))
            | {field.name for field in fields(Source) if getattr(source, field.name) != getattr(started_on, field.name)})


def refuse_settings_unlike_the_run(model_dir: Path, config: TrainConfig, source: str | Source,
                                  given: set[str]) -> None:
    """A resumed run keeps its own data and options: a setting `given` (by its field name) that
    differs from the run's would be ignored, so it is refused. The same value is fine: rerunning
    the first command with --resume added is how many resume."""
    unlike = sorted(given & settings_unlike_the_run(model_dir, config, source))
    if unlike:
        options = ", ".join("--" + name.replace("_", "-") for name in unlike)
        raise TaggerError(f"{model_dir}: the run started with other {options}; --resume continues it with its "
                          "own, so leave them out (or start a new run with --overwrite)")


def with_epochs_from(config: TrainConfig, given: set[str], epochs_from: Path | None, model_dir: Path,
                     resume: bool) -> TrainConfig:
    """`config` for a new run, with `epochs_from`'s best epoch when given; what --train-with-dev
    needs checked first. With no dev F1 to stop on, it needs its epochs given and takes no
    patience; the dev run it takes them from must have trained as this run will (but for its
    seed), or its best epoch would mean something else here."""
    if epochs_from is not None:
        if resume:
            raise TaggerError("--epochs-from does not apply to --resume: the run keeps its own epochs")
        if not config.train_with_dev:
            raise TaggerError("--epochs-from is for --train-with-dev: without it, dev F1 chooses the epoch")
        if "epochs" in given:
            raise TaggerError("--epochs and --epochs-from both given: give one")
        if "patience" in given:
            raise TaggerError("--patience does not apply to --train-with-dev: with no dev F1 to stop on, it trains "
                              "for all of its epochs")
        if Path(epochs_from).resolve() == Path(model_dir).resolve():
            raise TaggerError(f"--epochs-from and --model both name {model_dir}: the new model would replace the "
                              "run it takes its epochs from; give another --model")
        best_epoch, trained_with = dev_run(epochs_from)
        unlike = sorted(_settings_unlike(config, trained_with) - {"epochs", "patience", "seed", "train_with_dev"})
        if unlike:
            settings = {**asdict(trained_with.model), **asdict(trained_with)}
            options = ", ".join(f"--{name.replace('_', '-')} {settings[name]}" for name in unlike)
            raise TaggerError(f"{epochs_from} was trained with {options}: give the same, so that its best epoch "
                              "means the same here (or give --epochs N)")
        return replace(config, epochs=best_epoch)
    if config.train_with_dev and not resume:
        if "epochs" not in given:
            raise TaggerError("--train-with-dev leaves no dev set to choose an epoch on: give --epochs N, or "
                              "--epochs-from MODEL_DIR (a model trained with dev, whose best epoch it takes)")
        if "patience" in given:
            raise TaggerError("--patience does not apply to --train-with-dev: with no dev F1 to stop on, it trains "
                              "for all of --epochs")
    return config


def _settings_unlike(config: TrainConfig, other: TrainConfig) -> set[str]:
    """The ModelConfig and TrainConfig field names whose values differ; vectors files compared by
    their absolute paths."""
    config = replace(config, embeddings=embeddings.locate(config.embeddings))
    other = replace(other, embeddings=embeddings.locate(other.embeddings))  # format 1 kept them relative
    return ({field.name for field in fields(ModelConfig) if getattr(config.model, field.name) != getattr(other.model, field.name)}
            | {field.name for field in fields(TrainConfig)
               if field.name != "model" and getattr(config, field.name) != getattr(other, field.name)})


def dev_run(model_dir: Path) -> tuple[int, TrainConfig]:
    """The best epoch of the finished run that saved the model in `model_dir`, chosen on dev, and
    the settings it trained with: how long, and how, to train on train + dev."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        kind = "a file" if model_dir.exists() else "no such directory"
        raise ArtifactError(f"{model_dir}: {kind}; --epochs-from takes the directory of a model trained with a dev set")
    if modeldir.has_checkpoint(model_dir):
        raise ArtifactError(f"{model_dir}: its run is unfinished, so its best epoch may not be its last word; finish "
                            f"it with `tagger train --model {shlex.quote(str(model_dir))} --resume`, or give --epochs N")
    saved = modeldir.load_model(model_dir)
    epoch, options = saved.training.get("best_epoch"), saved.training.get("options")
    if saved.training.get("dev") is None or not isinstance(epoch, int) or epoch < 1 or not isinstance(options, dict):
        raise ArtifactError(f"{model_dir}: its model was not chosen on a dev set, so it has no best epoch to "
                            "train for; give a model trained without --train-with-dev, or --epochs N")
    try:
        return epoch, TrainConfig.from_dict({**options, "model": asdict(saved.model.config)})
    except TypeError as error:
        raise ArtifactError(f"{model_dir / modeldir.TRAINING_FILE}: its options are not this tagger's ({error})") from None
