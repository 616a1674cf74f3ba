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
