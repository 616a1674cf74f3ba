"""The `tagger` command: parses options, calls the library, prints its results and errors.

Heavy modules are imported inside each command, so `predict` never loads `datasets`,
seqeval or the training code. Every default comes from the settings in `tagger.core.config`.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import threading
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperOption

from tagger.core.config import (
    DECODERS,
    INPUT_FORMATS,
    OUTPUT_FORMATS,
    PRECISIONS,
    PREDICT_BATCH_TOKENS,
    ModelConfig,
    Runtime,
    TrainConfig,
    package_version,
)
from tagger.core.errors import TaggerError

# Help texts are rich markup, where [word] is a tag and vanishes: a bracket meant as one is
# written \\[ (tests/test_cli.py checks that every help text shows whole).
app = typer.Typer(help="Train, evaluate and run a Bi-LSTM named-entity tagger on CoNLL data.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})

# Typer's rich help gives every option its type, a flag's too: `--json <bool>` reads as if the
# flag took a value, and `--json true` fails. Its plain help, like click's, gives a flag none;
# so does the rich help from here on, for --help and for every flag a command has or gains.
_display_type_rich = getattr(TyperOption, "display_type_rich", None)  # absent: nothing to correct
if _display_type_rich is not None:
    TyperOption.display_type_rich = lambda option, ctx: None if option.is_flag else _display_type_rich(option, ctx)

TRAINING, MODEL, RUNTIME = TrainConfig(), ModelConfig(), Runtime()
ModelOption = Annotated[Path | None, typer.Option("--model", help="Model directory. Default: $TAGGER_MODEL, else "
                                                  "models/conll2003.", show_default=False, rich_help_panel="Model")]
DataOption = Annotated[str | None, typer.Option(
    help="Labelled data: a folder of files named by split (train, dev, test), one file (CoNLL, .jsonl, "
         ".json, .parquet, .csv), a quoted glob pattern, a saved dataset, or a Hugging Face dataset id "
         "(owner/name). Default: conll2003.", show_default=False, rich_help_panel="Data")]
TokensColumnOption = Annotated[str | None, typer.Option(
    help="The column of tokens in a dataset file or folder (default: tokens or words).", show_default=False,
    rich_help_panel="Data")]
TagsColumnOption = Annotated[str | None, typer.Option(
    help="The column of tags in a dataset file or folder (default: ner_tags, tags or labels).",
    show_default=False, rich_help_panel="Data")]
DeviceOption = Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N (auto: the first GPU if there is "
                                                "one, else the CPU).")]
TaggingThreadsOption = Annotated[int | None, typer.Option(
    min=1, help="Cores to tag on: a large input is tagged by this many processes, one thread each. Default: "
                "every core tagger may use.", show_default=False)]


def _tagging_processes(threads: int | None) -> int:
    """The worker processes that predict and eval tag a large input on: --threads, checked, else
    every core tagger may use."""
    from tagger.core.config import check_threads, cores

    if threads is None:
        return cores()
    check_threads(threads)
    return threads


SOURCE_OPTIONS = {"train_file": "train", "dev_file": "dev", "test_file": "test"}  # train's parameters -> Source's


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An option's choices as Typer wants them, from the one list in tagger.core.config."""
    return Enum(name, {value: value for value in values}, type=str)


Decoder, Precision = _choices("Decoder", DECODERS), _choices("Precision", PRECISIONS)
InputFormat, OutputFormat = _choices("InputFormat", INPUT_FORMATS), _choices("OutputFormat", OUTPUT_FORMATS)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"tagger {package_version()}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_print_version,
                                          help="Print tagger's version and exit.")] = False,
) -> None:
    pass  # the options of `tagger` itself; --version acts in its callback, before any command


def run() -> None:
    """The `tagger` command. An install without a package that a command needs (torch, on a
    machine meant to run exported models only) gets one line saying which, not a traceback."""
    try:
        app(prog_name="tagger")
    except ModuleNotFoundError as error:
        package = (error.name or "").split(".")[0]
        if package in ("", "tagger"):
            raise
        typer.echo(f"error: this command needs the Python package {package}, which is not installed here; "
                   "install it, or tagger with all its dependencies (see the README's Install)", err=True)
        raise SystemExit(2) from None


