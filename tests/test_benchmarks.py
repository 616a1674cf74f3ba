"""The speed benchmark on tiny inputs, so that it cannot rot between the runs that matter."""

from __future__ import annotations

import json

from conftest import train_small


def test_speed_benchmark_measures_every_figure_on_a_tiny_corpus(tmp_path, capsys):
    from benchmarks.speed import main

    corpus, model, _ = train_small(tmp_path, "softmax")
    figures = tmp_path / "speed.json"
    main(["--model", str(model), "--data", str(corpus), "--no-spacy", "--runs", "1", "--repeat", "1",
          "--train-epochs", "1", "--json", str(figures)])
    report = json.loads(figures.read_text())
    rows = {row["name"]: row for row in report["rows"]}
    assert set(rows) == {"predict end to end", "predict peak RSS", "start-up, one sentence",
                         "model only (pre-tokenised)", "training epoch", "training", "training peak RSS",
                         "model directory"}
    # On a text this small, throughput past start-up is within start-up's noise: not checked.
    assert all(row["tagger"] > 0 for row in report["rows"] if row["name"] != "predict end to end")
    assert rows["model only (pre-tokenised)"]["other"] > 0 and rows["training epoch"]["other"] > 0
    assert report["tokens"]["text"] == report["tokens"]["test"] > 0
    assert "start-up < 2 s" in report["targets"]
    assert "start-up < 2 s" in capsys.readouterr().out


def test_distributed_benchmark_measures_one_and_two_processes(tmp_path):
    from benchmarks.distributed import main
    from conftest import write_corpus

    corpus = write_corpus(tmp_path / "corpus", train=100, dev=10)
    rows = main(["--data", str(corpus), "--processes", "1", "2", "--copies", "1", "2", "--steps", "6", "--runs", "1",
                 "--embeddings", "none", "--hidden-size", "16"])
    assert [(row["copies"], row["processes"]) for row in rows] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert [row["train_sentences"] for row in rows] == [100, 100, 200, 200]
    assert all(row["tokens_per_second"] > 0 and len(row["peak_rss_mb"]) == row["processes"] for row in rows)
