"""The benchmark scripts, run as their docs say, on tiny inputs: so that they cannot rot between
the runs that matter. Marked `benchmark`: `python -m pytest -m benchmark`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import train_small, write_corpus

pytestmark = pytest.mark.benchmark
BENCHMARKS = Path(__file__).parent / "benchmarks"


def run_script(name: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_speed_benchmark_measures_every_figure_on_a_tiny_corpus(tmp_path):
    corpus, model, _ = train_small(tmp_path, "softmax")
    figures = tmp_path / "speed.json"
    output = run_script("speed.py", "--model", str(model), "--data", str(corpus), "--no-spacy", "--runs", "1",
                        "--repeat", "1", "--train-epochs", "1", "--busy", "--json", str(figures))
    report = json.loads(figures.read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {f"{name}{path}" for path in ("", ", ONNX") for name in
                         ("predict end to end", "predict peak memory", "start-up, one sentence",
                          "model only (pre-tokenised)", "model directory")} | \
        {"training epoch", "training", "training peak memory"}
    # On a text this small, throughput past start-up is within start-up's noise: not checked.
    assert all(row["tagger"] > 0 for row in report["rows"] if not row["name"].startswith("predict end to end"))
    assert rows["model only (pre-tokenised)"]["other"] > 0 and rows["training epoch"]["other"] > 0
    assert report["tokens"]["text"] == report["tokens"]["test"] > 0
    assert "start-up, ONNX <= 0.5 s" in report["targets"] and "start-up, ONNX <= 0.5 s" in output
    assert rows["training"]["busy"] > 0 and rows["predict end to end, ONNX"]["busy_ratio"] is not None


def test_threads_benchmark_measures_each_way_quiet_and_busy(tmp_path):
    corpus, model, _ = train_small(tmp_path, "crf")
    figures = tmp_path / "threads.json"
    run_script("threads.py", "--model", str(model), "--data", str(corpus), "--steps", "2", "--repeat", "1", "--runs",
               "1", "--json", str(figures))
    rows = json.loads(figures.read_text())
    assert [(row["command"], row["threads"]) for row in rows] == [("train", "1"), ("train", "2"), ("train", "default"),
                                                                  ("predict", "1"), ("predict", "default")]
    assert all(row["quiet"] > 0 and row["busy"] > 0 for row in rows)


def test_predict_stages_benchmark_times_every_stage(small_model, tmp_path):
    corpus = write_corpus(tmp_path / "corpus", train=10, dev=0)
    output = run_script("predict_stages.py", "--model", str(small_model), "--text", str(corpus / "train.txt"),
                        "--repeat", "1", "--runs", "1")
    assert all(stage in output for stage in ("tokenising", "encoding", "network", "decoding", "writing"))


def test_export_check_compares_every_sentence(tmp_path):
    corpus, model, _ = train_small(tmp_path, "crf")
    output = run_script("export_check.py", "--model", str(model), "--data", str(corpus))
    assert output.startswith("20 sentences, ") and "tags differ in 0 sentences tokenised and 0 as raw text" in output


def test_size_levers_score_each_choice_on_a_format_2_model():
    fixture = Path(__file__).parent / "fixtures" / "format-2"
    output = run_script("size_levers.py", "--model", str(fixture / "model"), "--data", str(fixture / "corpus"),
                        "all:16", "2:4:compact")
    rows = [json.loads(line) for line in output.splitlines()]
    assert [row["choice"] for row in rows] == ["all:16", "2:4:compact"]
    assert all(0 < row["valid"] <= 100 and 0 < row["test"] <= 100 for row in rows)


def test_distributed_benchmark_measures_one_and_two_processes(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", train=100, dev=10)
    figures = tmp_path / "distributed.json"
    run_script("distributed.py", "--data", str(corpus), "--processes", "1", "2", "--copies", "1", "2", "--steps", "6",
               "--runs", "1", "--embeddings", "none", "--hidden-size", "16", "--json", str(figures))
    rows = json.loads(figures.read_text())
    assert [(row["copies"], row["processes"]) for row in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert [row["train_sentences"] for row in rows] == [100, 100, 200, 200]
    assert all(row["tokens_per_second"] > 0 and len(row["peak_rss_mb"]) == row["processes"] for row in rows)


def test_stream_memory_benchmark_measures_each_size(tmp_path):
    corpus, model, _ = train_small(tmp_path, "softmax")
    output = run_script("stream_memory.py", "--model", str(model), "--text", str(corpus / "test.txt"),
                        "--megabytes", "0.1", "0.2")
    lines = output.splitlines()
    assert len(lines) == 2 and lines[0].startswith("0 MB: peak RSS ") and "(1.00x the first)" in lines[0]


def test_tokenizer_benchmark_counts_sentences_and_tokens(tmp_path):
    corpus = write_corpus(tmp_path / "corpus", train=10, dev=0)
    output = run_script("tokenizer.py", "--text", str(corpus / "train.txt"), "--runs", "1")
    assert output.startswith("10 sentences, ") and "CoNLL's own tokens for 10, kept as one sentence 10;" in output


def test_latency_benchmark_times_each_line(small_model):
    output = run_script("latency.py", "--model", str(small_model), "--lines", "3", "--pause", "0.1")
    assert output.startswith("3 lines: median ") and "ms from a line's write to its tags" in output


def test_latin_names_benchmark_scores_both_spellings(small_model):
    output = run_script("latin_names.py", "--model", str(small_model))
    assert output.startswith("with marks: 30 sentences, entity F1 ") and "without marks: 30 sentences" in output
    assert "tagged alike with and without marks: " in output


def test_init_from_benchmark_trains_from_scratch_and_from_the_model(small_model, tmp_path):
    corpus = write_corpus(tmp_path / "corpus", train=60, dev=0) / "train.txt"
    output = run_script("init_from.py", "--corpus", str(corpus), "--base", str(small_model), "--sizes", "20",
                        "--seeds", "1", "--work", str(tmp_path / "runs"), "--options", "--epochs 1 --embeddings none")
    assert "| 20 | from scratch | " in output and f"| 20 | --init-from {small_model} | " in output


def test_transformer_precision_benchmark_scores_each_precision(tiny_transformer, tmp_path):
    from conftest import invoke

    corpus = write_corpus(tmp_path / "corpus", train=30, dev=10, test=10)
    model = tmp_path / "model"
    trained = invoke("train", "--data", corpus, "--model", model, "--transformer", tiny_transformer, "--epochs", "1",
                     "--embeddings", "none", "--hidden-size", "8")
    assert trained.exit_code == 0, trained.output
    output = run_script("transformer_precision.py", "--model", str(model), "--test", str(corpus / "test.txt"),
                        "--precisions", "fp32", "bf16")
    assert output.startswith("fp32: test F1 ") and "\nbf16: test F1 " in output
