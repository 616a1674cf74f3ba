"""Contextual features from a transformer (--transformer): read whole however long the sentence,
the same whatever else is in the batch, kept in the model directory so that it predicts
anywhere, and every way it can go wrong said in one line."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

import tagger
from tagger.core.config import ModelConfig
from tagger.model.transformer import TransformerFeatures, _windows

from conftest import invoke, make_sentences, says, write_conll

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def transformer_model(tiny_transformer, tmp_path_factory):
    """A tiny model trained with the tiny transformer's features (mixed from its last four
    layers), from a copy of the transformer that is gone once training ends: (corpus, model)."""
    root = tmp_path_factory.mktemp("with-transformer")
    source = shutil.copytree(tiny_transformer, root / "bert")
    corpus = root / "corpus"
    corpus.mkdir()
    write_conll(corpus / "train.txt", make_sentences(60, seed=1))
    write_conll(corpus / "valid.txt", make_sentences(15, seed=2))
    write_conll(corpus / "test.txt", make_sentences(15, seed=3))
    model = root / "model"
    result = invoke("train", "--data", corpus, "--model", model, "--transformer", source, "--transformer-layers",
                    "mix4", "--epochs", "2", "--embeddings", "none", "--hidden-size", "16", "--lr", "0.01")
    assert result.exit_code == 0, result.output
    assert f"contextual features from {source} (learnt mix of the last 4 of 4 layers, first sub-word, 16 wide)" \
        in result.output
    shutil.rmtree(source)
    return corpus, model


def features_of(folder, sentences, **settings):
    return TransformerFeatures.load(str(folder), ModelConfig(**settings)).features(sentences)


def test_windows_give_every_subword_once_from_a_window_where_it_has_context_on_both_sides():
    for limit in range(2, 14):
        for count in range(0, 70):
            windows = _windows(count, limit)
            given = [position for _, _, start, end in windows for position in range(start, end)]
            assert given == list(range(count))
            for read_from, read_to, start, end in windows:
                assert read_to - read_from <= limit and read_from <= start <= end <= read_to
                for position in range(start, end):
                    before = position - read_from if read_from > 0 else limit
                    after = read_to - 1 - position if read_to < count else limit
                    assert min(before, after) >= limit // 4 - 1, (limit, count, position)


def test_a_sentence_longer_than_the_transformer_reads_at_once_gets_features_for_every_token(tiny_transformer):
    long = ["Ada", "Brandt", "met", "Tomas", "Wey", "in", "Velden"] * 12  # about 200 word pieces; the window is 20
    [features] = features_of(tiny_transformer, [long])
    assert features.shape == (len(long), 4, 16)  # the last four layers, for the network to mix
    assert np.all(np.abs(features).sum(axis=(1, 2)) > 0)


def test_a_sentences_features_do_not_depend_on_the_sentences_read_with_it(tiny_transformer):
    short = ["Ivo", "met", "Ada", "."]
    alone = features_of(tiny_transformer, [short])[0]
    together = features_of(tiny_transformer, [["Norvik", "Bank", "said", "Lina", "Okoro", "will", "visit"] * 3,
                                              short, ["Kessy"]])[1]
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_a_words_features_come_from_its_first_subword_or_the_mean_of_them(tiny_transformer):
    sentence = ["Ada", "met", "in"]  # a ##d ##a; met; in
    first = features_of(tiny_transformer, [sentence], subword_pooling="first")[0]
    mean = features_of(tiny_transformer, [sentence], subword_pooling="mean")[0]
    assert not np.allclose(first[0], mean[0]) and np.allclose(first[1:], mean[1:])
    mixed = features_of(tiny_transformer, [sentence], transformer_layers="mix4")[0]
    assert mixed.shape == (3, 4, 16)


def test_a_model_with_a_transformer_keeps_it_and_predicts_without_the_folder_it_came_from(transformer_model):
    corpus, model = transformer_model
    config = json.loads((model / "config.json").read_text())
    assert config["dimensions"]["feature_dim"] == 16 and config["model"]["transformer_layers"] == "mix4"
    assert set(config["transformer_sha256"]) >= {"config.json", "model.safetensors", "tokenizer.json"}
    nlp = tagger.load(model)
    doc = nlp("Ada Brandt met Tomas Wey in Velden on Monday.")
    assert doc.tokens[:3] == ["Ada", "Brandt", "met"] and len(doc.tags) == len(doc.tokens)
    predicted = invoke("predict", "--model", model, input="Ada Brandt met Tomas Wey in Velden on Monday.\n")
    assert predicted.exit_code == 0, predicted.output
    assert [line.split("\t")[1] for line in predicted.stdout.splitlines() if line] == doc.tags
    scored = invoke("eval", "--model", model, "--data", corpus, "--json")
    assert scored.exit_code == 0, scored.output
    assert json.loads(scored.stdout)["sentences"] == 15


def test_a_model_directory_whose_transformer_is_missing_or_damaged_says_so(transformer_model, tmp_path):
    _, model = transformer_model
    damaged = shutil.copytree(model, tmp_path / "damaged")
    with (damaged / "transformer" / "model.safetensors").open("r+b") as weights:
        weights.seek(-8, 2)
        weights.write(b"\0" * 8)
    says(invoke("predict", "--model", damaged, input="Ada met Ivo.\n"), damaged / "transformer" / "model.safetensors",
         "damaged")
    missing = shutil.copytree(model, tmp_path / "missing")
    shutil.rmtree(missing / "transformer")
    says(invoke("predict", "--model", missing, input="Ada met Ivo.\n"), missing / "transformer", "missing")


def test_without_the_transformers_package_a_transformer_is_one_line_naming_what_to_install(
        transformer_model, tmp_path, monkeypatch):
    corpus, model = transformer_model
    monkeypatch.setitem(sys.modules, "transformers", None)  # as if it were not installed
    result = invoke("train", "--data", corpus, "--model", tmp_path / "new", "--transformer", "minilm")
    assert result.exit_code == 2 and "pip install -e '.[transformer]'" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and not (tmp_path / "new").exists()
    says(invoke("predict", "--model", model, input="Ada met Ivo.\n"), model, "pip install -e '.[transformer]'")


def test_a_transformer_that_is_not_a_model_folder_is_refused_before_the_data_is_read(corpus_dir, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    says(invoke("train", "--data", tmp_path / "no-data", "--model", tmp_path / "m", "--transformer", empty), empty,
         "not a Hugging Face model folder")
    says(invoke("train", "--data", corpus_dir, "--model", tmp_path / "m", "--transformer", "./no/such/folder"),
         "./no/such/folder", "no such folder")
    assert not (tmp_path / "m").exists()


def test_export_refuses_a_model_with_a_transformer_in_one_line(transformer_model, tmp_path):
    _, model = transformer_model
    says(invoke("export", "--model", model, "--to", tmp_path / "onnx"), model, "does not convert")
    assert not (tmp_path / "onnx").exists()


def test_a_transformer_folder_with_damaged_weights_or_foreign_tokenizer_files_is_one_line(tiny_transformer, corpus_dir,
                                                                                          tmp_path):
    damaged = shutil.copytree(tiny_transformer, tmp_path / "damaged")
    with (damaged / "model.safetensors").open("r+b") as weights:
        weights.truncate(100)
    says(invoke("train", "--data", corpus_dir, "--model", tmp_path / "m", "--transformer", damaged), damaged,
         "cannot load it as a Hugging Face transformer")
    foreign = shutil.copytree(tiny_transformer, tmp_path / "foreign")
    pieces = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b"]
    transformers.BertTokenizer(vocab={piece: number for number, piece in enumerate(pieces)}).save_pretrained(foreign)
    says(invoke("train", "--data", corpus_dir, "--model", tmp_path / "m", "--transformer", foreign), foreign,
         "missing or do not belong to the model")
    assert not (tmp_path / "m").exists()


def test_options_for_a_transformer_without_one_are_refused(corpus_dir, tmp_path):
    result = invoke("train", "--data", corpus_dir, "--model", tmp_path / "m", "--transformer-layers", "last")
    assert result.exit_code == 2 and "transformer_layers (--transformer-layers) is for a transformer" in result.stderr
    typed_at_default = invoke("train", "--data", corpus_dir, "--model", tmp_path / "m", "--subword-pooling", "first")
    assert typed_at_default.exit_code == 2 and "subword_pooling (--subword-pooling): for a transformer" in \
        typed_at_default.stderr
    assert not (tmp_path / "m").exists()


def test_a_resumed_run_reads_the_transformer_it_kept_when_the_folder_it_came_from_is_gone(tiny_transformer, corpus_dir,
                                                                                         tmp_path):
    from tagger.core.config import Runtime, TrainConfig
    from tagger.train.records import Epoch, Finished
    from tagger.train.run import resume, train

    source = shutil.copytree(tiny_transformer, tmp_path / "bert")
    config = TrainConfig(ModelConfig(hidden_size=16), embeddings="none", transformer=str(source), epochs=2)
    run = train(config, str(corpus_dir), tmp_path / "m", Runtime(threads=1))
    next(record for record in run if isinstance(record, Epoch))
    run.close()  # stopped after epoch 1, its model saved with the transformer
    shutil.rmtree(source)
    records = list(resume(tmp_path / "m", Runtime(threads=1)))
    assert isinstance(records[-1], Finished) and records[-1].best_epoch in (1, 2)