def _fail(error: TaggerError) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)


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
    decoder: Annotated[Decoder, typer.Option(help="crf: a linear-chain CRF over the classifier's "
                                             "logits; softmax: each token's tag from the classifier.",
                                             rich_help_panel="Model")] = Decoder(MODEL.decoder),
    hidden_size: Annotated[int, typer.Option(min=1, help="LSTM units per direction.",
                                             rich_help_panel="Model")] = MODEL.hidden_size,
    dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Dropout on LSTM inputs and outputs.",
                                           rich_help_panel="Model")] = MODEL.dropout,
    word_dropout: Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of words replaced by "
                                                "the unknown word in training.",
                                                rich_help_panel="Model")] = MODEL.word_dropout,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs to train.",
                                        rich_help_panel="Training")] = TRAINING.epochs,
    patience: Annotated[int, typer.Option(min=1, help="Stop after this many epochs without a better "
                                          "dev F1.", rich_help_panel="Training")] = TRAINING.patience,
    batch_size: Annotated[int, typer.Option(min=1, help="Sentences per batch.",
                                            rich_help_panel="Training")] = TRAINING.batch_size,
    lr: Annotated[float, typer.Option(min=0.0, help="Adam learning rate.",
                                      rich_help_panel="Training")] = TRAINING.lr,
    lr_decay: Annotated[float, typer.Option(min=0.0, max=1.0, help="Learning rate multiplied by this "
                                            "after each epoch.", rich_help_panel="Training")] = TRAINING.lr_decay,
    seed: Annotated[int, typer.Option(help="Random seed.", rich_help_panel="Training")] = TRAINING.seed,
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
                                                 "(autocast); fp32 everywhere else.")] = Precision(RUNTIME.precision),
    timeout: Annotated[float, typer.Option(min=1, help="With several processes (torchrun): seconds each waits "
                                           "for the others before it stops with an error.")] = RUNTIME.timeout,
    threads: Annotated[int | None, typer.Option(min=1, help="torch's threads (in each process, with torchrun). "
                                                "Default: $OMP_NUM_THREADS, else the cores no other program is "
                                                "using, checked each second (Linux; 1 elsewhere).", show_default=False)] = None,
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
    from tagger.train.settings import refuse_settings_unlike_the_run, with_epochs_from

    quiet_datasets()
    model = model or model_dir_to_train()
    # By name: Typer carries its own copy of click, whose ParameterSource is not click's.
    given = {SOURCE_OPTIONS.get(name, name) for name in ctx.params
             if ctx.get_parameter_source(name).name == "COMMANDLINE"}
    console = Console()
    try:
        if resume and overwrite:
            raise TaggerError("--resume and --overwrite both given; --resume continues the run, --overwrite "
                              "starts a new one: give one")
        config = TrainConfig(ModelConfig(decoder=decoder.value, hidden_size=hidden_size, dropout=dropout,
                                         word_dropout=word_dropout),
                             embeddings=embeddings, epochs=epochs, patience=patience, batch_size=batch_size, lr=lr,
                             lr_decay=lr_decay, seed=seed, train_with_dev=train_with_dev)
        config = with_epochs_from(config, given, epochs_from, model, resume)
        world = World.from_environment()
        runtime = Runtime(device, precision.value, timeout, threads)
        source = Source(data, *(str(file) if file else None for file in (train_file, dev_file, test_file)),
                        tokens_column=tokens_column, tags_column=tags_column)
        if resume:
            refuse_settings_unlike_the_run(model, config, source, given)
    except TaggerError as error:
        raise _fail(error) from None
    command = "tagger train" if world.size == 1 else "torchrun ... -m tagger train"
    resume_command = f"{command} --model {shlex.quote(str(model))} --resume"
    stop = threading.Event()
    try:
        with stop_on_signals(stop):
            records = resume_run(model, runtime, stop=stop) if resume else \
                train_model(config, source, model, runtime, overwrite=overwrite, stop=stop)
            if world.is_main:
                end = show_training(records, console)
            else:  # the main process shows the run
                *_, end = records
    except FailedElsewhere:
        raise typer.Exit(2) from None
    except TaggerError as error:
        raise _fail(error) from None
    except KeyboardInterrupt:  # a second Ctrl-C: stopped at once, mid-step
        if world.is_main:
            kept = f"its last checkpoint is kept; continue with: {resume_command}" \
                if has_checkpoint(model) else "nothing to resume"
            typer.echo(f"stopped at once; {kept}", err=True)
        raise typer.Exit(130) from None
    if isinstance(end, Finished):
        if world.is_main:
            console.print(f"Model saved to {model}/; tag text with: tagger predict --model "
                          f"{shlex.quote(str(model))} < file.txt", soft_wrap=True, markup=False)
        return
    if world.is_main:
        saved = "its best model so far is kept there; " if end.best_model_saved else ""
        if end.resumable:
            typer.echo(f"interrupted; {saved}continue with: {resume_command}", err=True)
        else:
            typer.echo(f"interrupted before training began; {saved}nothing to resume", err=True)
    raise typer.Exit(130)


