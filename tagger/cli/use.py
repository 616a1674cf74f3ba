"""`tagger eval`, `tagger predict` and `tagger export`: using a trained model from the shell."""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Annotated

import typer

from tagger.cli.app import (DataOption, DeviceOption, InputFormat, ModelOption, OutputFormat, TaggingThreadsOption,
                            TagsColumnOption, TokensColumnOption, app, fail, tagging_processes)
from tagger.core.config import PREDICT_BATCH_TOKENS, Runtime
from tagger.core.errors import TaggerError

RUNTIME = Runtime()


@app.command("eval")
def evaluate(
    data: DataOption = None,
    split: Annotated[str | None, typer.Option(help="Split to evaluate: train, dev or test (default: test). A "
                                                 "single file is its own split and takes none.",
                                                 show_default=False, rich_help_panel="Data")] = None,
    tokens_column: TokensColumnOption = None,
    tags_column: TagsColumnOption = None,
    model: ModelOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table: f1, "
                                          "precision and recall as fractions (0.8957) in seqeval's default (conlleval) "
                                          "mode, support as gold entities, per_type, and more (see the README).")] = False,
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
        raise fail(TaggerError("stdout is closed; send the output somewhere: > scores.txt, or | another command"))
    if html is not None:
        _check_can_write_report(html)
    try:
        processes = tagging_processes(threads)
        source = Source(data, tokens_column=tokens_column, tags_column=tags_column)
        model = model or model_dir_to_read()
        result = evaluate_saved(model, source, split, device, with_errors=errors or html is not None,
                                processes=processes)
    except TaggerError as error:
        raise fail(error) from None
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
        raise fail(TaggerError(f"{path}: cannot write the report there ({error.strerror or error}); choose "
                                "another --html")) from None


def _write_report(path: Path, result, where: str, model: Path) -> None:
    from tagger.core.files import write_text_replacing
    from tagger.use.html import evaluation_page

    try:
        write_text_replacing(path, evaluation_page(result, where, model))
    except OSError as error:
        raise fail(TaggerError(f"{path}: could not write the report ({error.strerror or error})")) from None
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
    """Tag UTF-8 text from stdin (or --input), streaming, to stdout: raw text, a sentence of tokens a line, or CoNLL columns."""
    from tagger.core.config import model_dir_to_read
    from tagger.data.text import open_input
    from tagger.use.formats import FORMATS, progress_on_terminal, write_tagged
    from tagger.use.memory import keep_heap_flat
    from tagger.use.predict import Tagger

    if tokenized and input_format not in (InputFormat.text, InputFormat.tokenized):
        raise fail(TaggerError(f"--tokenized and --input-format {input_format.value} both given; give one"))
    if sys.stdout is None:
        raise fail(TaggerError("stdout is closed; send the output somewhere: > file.txt, or | another command"))
    reading_stdin = input_file is None or str(input_file) == "-"
    keep_heap_flat()  # so memory does not grow with the length of the stream
    try:
        processes = tagging_processes(threads)
        stream = open_input(None if reading_stdin else input_file)
        tagger = Tagger.load(model or model_dir_to_read(), device)
        with stream, progress_on_terminal() as advance:
            write_tagged(tagger, stream, "<stdin>" if reading_stdin else str(input_file),
                         "tokenized" if tokenized else input_format.value, FORMATS[output_format.value], sys.stdout,
                         min_score=min_score, batch_size=batch_size, processes=processes, advance=advance)
    except TaggerError as error:
        raise fail(error) from None
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as Unix tools do
        _drop_unwritten_output()
        raise typer.Exit(1) from None
    except OSError as error:
        if error.filename is not None:  # reading the input
            raise fail(TaggerError(f"{error.filename}: {error.strerror}; give a text file with --input or pipe "
                                    "text to stdin")) from None
        _drop_unwritten_output()
        raise fail(TaggerError(f"cannot write the output: {error.strerror or error}")) from None


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
        raise fail(error) from None
    typer.echo(f"Exported {model} to {to}/; it runs without torch: tagger predict --model {shlex.quote(str(to))} "
               "< file.txt", err=True)


def _drop_unwritten_output() -> None:
    """Point stdout at /dev/null, so that the exit's flush of what could not be written fails no more."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
