"""`tagger train`: its options into the library's settings, the run shown as it goes, and how it
ended as an exit code. Every rule about the settings is the library's (tagger.core.config,
tagger.train.settings), so Python callers get the same answers."""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import Annotated

import typer

from tagger.cli.app import (DataOption, Decoder, DeviceOption, ModelOption, Precision, SubwordPooling,
                            TagsColumnOption, TokensColumnOption, TransformerLayers, app, fail)
from tagger.core.config import DEFAULT_EPOCHS, DEFAULT_PATIENCE, ModelConfig, Runtime, TrainConfig
from tagger.core.errors import TaggerError

TRAINING, MODEL, RUNTIME = TrainConfig(), ModelConfig(), Runtime()
SOURCE_OPTIONS = {"train_file": "train", "dev_file": "dev", "test_file": "test"}  # train's parameters -> Source's


@app.command()
def train(
    ctx: typer.Context,
    data: DataOption = None,
    train_file: Annotated[Path | None, typer.Option("--train", help="The training file, instead of --data.",
                                                    show_default=False, rich_help_panel="Data")] = None,
    dev_file: Annotated[Path | None, typer.Option("--dev", help="The dev file, with --train (default: 10% of "
                                                  "train held out).", show_default=False,
                                                  rich_help_panel="Data")] = None,
    test_file: Annotated[Path | None, typer.Option("--test", help="The test file, with --train.",
                                                   show_default=False, rich_help_panel="Data")] = None,
    tokens_column: TokensColumnOption = None,
    tags_column: TagsColumnOption = None,
    model: ModelOption = None,
    embeddings: Annotated[str, typer.Option(help="glove (GloVe 6B 50d), none, or a GloVe/word2vec "
                                                 "text file.", rich_help_panel="Model")] = TRAINING.embeddings,
    transformer: Annotated[str | None, typer.Option(
        help="Add contextual features from this transformer: minilm (packaged), a Hugging Face model folder or "
             "Hub id. Needs the transformer extra (README: Install).", show_default=False,
        rich_help_panel="Model")] = None,
    transformer_layers: Annotated[TransformerLayers, typer.Option(
        help="With --transformer: its last four layers mixed by learnt weights, their mean, or its last layer.",
        rich_help_panel="Model")] = TransformerLayers(MODEL.transformer_layers),
    subword_pooling: Annotated[SubwordPooling, typer.Option(
        help="With --transformer: a word's features from its first sub-word, or the mean of its sub-words.",
        rich_help_panel="Model")] = SubwordPooling(MODEL.subword_pooling),
    decoder: Annotated[Decoder, typer.Option(help="crf: a linear-chain CRF over the classifier's "
                                             "logits; softmax: each token's tag from the classifier.",
                                             rich_help_panel="Model")] = Decoder(MODEL.decoder),
    hidden_size: Annotated[int, typer.Option(help="LSTM units per direction.",
                                             rich_help_panel="Model")] = MODEL.hidden_size,
    dropout: Annotated[float, typer.Option(help="Dropout on LSTM inputs and outputs, from 0 up to 1.",
                                           rich_help_panel="Model")] = MODEL.dropout,
    word_dropout: Annotated[float, typer.Option(help="Share of words replaced by the unknown word in training, from 0 up to 1.",
                                                rich_help_panel="Model")] = MODEL.word_dropout,
    init_from: Annotated[Path | None, typer.Option(
        "--init-from", help="Start from this trained model's weights: new words, characters and entity types join "
                            "it, and its network's design is kept.", show_default=False,
        rich_help_panel="Training")] = None,
    epochs: Annotated[int | None, typer.Option(
        help=f"Most epochs to train. Default: {DEFAULT_EPOCHS}; with --train-with-dev, give it (or --epochs-from).",
        show_default=False, rich_help_panel="Training")] = None,
    patience: Annotated[int | None, typer.Option(
        help=f"Stop after this many epochs without a better dev F1. Default: {DEFAULT_PATIENCE}; none with "
             "--train-with-dev.", show_default=False, rich_help_panel="Training")] = None,
    batch_size: Annotated[int, typer.Option(help="Sentences per batch.",
                                            rich_help_panel="Training")] = TRAINING.batch_size,
    lr: Annotated[float, typer.Option(help="Adam learning rate.", rich_help_panel="Training")] = TRAINING.lr,
    lr_decay: Annotated[float, typer.Option(help="Learning rate multiplied by this after each epoch: above 0, at most 1.",
                                            rich_help_panel="Training")] = TRAINING.lr_decay,
    seed: Annotated[int, typer.Option(help="Random seed, 0 or more.", rich_help_panel="Training")] = TRAINING.seed,
    train_with_dev: Annotated[bool, typer.Option("--train-with-dev", help="Train the final model on train and "
                                                 "dev together, for --epochs or --epochs-from; no dev set is "
                                                 "left to choose an epoch on.", rich_help_panel="Training")] = False,
    epochs_from: Annotated[Path | None, typer.Option("--epochs-from", help="With --train-with-dev: train for "
                                                     "the best epoch of this model, trained with a dev set.",
                                                     show_default=False, rich_help_panel="Training")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the unfinished run in --model where it "
                                         "stopped, with the data and options it started with.",
                                         rich_help_panel="Training")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the model (or unfinished run) in "
                                            "--model.", rich_help_panel="Training")] = False,
    device: DeviceOption = RUNTIME.device,
    precision: Annotated[Precision, typer.Option(help="On CUDA, bf16 or fp16 train in mixed precision "
                                                 "(autocast); on the CPU, fp32 only.")] = Precision(RUNTIME.precision),
    timeout: Annotated[float, typer.Option(help="With several processes (torchrun): seconds each waits "
                                           "for the others before it stops with an error.")] = RUNTIME.timeout,
    threads: Annotated[int | None, typer.Option(help="torch's threads (in each process, with torchrun). "
                                                "Default: $OMP_NUM_THREADS, else the cores no other program is "
                                                "using, checked each second (Linux; 1 elsewhere).",
                                                show_default=False)] = None,
) -> None:
    """Train a tagger and save the model with the best dev F1.

    On several processes or machines: torchrun --nproc-per-node N -m tagger train ...
    """
    from rich.console import Console

    from tagger.cli.render import show_training
    from tagger.core.config import model_dir_to_train
    from tagger.data.corpus import quiet_datasets
    from tagger.data.sources import Source
    from tagger.model.modeldir import has_checkpoint
    from tagger.train.distributed import FailedElsewhere, World
    from tagger.train.records import Finished
    from tagger.train.run import resume as resume_run
    from tagger.train.run import stop_on_signals
    from tagger.train.run import train as train_model

    quiet_datasets()
    model = model or model_dir_to_train()
    world = World.from_environment()
    is_main = world.is_main
    command = "tagger train" if world.size == 1 else "torchrun ... -m tagger train"
    resume_command = f"{command} --model {shlex.quote(str(model))} --resume"
    stop = threading.Event()
    try:
        runtime = Runtime(device, precision.value, timeout, threads)
        if resume:
            if overwrite:
                raise TaggerError("--resume and --overwrite both given; --resume continues the run, --overwrite "
                                  "starts a new one: give one")
            records = resume_run(model, runtime, stop=stop, expected=_typed_settings(ctx))
        else:
            config = TrainConfig(ModelConfig(decoder=decoder.value, hidden_size=hidden_size, dropout=dropout,
                                             word_dropout=word_dropout, transformer_layers=transformer_layers.value,
                                             subword_pooling=subword_pooling.value),
                                 embeddings=embeddings, transformer=transformer, epochs=epochs, patience=patience,
                                 batch_size=batch_size,
                                 lr=lr, lr_decay=lr_decay, seed=seed, train_with_dev=train_with_dev,
                                 epochs_from=None if epochs_from is None else str(epochs_from),
                                 init_from=None if init_from is None else str(init_from))
            source = Source(data, *(None if file is None else str(file) for file in (train_file, dev_file, test_file)),
                            tokens_column=tokens_column, tags_column=tags_column)
            records = train_model(config, source, model, runtime, overwrite=overwrite, stop=stop,
                                  given=_typed_settings(ctx))
        with stop_on_signals(stop):
            end = show_training(records, Console()) if is_main else [*records][-1]  # the main process shows it
    except FailedElsewhere:
        raise typer.Exit(2) from None
    except TaggerError as error:
        raise fail(error) from None
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, mid-step
        _say_if(is_main, f"stopped at once; its last checkpoint is kept; continue with: {resume_command}"
                if has_checkpoint(model) else "stopped at once; nothing to resume")
        raise typer.Exit(130) from None
    if isinstance(end, Finished):
        if is_main:
            Console().print(f"Model saved to {model}/; tag text with: tagger predict --model "
                            f"{shlex.quote(str(model))} < file.txt", soft_wrap=True, markup=False)
        return
    kept = "its last epoch's model" if end.dev_trained else "its best model so far"
    saved = f"{kept} is kept there; " if end.best_model_saved else ""
    _say_if(is_main, f"interrupted; {saved}continue with: {resume_command}" if end.resumable
            else f"interrupted before training began; {saved}nothing to resume")
    raise typer.Exit(130)


def _typed_settings(ctx: typer.Context) -> dict[str, object]:
    """The settings of a run typed on the command line (not how to run it: --device, --threads),
    by their names in the library's settings, for a resumed run to hold against its own."""
    from tagger.train.settings import SETTING_FIELDS

    typed = {}
    for name, value in ctx.params.items():
        setting = SOURCE_OPTIONS.get(name, name)
        # By name: Typer carries its own copy of click, whose ParameterSource is not click's.
        if setting in SETTING_FIELDS and ctx.get_parameter_source(name).name == "COMMANDLINE":
            typed[setting] = str(value) if isinstance(value, Path) else getattr(value, "value", value)
    return typed


def _say_if(is_main: bool, message: str) -> None:
    if is_main:  # one process speaks for the run
        typer.echo(message, err=True)