@app.command("eval")
def evaluate(
    data: DataOption = None,
    split: Annotated[str | None, typer.Option(help="Split to evaluate: train, dev or test (default: test). A "
                                                 "single file is its own split and takes none.",
                                                 show_default=False, rich_help_panel="Data")] = None,
    tokens_column: TokensColumnOption = None,
    tags_column: TagsColumnOption = None,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    errors: Annotated[bool, typer.Option("--errors", help="Also break every entity down into correct, wrong "
                                         "type, wrong boundary, both wrong, missed and spurious, with a few "
                                         "examples of each (--json lists every error).")] = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write every error, in its sentence as gold "
                                              "and as predicted, to this HTML page (implies --errors); it "
                                              "opens offline in any browser.", show_default=False)] = None,
    device: DeviceOption = RUNTIME.device,
    threads: TaggingThreadsOption = None,
) -> None:
    """Evaluate a saved model: entity precision, recall and F1, overall and per type."""
    from tagger.core.config import model_dir_to_read
    from tagger.data.corpus import quiet_datasets
    from tagger.data.sources import Source
    from tagger.use.evaluation import evaluate_saved

    quiet_datasets()
    if sys.stdout is None:
        raise _fail(TaggerError("stdout is closed; send the output somewhere: > scores.txt, or | another command"))
    if html is not None:
        _check_can_write_report(html)
    try:
        processes = _tagging_processes(threads)
        source = Source(data, tokens_column=tokens_column, tags_column=tags_column)
        model = model or model_dir_to_read()
        result = evaluate_saved(model, source, split, device, with_errors=errors or html is not None,
                                processes=processes)
    except TaggerError as error:
        raise _fail(error) from None
    if result.unseen_types:
        typer.echo(f"warning: {source.location}: entity types the model was never trained on: "
                   f"{', '.join(result.unseen_types)}; their entities count as missed", err=True)
    if result.metrics.support == 0:
        typer.echo(f"warning: {source.location}: the gold tags hold no entities, so every figure is 0", err=True)
    if result.trained_on:
        typer.echo(f"warning: {model} was trained on this dev split (--train-with-dev): these scores are on "
                   "sentences it learnt from, not a measure of how it tags new text", err=True)
    where = source.location if result.split is None else f"{source.location} ({result.split})"
    if as_json:
        typer.echo(json.dumps(result.to_dict()))
    else:
        from rich.console import Console

        from tagger.cli.render import show_evaluation

        show_evaluation(result, where, Console())
    if html is not None:
        _write_report(html, result, where, model)


def _check_can_write_report(path: Path) -> None:
    """Refuse a report path that cannot be written before the model runs, not after."""
    from tagger.core.files import check_can_replace

    try:
        check_can_replace(path)
    except OSError as error:
        raise _fail(TaggerError(f"{path}: cannot write the report there ({error.strerror or error}); choose "
                                "another --html")) from None


def _write_report(path: Path, result, where: str, model: Path) -> None:
    from tagger.core.files import write_text_replacing
    from tagger.use.html import evaluation_page

    try:
        write_text_replacing(path, evaluation_page(result, where, model))
    except OSError as error:
        raise _fail(TaggerError(f"{path}: could not write the report ({error.strerror or error})")) from None
    typer.echo(f"Every error written to {path}; open it in any browser", err=True)


