"""A trained model carried to new data (--init-from): it starts as the model it was, new words,
characters and entity types join it, and a setting that would change its shape is refused."""

from __future__ import annotations

import json

import numpy as np

from tagger.core.config import TrainConfig
from tagger.data import corpus
from tagger.data.sources import Source
from tagger.model.modeldir import load_model
from tagger.train.extend import extended_model, with_design_of

from conftest import invoke, refused_in_one_line, write_text

# Sentences of a new domain: a product type the model never saw, new words and a new character.
NEW_DATA = """\
Ada B-PER
bought O
a O
Zorvik B-PROD
Phone I-PROD
in O
Velden B-LOC
. O

The O
Kravö B-PROD
sold O
well O
. O

"""


def new_corpus(tmp_path):
    folder = tmp_path / "new"
    folder.mkdir()
    for name in ("train.txt", "valid.txt", "test.txt"):
        write_text(folder / name, NEW_DATA)
    return folder


def test_a_carried_model_scores_known_text_as_before_and_has_rows_for_what_is_new(trained_crf, tmp_path):
    _, model_dir, _ = trained_crf
    config = with_design_of(TrainConfig(init_from=str(model_dir), embeddings="none"))
    sentences = corpus.TrainingSentences(corpus.load_corpus(Source(str(new_corpus(tmp_path))))["train"])
    model, encoder, features, _, _ = extended_model(config, sentences, model_dir)
    old = load_model(model_dir)
    assert features is None and encoder.tags.items[:len(old.encoder.tags)] == old.encoder.tags.items
    assert {"B-PROD", "I-PROD"} <= set(encoder.tags.items) and "zorvik" in encoder.words and "ö" in encoder.chars
    text = [["Ada", "Brandt", "met", "Tomas", "Wey", "in", "Velden", "."]]
    before, transitions_before = old.model.scores(old.encoder.encode(text))
    after, transitions_after = model.scores(encoder.encode(text))
    known = len(old.encoder.tags)
    np.testing.assert_allclose(after[..., :known], before, atol=1e-5)
    np.testing.assert_allclose(transitions_after.pairs[:known, :known], transitions_before.pairs, atol=1e-6)


def test_train_init_from_learns_the_new_type_and_keeps_the_old_ones(trained_crf, tmp_path):
    _, model_dir, _ = trained_crf
    result = invoke("train", "--data", new_corpus(tmp_path), "--model", tmp_path / "carried", "--init-from", model_dir,
                    "--epochs", "2", "--lr", "0.01")
    assert result.exit_code == 0, result.output
    assert f"starting from the model in {model_dir}" in result.output
    config = json.loads((tmp_path / "carried" / "config.json").read_text())
    assert config["model"]["hidden_size"] == 32  # the model's, not the default 200
    tags = load_model(tmp_path / "carried").encoder.tags.items
    assert {"B-PER", "B-ORG", "B-LOC", "B-PROD", "I-PROD"} <= set(tags)


def test_data_in_another_scheme_is_read_in_the_models(trained_crf, tmp_path):
    _, model_dir, _ = trained_crf
    folder = tmp_path / "bioes"
    folder.mkdir()
    bioes = NEW_DATA.replace("Ada B-PER", "Ada S-PER").replace("Phone I-PROD", "Phone E-PROD") \
        .replace("Velden B-LOC", "Velden S-LOC").replace("Kravö B-PROD", "Kravö S-PROD")
    for name in ("train.txt", "valid.txt"):
        write_text(folder / name, bioes)
    result = invoke("train", "--data", folder, "--model", tmp_path / "carried", "--init-from", model_dir,
                    "--epochs", "1")
    assert result.exit_code == 0, result.output
    tags = load_model(tmp_path / "carried").encoder.tags.items
    assert "B-PROD" in tags and not any(tag[:2] in ("E-", "S-") for tag in tags)


def test_a_setting_that_changes_the_networks_shape_is_refused_naming_it(trained_crf, tmp_path):
    refused_in_one_line(trained_crf, tmp_path, ["train", "--data", "{missing}", "--model", "{missing}", "--init-from",
                                                "{model}", "--hidden-size", "64", "--decoder", "softmax"],
                        "hidden_size (--hidden-size) 64 (the model's: 32)")
    refused_in_one_line(trained_crf, tmp_path, ["train", "--data", "{missing}", "--model", "{missing}", "--init-from",
                                                "{model}", "--transformer", "minilm"], "transformer (--transformer)")


def test_a_setting_given_at_its_default_value_that_differs_from_the_models_is_refused(trained_crf, tmp_path):
    refused_in_one_line(trained_crf, tmp_path, ["train", "--data", "{missing}", "--model", "{missing}", "--init-from",
                                                "{model}", "--hidden-size", "200"],
                        "hidden_size (--hidden-size) 200 (the model's: 32)")


def test_a_folder_without_a_model_to_start_from_is_refused(trained_crf, tmp_path):
    refused_in_one_line(trained_crf, tmp_path, ["train", "--data", "{corpus}", "--model", "{missing}", "--init-from",
                                                "{tmp}"], "holds no finished model")


def test_a_resumed_run_rebuilds_from_the_model_it_saved_when_the_one_it_started_from_is_gone(trained_crf, tmp_path):
    import shutil

    from tagger.core.config import Runtime
    from tagger.train.records import Epoch, Finished
    from tagger.train.run import resume, train

    start = shutil.copytree(trained_crf[1], tmp_path / "start")
    run = train(TrainConfig(init_from=str(start), embeddings="none", epochs=2), str(new_corpus(tmp_path)),
                tmp_path / "carried", Runtime(threads=1))
    next(record for record in run if isinstance(record, Epoch))
    run.close()  # stopped after epoch 1, its extended model saved
    shutil.rmtree(start)
    records = list(resume(tmp_path / "carried", Runtime(threads=1)))
    assert isinstance(records[-1], Finished)
    assert "B-PROD" in load_model(tmp_path / "carried").encoder.tags.items
