"""The CoNLL reader on every format variant and every malformed case."""

from __future__ import annotations

import pytest

from tagger.data import TrainingSentences, load_corpus, load_split, tag_sequences
from tagger.entities import to_iob2
from tagger.errors import DataError

from conftest import make_sentences, write_conll

SENTENCES = make_sentences(5, seed=7)


def tokens_and_tags(dataset):
    return list(zip(dataset["tokens"], tag_sequences(dataset)))


def expected():
    return [([t for t, _ in s], [g for _, g in s]) for s in SENTENCES]


@pytest.mark.parametrize("columns, separator, docstart", [(4, " ", True), (2, " ", False), (2, "\t", False),
                                                          (3, "\t", True), (6, " ", False)])
def test_reads_every_column_layout(tmp_path, columns, separator, docstart):
    path = write_conll(tmp_path / "train.txt", SENTENCES, columns, separator, docstart)
    assert tokens_and_tags(load_split(str(path), "test")) == expected()


def test_directory_splits_by_conventional_names(tmp_path):
    for name, seed in (("eng.train", 1), ("eng.testa", 2), ("eng.testb", 3)):
        write_conll(tmp_path / name, make_sentences(3, seed))
    corpus = load_corpus(str(tmp_path))
    assert set(corpus) == {"train", "validation", "test"}
    assert corpus["validation"].num_rows == 3


def test_iob1_becomes_iob2(tmp_path):
    path = tmp_path / "iob1.txt"
    path.write_text("John I-PER\nSmith I-PER\nvisited O\nNew I-LOC\nYork I-LOC\nand O\n"
                    "Paris I-LOC\nBerlin B-LOC\n\n", encoding="utf-8")
    assert tag_sequences(load_split(str(path), "test")) == [
        ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-LOC", "B-LOC"]]


def test_bioes_is_kept(tmp_path):
    path = tmp_path / "bioes.txt"
    path.write_text("Ada S-PER\nmet O\nNew B-LOC\nYork E-LOC\n\n", encoding="utf-8")
    assert tag_sequences(load_split(str(path), "test")) == [["S-PER", "O", "B-LOC", "E-LOC"]]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_every_line_end_reads_the_same(tmp_path, line_end):
    path = tmp_path / "f.txt"
    path.write_bytes(line_end.join(["-DOCSTART- -X- O", "", "Ada NNP B-PER", "met VBD O", "", "Ivo NNP B-PER", ""])
                     .encode())
    split = load_split(str(path), "test")
    assert split["tokens"] == [["Ada", "met"], ["Ivo"]]
    assert tag_sequences(split) == [["B-PER", "O"], ["B-PER"]]


def test_to_iob2_leaves_iob2_alone():
    tags = ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert to_iob2(tags) == tags


@pytest.mark.parametrize("content, line, message", [
    ("EU NNP B-ORG\nrejects VBZ O\nGerman\n\n", 3, "1 columns, expected 3"),
    ("EU NNP B-ORG\nrejects VBZ\n\n", 2, "2 columns, expected 3"),
    ("EU NNP B-ORG\nrejects VBZ O X\n\n", 2, "4 columns, expected 3"),
    ("EU NNP B-ORG\n\nrejects VBZ ORG\n", 3, "'ORG' is not a tag"),
    ("EU NNP X-ORG\n", 1, "'X-ORG' is not a tag"),
    ("-DOCSTART- -X- O\n\nEU\n", 3, "one column"),
])
def test_malformed_line_is_named(tmp_path, content, line, message):
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as error:
        load_split(str(path), "test")
    assert f"{path}:{line}:" in str(error.value)


def test_a_split_may_be_a_folder_of_files_and_a_glob_makes_a_train_split(tmp_path):
    corpus = tmp_path / "corpus"
    (corpus / "train").mkdir(parents=True)
    write_conll(corpus / "train" / "part-1.txt", SENTENCES[:2])
    write_conll(corpus / "train" / "part-2.txt", SENTENCES[2:], docstart=True)
    write_conll(corpus / "valid.txt", SENTENCES[:1])
    loaded = load_corpus(str(corpus))
    assert set(loaded) == {"train", "validation"} and tokens_and_tags(loaded["train"]) == expected()
    assert tokens_and_tags(load_corpus(str(corpus / "train" / "part-*.txt"))["train"]) == expected()
    with pytest.raises(DataError, match="matches no files"):
        load_corpus(str(corpus / "train" / "*.conll"))


def test_an_error_in_one_of_many_files_names_that_file_and_line(tmp_path):
    write_conll(tmp_path / "part-1.txt", SENTENCES)
    bad = tmp_path / "part-2.txt"
    bad.write_text("EU B-ORG\nrejects O\n\nGerman B-MISC\ncall ORG\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{bad}:5: 'ORG' is not a tag"):
        load_corpus(str(tmp_path / "part-*.txt"))


def test_training_sentences_stay_in_the_arrow_file_and_come_back_by_index(tmp_path):
    path = write_conll(tmp_path / "train.txt", SENTENCES)
    dataset = load_split(str(path), "train")
    assert dataset.cache_files  # memory-mapped from disk, not a copy in memory
    sentences = TrainingSentences(dataset)
    assert list(sentences.lengths) == [len(sentence) for sentence in SENTENCES]
    tokens, tags = sentences.take([3, 0])
    assert list(zip(tokens, tags)) == [expected()[3], expected()[0]]
    assert list(sentences.tokens()) == [tokens for tokens, _ in expected()]


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("EU B-ORG\n\nK\u00f6ln B-LOC\n".encode("latin-1"))
    with pytest.raises(DataError, match=f"{path}:3: not UTF-8"):
        load_split(str(path), "test")


@pytest.mark.parametrize("content", ["", "\n\n", "-DOCSTART- -X- O\n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="no sentences"):
        load_split(str(path), "test")


def test_missing_split(corpus_dir):
    (corpus_dir / "test.txt").unlink()
    with pytest.raises(DataError, match="no 'test' split"):
        load_split(str(corpus_dir), "test")


def test_missing_path():
    with pytest.raises(DataError, match="no such file or directory"):
        load_corpus("./nowhere/corpus")


def test_dataset_folder_with_string_tags(tmp_path):
    import datasets

    rows = {"tokens": [["Ada", "met", "Ivo"]], "ner_tags": [["B-PER", "O", "B-PER"]], "id": ["0"]}
    datasets.Dataset.from_dict(rows).to_parquet(str(tmp_path / "train.parquet"))
    corpus = load_corpus(str(tmp_path))
    assert tokens_and_tags(corpus["train"]) == [(["Ada", "met", "Ivo"], ["B-PER", "O", "B-PER"])]


def test_saved_dataset_with_class_labels(tmp_path):
    import datasets

    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=["O", "B-LOC", "I-LOC"]))})
    split = datasets.Dataset.from_dict({"tokens": [["in", "New", "York"]], "ner_tags": [[0, 1, 2]]}, features=features)
    datasets.DatasetDict({"train": split, "dev": split}).save_to_disk(str(tmp_path / "saved"))
    corpus = load_corpus(str(tmp_path / "saved"))
    assert set(corpus) == {"train", "validation"}
    assert tag_sequences(corpus["validation"]) == [["O", "B-LOC", "I-LOC"]]


def test_dataset_folder_without_tags_column(tmp_path):
    import datasets

    datasets.Dataset.from_dict({"tokens": [["a"]], "labels": [["O"]]}).to_parquet(str(tmp_path / "train.parquet"))
    with pytest.raises(DataError, match="no ner_tags column"):
        load_corpus(str(tmp_path))
