"""`tagger eval` from the command line: the metrics, the breakdown of errors, the HTML page, and
the warnings and errors it gives."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from conftest import invoke, refused_in_one_line

from tagger.core.entities import to_scheme


@pytest.mark.parametrize("args, message", [
    (["eval", "--model", "{missing}", "--data", "{corpus}"], "none: no model there"),
    (["eval", "--model", "{model}", "--data", "{corpus}/nothing.txt"], "nothing.txt: no such file or directory"),
    (["eval", "--model", "{model}", "--data", "{corpus}", "--split", "dev2"], "no 'dev2' split"),
    (["eval", "--model", "{model}", "--data", "nonexistent_dir"], "nonexistent_dir: no such file or directory"),
    (["eval", "--model", "{model}", "--data", "{tmp}/on?.txt", "--split", "test"],
     "is one split, so --split does not apply"),
])
def test_bad_eval_input_gives_one_line_and_exit_2(trained, tmp_path, args, message):
    refused_in_one_line(trained, tmp_path, args, message)


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


def test_a_malformed_datasets_file_is_one_line_in_a_real_process(trained, tmp_path):
    _, model, _ = trained
    cut = tmp_path / "cut.jsonl"
    cut.write_text(json.dumps({"tokens": ["EU"], "ner_tags": ["B-ORG"]}) + '\n{"tokens": ["EU"], "ner_', encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "tagger", "eval", "--data", str(cut), "--model", str(model)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {cut}: not a json file datasets can read (")
    assert len(result.stderr.strip().splitlines()) == 1
