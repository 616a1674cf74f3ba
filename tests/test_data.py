"""Reading labelled data in every shape it comes in, and every malformed case."""

from __future__ import annotations

import json

import pytest
from conftest import make_sentences, write_conll

from tagger.core.entities import to_iob2
from tagger.core.errors import DataError
from tagger.data.corpus import TrainingSentences, load_corpus, load_split, tag_sequences
from tagger.data.sources import HubDataset, Source, resolve

SENTENCES = make_sentences(5, seed=7)


def one_split(path):
    return load_split(str(path))[0]


def tokens_and_tags(dataset):
    return list(zip(dataset["tokens"], tag_sequences(dataset)))


def expected():
    return [([t for t, _ in s], [g for _, g in s]) for s in SENTENCES]


@pytest.mark.parametrize("columns, separator, docstart", [(4, " ", True), (2, " ", False), (2, "\t", False),
                                                          (3, "\t", True), (6, " ", False)])
def test_reads_every_column_layout(tmp_path, columns, separator, docstart):
    path = write_conll(tmp_path / "train.txt", SENTENCES, columns, separator, docstart)
    assert tokens_and_tags(one_split(path)) == expected()


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
    assert tag_sequences(one_split(path)) == [
        ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-LOC", "B-LOC"]]


def test_bioes_is_kept(tmp_path):
    path = tmp_path / "bioes.txt"
    path.write_text("Ada S-PER\nmet O\nNew B-LOC\nYork E-LOC\n\n", encoding="utf-8")
    assert tag_sequences(one_split(path)) == [["S-PER", "O", "B-LOC", "E-LOC"]]


@pytest.mark.parametrize("line_end", ["\n", "\r\n", "\r"])
def test_every_line_end_reads_the_same(tmp_path, line_end):
    path = tmp_path / "f.txt"
    path.write_bytes(line_end.join(["-DOCSTART- -X- O", "", "Ada NNP B-PER", "met VBD O", "", "Ivo NNP B-PER", ""])
                     .encode())
    split = one_split(path)
    assert split["tokens"] == [["Ada", "met"], ["Ivo"]]
    assert tag_sequences(split) == [["B-PER", "O"], ["B-PER"]]


def test_to_iob2_leaves_iob2_alone():
    tags = ["B-PER", "I-PER", "B-PER", "O", "B-LOC"]
    assert to_iob2(tags) == tags


@pytest.mark.parametrize("content, line, message", [
    ("EU NNP B-ORG\nrejects VBZ O\nGerman\n\n", 3, "one column, expected 3 like line 1"),
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
        one_split(path)
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
    dataset = one_split(path)
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
        one_split(path)


@pytest.mark.parametrize("content", ["", "\n\n", "-DOCSTART- -X- O\n\n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match="no sentences"):
        one_split(path)


def test_missing_split(corpus_dir):
    (corpus_dir / "test.txt").unlink()
    with pytest.raises(DataError, match="no 'test' split"):
        load_split(str(corpus_dir))


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

    datasets.Dataset.from_dict({"tokens": [["a"]], "label": [["O"]]}).to_parquet(str(tmp_path / "train.parquet"))
    with pytest.raises(DataError, match="no tags column .it has: tokens, label.; tagger looks for ner_tags or tags "
                                        "or labels: name yours with --tags-column"):
        load_corpus(str(tmp_path))


# Data in the shapes other projects leave it in.

@pytest.mark.parametrize("suffix, dev_name, test_name", [
    (".conll", "dev", "test"), (".tsv", "valid", "test"), (".iob", "validation", "test"),
    (".iob2", "dev", "testb"), (".bio", "eng.testa", "eng.testb"), (".bioes", "en_dev", "en_test"),
    ("", "dev", "test"), (".txt", "validation", "test"),
])
def test_a_folder_splits_by_what_its_file_names_contain(tmp_path, suffix, dev_name, test_name):
    separator = "\t" if suffix == ".tsv" else " "
    for name, seed in (("train", 1), (dev_name, 2), (test_name, 3)):
        write_conll(tmp_path / f"{name}{suffix}", make_sentences(3, seed), columns=2, separator=separator)
    (tmp_path / "README.md").write_text("Sentences written for the tests.\n", encoding="utf-8")
    corpus = load_corpus(str(tmp_path))
    assert set(corpus) == {"train", "validation", "test"}
    assert tokens_and_tags(corpus["validation"]) == [([t for t, _ in s], [g for _, g in s])
                                                     for s in make_sentences(3, 2)]


@pytest.mark.parametrize("names, message", [
    (("train.txt", "train.conll", "dev.txt"), "train.conll and train.txt could each be the train split"),
    (("train_dev.txt", "test.txt"), "train_dev.txt: its name could be the train or the validation split"),
    (("sentences.txt", "more.conll"), "no file named for a split"),
])
def test_a_folder_whose_names_do_not_settle_the_splits_is_refused(tmp_path, names, message):
    for name in names:
        write_conll(tmp_path / name, SENTENCES)
    with pytest.raises(DataError, match=message):
        load_corpus(str(tmp_path))


def test_a_file_per_split_given_explicitly(tmp_path):
    for name, seed in (("a.conll", 1), ("b.conll", 2), ("c.conll", 3)):
        write_conll(tmp_path / name, make_sentences(2, seed))
    source = Source(train=str(tmp_path / "a.conll"), dev=str(tmp_path / "b.conll"), test=str(tmp_path / "c.conll"))
    corpus = load_corpus(source)
    assert set(corpus) == {"train", "validation", "test"} and corpus["test"]["tokens"] == \
        [[t for t, _ in s] for s in make_sentences(2, 3)]
    with pytest.raises(DataError, match="--dev given without --train"):
        Source(dev=str(tmp_path / "b.conll"))
    with pytest.raises(DataError, match="--data and --train both given"):
        Source(data=str(tmp_path), train=str(tmp_path / "a.conll"))
    with pytest.raises(DataError, match=f"{tmp_path / 'nope.conll'}: no such file; give an existing file with --dev"):
        load_corpus(Source(train=str(tmp_path / "a.conll"), dev=str(tmp_path / "nope.conll")))


ROWS = {"tokens": [["EU", "rejects", "German", "call"], ["Peter", "Blackburn"]],
        "ner_tags": [["B-ORG", "O", "B-MISC", "O"], ["B-PER", "I-PER"]]}
EXPECTED_ROWS = list(zip(ROWS["tokens"], ROWS["ner_tags"]))


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".parquet", ".csv"])
def test_a_datasets_file_with_tokens_and_tags_columns(tmp_path, suffix):
    import datasets

    rows = datasets.Dataset.from_dict({"id": ["0", "1"], **ROWS})
    path = tmp_path / f"ner{suffix}"
    if suffix == ".csv":  # pandas writes list cells as Python lists
        rows.to_pandas().to_csv(path, index=False)
    elif suffix == ".parquet":
        rows.to_parquet(str(path))
    else:
        rows.to_json(str(path), lines=suffix == ".jsonl")
    assert tokens_and_tags(one_split(path)) == EXPECTED_ROWS


def test_usual_column_names_or_the_ones_given(tmp_path):
    path = tmp_path / "words.jsonl"
    path.write_text("".join(json.dumps({"words": tokens, "labels": tags}) + "\n" for tokens, tags in EXPECTED_ROWS),
                    encoding="utf-8")
    assert tokens_and_tags(one_split(path)) == EXPECTED_ROWS
    renamed = tmp_path / "renamed.jsonl"
    renamed.write_text("".join(json.dumps({"toks": tokens, "ner": tags, "pos": ["X"] * len(tags)}) + "\n"
                               for tokens, tags in EXPECTED_ROWS), encoding="utf-8")
    assert tokens_and_tags(load_split(Source(str(renamed), tokens_column="toks", tags_column="ner"))[0]) == \
        EXPECTED_ROWS
    with pytest.raises(DataError, match=r"no column 'tags' \(it has: toks, ner, pos\); check --tags-column"):
        load_split(Source(str(renamed), tokens_column="toks", tags_column="tags"))


def test_a_saved_dataset_with_class_label_tags(tmp_path):
    import datasets

    names = ["O", "B-PER", "I-PER", "B-ORG", "B-MISC"]
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    ids = [[names.index(tag) for tag in tags] for tags in ROWS["ner_tags"]]
    datasets.Dataset.from_dict({"tokens": ROWS["tokens"], "ner_tags": ids}, features=features) \
        .save_to_disk(str(tmp_path / "saved"))
    assert tokens_and_tags(one_split(tmp_path / "saved")) == EXPECTED_ROWS


def test_tag_ids_without_names_are_refused(tmp_path):
    path = tmp_path / "ids.jsonl"
    path.write_text(json.dumps({"tokens": ["EU", "rejects"], "ner_tags": [3, 0]}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match="the ner_tags column holds lists of int64, not tag names"):
        one_split(path)


def test_a_row_with_more_tags_than_tokens_is_named(tmp_path):
    path = tmp_path / "uneven.jsonl"
    path.write_text(json.dumps({"tokens": ["EU"], "ner_tags": ["B-ORG"]}) + "\n" +
                    json.dumps({"tokens": ["EU"], "ner_tags": ["B-ORG", "O"]}) + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=f"{path}: row 2: one token but 2 tags"):
        one_split(path)


def test_a_byte_order_mark_is_dropped(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("SOCCER O\nJAPAN B-LOC\n\n", encoding="utf-8")
    with_bom = tmp_path / "bom.txt"
    with_bom.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert one_split(with_bom)["tokens"] == [["SOCCER", "JAPAN"]]
    docstart = tmp_path / "docstart.txt"
    docstart.write_bytes(b"\xef\xbb\xbf-DOCSTART- -X- O\n\n" + plain.read_bytes())
    assert one_split(docstart)["tokens"] == [["SOCCER", "JAPAN"]]


def test_comment_lines_between_sentences_are_skipped(tmp_path):
    path = tmp_path / "multiconer.conll"
    path.write_text("# id 3c5a1e2b\tdomain=en\nthe _ _ O\nnile _ _ B-LOC\n\n"
                    "# id 9f0e7d6c\tdomain=en\n# _ _ O\nhashtag _ _ O\n\n", encoding="utf-8")
    split = one_split(path)
    assert split["tokens"] == [["the", "nile"], ["#", "hashtag"]]  # `# _ _ O` is a token, not a comment


def test_bilou_is_read_as_bioes(tmp_path):
    path = tmp_path / "bilou.txt"
    path.write_text("Ada U-PER\nmet O\nNew B-LOC\nYork L-LOC\n\n", encoding="utf-8")
    assert tag_sequences(one_split(path)) == [["S-PER", "O", "B-LOC", "E-LOC"]]


def test_a_pattern_whose_files_name_splits_honours_split(tmp_path):
    for name, seed in (("train.conll", 1), ("dev.conll", 2), ("test.conll", 3)):
        write_conll(tmp_path / name, make_sentences(2, seed))
    dataset, split = load_split(str(tmp_path / "*.conll"), "test")
    assert split == "test" and dataset["tokens"] == [[t for t, _ in s] for s in make_sentences(2, 3)]
    write_conll(tmp_path / "part-1.txt", SENTENCES)
    with pytest.raises(DataError, match="is one split, so --split does not apply"):
        load_split(str(tmp_path / "part-*.txt"), "test")


def test_a_local_looking_source_that_does_not_exist_is_missing_at_once(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    for name in ("nonexistent_dir", "data/conll2003x", "corpus.conll", "./corpus", "corpsu/train.conll"):
        with pytest.raises(DataError, match=f"{name}: no such file or directory"):
            resolve(Source(name))
    assert resolve(Source("someone/ner-corpus")) == HubDataset("someone/ner-corpus")


def test_the_default_data_is_found_in_the_clone_from_any_directory(tmp_path, monkeypatch):
    from tagger.data import sources

    clone, elsewhere = tmp_path / "clone", tmp_path / "elsewhere"
    (clone / "data" / "conll2003").mkdir(parents=True)
    (clone / "pyproject.toml").write_text("[project]\nname = 'tagger'\n", encoding="utf-8")
    write_conll(clone / "data" / "conll2003" / "train.txt", SENTENCES)
    elsewhere.mkdir()
    monkeypatch.setattr(sources, "CHECKOUT", clone)
    monkeypatch.chdir(elsewhere)
    assert resolve(Source()).splits == {"train": [clone / "data" / "conll2003" / "train.txt"]}


def test_split_names_are_whole_words_and_a_split_folder_s_readme_is_not_data(tmp_path):
    (tmp_path / "train").mkdir()
    write_conll(tmp_path / "train" / "part-1.conll", SENTENCES)
    (tmp_path / "train" / "README.md").write_text("# Training data\n", encoding="utf-8")
    write_conll(tmp_path / "wnut17dev.conll", SENTENCES[:2])
    (tmp_path / "latest_notes.txt").write_text("Notes, not data.\n", encoding="utf-8")
    corpus = load_corpus(str(tmp_path))
    assert set(corpus) == {"train", "validation"} and tokens_and_tags(corpus["train"]) == expected()


def test_a_pattern_mixing_named_and_unnamed_files_names_the_unnamed_one(tmp_path):
    write_conll(tmp_path / "train.conll", SENTENCES)
    write_conll(tmp_path / "part1.conll", SENTENCES)
    with pytest.raises(DataError, match=f"{tmp_path / 'part1.conll'}: its name says no split, among files of "):
        load_corpus(str(tmp_path / "*.conll"))


@pytest.mark.parametrize("name, content, message", [
    ("cells.jsonl", json.dumps({"tokens": ["Alma,Vrettos"], "ner_tags": ["B-PER,I-PER"]}) + "\n",
     "row 1: 'B-PER,I-PER' is not a tag"),
    ("cut.jsonl", json.dumps({"tokens": ["EU"], "ner_tags": ["B-ORG"]}) + '\n{"tokens": ["EU"], "ner_',
     r"not a json file datasets can read \(.+\)"),
    ("empty.jsonl", "", "an empty file"),
    ("header.csv", "tokens,ner_tags\n", "no rows"),
    ("nulls.jsonl", '{"tokens": ["EU"], "ner_tags": ["B-ORG"]}\n{"tokens": null, "ner_tags": null}\n',
     "row 2: no tokens .null."),
    ("null-token.jsonl", '{"tokens": ["EU", null], "ner_tags": ["B-ORG", "O"]}\n', "row 1: a token is null"),
    ("nbsp.txt", "New\u00a0York B-LOC\nin O\n", ":2: 2 columns, expected 3 like line 1 .line 1 holds a Unicode "
     "space"),
])
def test_malformed_files_of_every_kind_get_a_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=message) as error:
        one_split(path)
    assert "An error occurred while generating" not in str(error.value)


def test_a_compressed_file_is_said_to_be_one(tmp_path):
    import gzip

    path = tmp_path / "dev.txt.gz"
    path.write_bytes(gzip.compress(b"EU B-ORG\n\n"))
    with pytest.raises(DataError, match="a gzip-compressed file; decompress it first"):
        one_split(path)


def test_a_pattern_across_split_folders_takes_each_file_s_split_from_its_folder(tmp_path):
    for folder, seed in (("train", 1), ("dev", 2), ("test", 3)):
        (tmp_path / folder).mkdir()
        write_conll(tmp_path / folder / "part.conll", make_sentences(2, seed))
    corpus = load_corpus(str(tmp_path / "*" / "*.conll"))
    assert set(corpus) == {"train", "validation", "test"} and corpus["test"]["tokens"] == \
        [[t for t, _ in s] for s in make_sentences(2, 3)]
