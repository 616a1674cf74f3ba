"""The command line as a whole: a real process for each command exits 2 with one line and no
traceback, --version stays light, and every help text reads whole."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import runner

from tagger.cli import app


@pytest.mark.parametrize("command", [
    ["eval", "--data", "{corpus}/nothing.txt", "--model", "{model}"],
    ["predict", "--input", "{corpus}/nothing.txt", "--model", "{model}"],
    ["train", "--train", "{corpus}/train.txt", "--dev", "{corpus}/nothing.txt", "--model", "{corpus}/new"],
])
def test_a_real_process_exits_2_with_one_line_and_no_traceback(trained, command):
    corpus, model, _ = trained
    result = subprocess.run([sys.executable, "-m", "tagger", *[a.format(corpus=corpus, model=model) for a in command]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr and result.stdout == ""


def _commands():
    """(arguments, click command, context) for `tagger` itself and for each of its commands, found
    from the app, so that commands and options added later are checked too."""
    import typer

    group = typer.main.get_command(app)
    group_context = group.make_context("tagger", [], resilient_parsing=True)
    yield [], group, group_context
    for name, command in group.commands.items():
        yield [name], command, command.make_context(name, [], parent=group_context, resilient_parsing=True)


def _help(arguments: list[str]) -> str:
    result = runner.invoke(app, [*arguments, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def _flattened(text: str) -> str:
    """Help text without the panels' borders and line breaks, as one line of words."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", text).split())


def test_version_prints_tagger_and_its_version_without_loading_torch_in_a_real_process():
    from importlib.metadata import version

    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "tagger", "--version"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"tagger {version('tagger')}\n"
    imported = re.findall(r"^import time:.*\|\s*(\S+)$", result.stderr, re.M)
    assert "tagger.cli" in imported
    assert not [name for name in imported if name.split(".")[0] in ("torch", "datasets")]


@pytest.mark.parametrize("arguments", [arguments for arguments, _, _ in _commands()], ids=" ".join)
def test_dash_h_is_help(arguments):
    result = runner.invoke(app, [*arguments, "-h"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.stdout == _help(arguments)
    assert result.stdout.lstrip().startswith("Usage: ")


def test_help_shows_flags_as_flags_with_no_value_after_them():
    """A flag's row holds its names, then its help: no `<bool>` (or any other metavar) between,
    which would read as if the flag took a value."""
    flags = set()
    for arguments, command, context in _commands():
        rows = _help(arguments).splitlines()
        for option in command.get_params(context):
            if not getattr(option, "is_flag", False):
                continue
            name = max(option.opts, key=len)
            flags.add(name)
            # A command with a required option marks it with a * before its names.
            row = next(row for row in rows if re.match(rf"│[ *]+{re.escape(name)}\s", row))
            names = row.split(option.help.split()[0])[0] if option.help else row
            assert all(word.startswith("-") for word in names.strip("│ *").split()), (arguments, row)
    assert {"--help", "--version", "--json", "--errors", "--tokenized", "--resume", "--overwrite"} <= flags


def test_help_texts_render_whole():
    """Help is shown as written: rich markup would eat a [word] (a tag to it), so a help text that
    means brackets escapes them (`\\[`), and shows them here."""
    for arguments, command, context in _commands():
        shown = _flattened(_help(arguments))
        texts = [paragraph for paragraph in (command.help or "").split("\n\n") if paragraph]
        texts += [option.help for option in command.get_params(context) if option.help]
        for text in texts:
            assert _flattened(text.replace("\\[", "[")) in shown, (arguments, text)
    predict_help = _flattened(_help(["predict"]))
    assert "inline: [text](TYPE);" in predict_help and "[default: conll]" in predict_help
