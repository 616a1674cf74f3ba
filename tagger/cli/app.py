"""The `tagger` command: parses options, calls the library, prints its results and errors.

Heavy modules are imported inside each command, so `predict` never loads `datasets`,
seqeval or the training code. Every default comes from the settings in `tagger.core.config`.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperOption

from tagger.core.config import (DECODERS, INPUT_FORMATS, OUTPUT_FORMATS, PRECISIONS, SUBWORD_POOLING,
                                TRANSFORMER_LAYERS, package_version)
from tagger.core.errors import TaggerError

# Help texts are rich markup, where [word] is a tag and vanishes: a bracket meant as one is
# written \\[ (a test checks that every help text shows whole).
app = typer.Typer(help="Train, evaluate and run a Bi-LSTM named-entity tagger on your labelled data.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  context_settings={"help_option_names": ["-h", "--help"]})

# Typer's rich help gives every option its type, a flag's too: `--json <bool>` reads as if the
# flag took a value, and `--json true` fails. Its plain help, like click's, gives a flag none;
# so does the rich help from here on, for --help and for every flag a command has or gains.
_display_type_rich = getattr(TyperOption, "display_type_rich", None)  # absent: nothing to correct
if _display_type_rich is not None:
    TyperOption.display_type_rich = lambda option, ctx: None if option.is_flag else _display_type_rich(option, ctx)

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


def tagging_processes(threads: int | None) -> int:
    """The worker processes that predict and eval tag a large input on: --threads, checked, else
    every core tagger may use."""
    from tagger.core.config import check_threads, cores

    if threads is None:
        return cores()
    check_threads(threads)
    return threads


def _choices(name: str, values: tuple[str, ...]) -> type[Enum]:
    """An option's choices as Typer wants them, from the one list in tagger.core.config."""
    return Enum(name, {value: value for value in values}, type=str)


Decoder, Precision = _choices("Decoder", DECODERS), _choices("Precision", PRECISIONS)
TransformerLayers = _choices("TransformerLayers", TRANSFORMER_LAYERS)
SubwordPooling = _choices("SubwordPooling", SUBWORD_POOLING)
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


def fail(error: TaggerError) -> typer.Exit:
    """The exit for a TaggerError: its one line on stderr, exit code 2."""
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(2)