@app.command()
def predict(
    model: ModelOption = None,
    input_file: Annotated[Path | None, typer.Option("--input", help="Read this file instead of stdin (- for stdin).",
                                                       show_default=False, rich_help_panel="Input")] = None,
    input_format: Annotated[InputFormat, typer.Option(
        help="text: raw text, split into sentences and tokens; tokenized: a sentence per line, tokens "
             "separated by spaces; conll: a token per line in the first column, a blank line after each "
             "sentence, other columns kept.", rich_help_panel="Input")] = InputFormat.text,
    tokenized: Annotated[bool, typer.Option("--tokenized", help="Short for --input-format tokenized.",
                                            rich_help_panel="Input")] = False,
    output_format: Annotated[OutputFormat, typer.Option("--format", help="conll: token<TAB>tag (CoNLL input: "
                             "its rows with the tag added as a last column); jsonl: a JSON object per sentence; "
                             "inline: \\[text](TYPE); html: one page to open in a browser.",
                             rich_help_panel="Output")] = OutputFormat.conll,
    min_score: Annotated[float, typer.Option(min=0.0, max=1.0, help="Leave out entities the model gives a "
                         "lower probability than this (jsonl shows each entity's score).",
                         rich_help_panel="Output")] = 0.0,
    batch_size: Annotated[int, typer.Option(min=1, help="Tokens tagged at a time (fewer: less memory; input "
                                            "that arrives slowly is tagged as it comes).")] = PREDICT_BATCH_TOKENS,
    device: DeviceOption = RUNTIME.device,
    threads: TaggingThreadsOption = None,
) -> None:
    """Tag raw UTF-8 text from stdin (or --input), streaming, and write it to stdout."""
    from tagger.core.config import model_dir_to_read
    from tagger.data.text import open_input
    from tagger.use.formats import FORMATS, progress_on_terminal, write_tagged
    from tagger.use.memory import keep_heap_flat
    from tagger.use.predict import Tagger

    if tokenized and input_format not in (InputFormat.text, InputFormat.tokenized):
        raise _fail(TaggerError(f"--tokenized and --input-format {input_format.value} both given; give one"))
    if sys.stdout is None:
        raise _fail(TaggerError("stdout is closed; send the output somewhere: > file.txt, or | another command"))
    reading_stdin = input_file is None or str(input_file) == "-"
    keep_heap_flat()  # so memory does not grow with the length of the stream
    try:
        processes = _tagging_processes(threads)
        stream = open_input(None if reading_stdin else input_file)
        tagger = Tagger.load(model or model_dir_to_read(), device)
        with stream, progress_on_terminal() as advance:
            write_tagged(tagger, stream, "<stdin>" if reading_stdin else str(input_file),
                         "tokenized" if tokenized else input_format.value, FORMATS[output_format.value], sys.stdout,
                         min_score=min_score, batch_size=batch_size, processes=processes, advance=advance)
    except TaggerError as error:
        raise _fail(error) from None
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        _drop_unwritten_output()
        raise typer.Exit(1) from None
    except OSError as error:
        if error.filename is not None:  # reading the input
            raise _fail(TaggerError(f"{error.filename}: {error.strerror}; give a text file with --input or pipe "
                                    "text to stdin")) from None
        _drop_unwritten_output()
        raise _fail(TaggerError(f"cannot write the output: {error.strerror or error}")) from None


@app.command()
def export(
    to: Annotated[Path, typer.Option("--to", help="The new directory to write the exported model to.",
                                     show_default=False)],
    model: ModelOption = None,
) -> None:
    """Export a model to ONNX: a model directory that predict, eval and tagger.load() run with
    onnxruntime, without torch."""
    from tagger.core.config import model_dir_to_read
    from tagger.use.export import check_target
    from tagger.use.export import export as export_model

    try:
        model = model or model_dir_to_read()
        check_target(to, model)
        export_model(model, to)
    except TaggerError as error:
        raise _fail(error) from None
    typer.echo(f"Exported {model} to {to}/; it runs without torch: tagger predict --model {shlex.quote(str(to))} "
               "< file.txt", err=True)


def _drop_unwritten_output() -> None:
    """Point stdout at /dev/null, so that the exit's flush of what could not be written fails no more."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
