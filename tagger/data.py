"""Labelled data: CoNLL files, dataset folders and Hub datasets, read into one shape.

Every source becomes `datasets` splits named train / validation / test, each with a
`tokens` column (strings) and a `ner_tags` column (ClassLabel, IOB2 or BIOES).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import datasets

from tagger.errors import DataError

# Each load_dataset("conll") would otherwise send a request to count a download, waiting up
# to 3 s for it offline: reading a local file must not touch the network.
datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False

DEFAULT_SOURCE = "conll2003"
LOCAL_COPY = Path("data/conll2003")
HUB_COPY = "lhoestq/conll2003"

SPLIT_FILES = {
    "train": ("train.txt", "eng.train"),
    "validation": ("valid.txt", "dev.txt", "eng.testa"),
    "test": ("test.txt", "eng.testb"),
}
SPLIT_ALIASES = {"dev": "validation", "valid": "validation"}
DOCSTART = "-DOCSTART-"
TAG_PATTERN = re.compile(r"O|[BIES]-\S+")
TAG_HELP = "tags must be O or B-, I-, E-, S- followed by a type, e.g. B-PER"


def load_corpus(source: str) -> datasets.DatasetDict:
    """Load every split of `source`: a CoNLL file or directory, a dataset folder or a Hub id.

    `conll2003` means `data/conll2003/` when it holds the files, else the Hub copy.
    A single CoNLL file becomes the train split.
    """
    path = Path(source)
    if source == DEFAULT_SOURCE and not path.exists():
        if conll_split_files(LOCAL_COPY):
            path = LOCAL_COPY
        else:
            return _load_hub(HUB_COPY, hint=f"put the CoNLL-2003 files in {LOCAL_COPY}/ "
                             "(train.txt, valid.txt, test.txt) or connect to the Hugging Face Hub")
    if path.is_file():
        return datasets.DatasetDict({"train": read_conll(path)})
    if path.is_dir():
        split_files = conll_split_files(path)
        if split_files:
            return datasets.DatasetDict({split: read_conll(file) for split, file in split_files.items()})
        return _standardise(_load_folder(path), source)
    if path.suffix or source.startswith((".", "/")) or source.count("/") > 1:
        raise DataError(f"{source}: no such file or directory; give a CoNLL file or directory, "
                        "a dataset folder or a Hugging Face dataset id")
    return _load_hub(source, hint="check the dataset id, or give a local CoNLL file or directory")


def load_split(source: str, split: str) -> datasets.Dataset:
    """Load one split of `source`; a single CoNLL file is its own split."""
    if Path(source).is_file():
        return read_conll(Path(source))
    corpus = load_corpus(source)
    split = SPLIT_ALIASES.get(split, split)
    if split not in corpus:
        raise DataError(f"{source}: no '{split}' split (it has: {', '.join(corpus)}); "
                        "choose one with --split")
    return corpus[split]


def conll_split_files(directory: Path) -> dict[str, Path]:
    """The CoNLL files of `directory` by split, under their conventional names."""
    found = {}
    for split, names in SPLIT_FILES.items():
        for name in names:
            if (directory / name).is_file():
                found[split] = directory / name
                break
    return found


def read_conll(path: Path) -> datasets.Dataset:
    """Read a CoNLL file with `datasets`' conll builder and check every line of it.

    Token in the first column, tag in the last, any number of columns between.
    """
    column_count = _column_count(path)
    middle = [f"column_{i}" for i in range(1, column_count - 1)]
    # One column more than the file has: a line with extra columns fills it, so the
    # builder's silent truncation shows up; its silent padding shows up as an empty tag.
    names = ["tokens", *middle, "ner_tags", "overflow"]
    try:
        table = datasets.load_dataset("conll", data_files=str(path.resolve()), column_names=names,
                                      split="train")
    except datasets.exceptions.DatasetGenerationError as error:
        if _caused_by(error, UnicodeDecodeError):
            raise DataError(f"{path}:{_first_undecodable_line(path)}: not UTF-8 text; "
                            "convert the file to UTF-8 (e.g. with iconv)") from None
        raise
    for index, (tag, extra) in enumerate(zip(_flat(table["ner_tags"]), _flat(table["overflow"]))):
        if extra or not TAG_PATTERN.fullmatch(tag):
            line_number, line = _content_line(path, index)
            found = len(line.split())
            if found != column_count:
                raise DataError(f"{path}:{line_number}: {found} columns, expected {column_count} "
                                "like the first line; put the token first and the tag last")
            raise DataError(f"{path}:{line_number}: '{tag}' is not a tag; {TAG_HELP}")
    return _with_tag_labels(table.select_columns(["tokens", "ner_tags"]))


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Make every entity start with B-, as IOB1 and conlleval read an I- after another type."""
    converted, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


def tag_names(dataset: datasets.Dataset) -> list[str]:
    """The tag names of a standardised dataset, indexed by their ClassLabel ids."""
    return dataset.features["ner_tags"].feature.names


def tag_sequences(dataset: datasets.Dataset) -> list[list[str]]:
    """Every sentence's tags as strings."""
    names = tag_names(dataset)
    return [[names[i] for i in ids] for ids in dataset["ner_tags"]]


def _column_count(path: Path) -> int:
    # Text mode, as the conll builder reads: \n, \r\n and \r all end a line.
    with path.open(encoding="utf-8", errors="replace") as file:
        for line_number, line in enumerate(file, 1):
            if line.strip() and not line.startswith(DOCSTART):
                count = len(line.split())
                if count < 2:
                    raise DataError(f"{path}:{line_number}: one column; expected a token first "
                                    "and its tag last, separated by spaces or tabs")
                return count
    raise DataError(f"{path}: no sentences; expected one token per line with its tag in the last "
                    "column and a blank line after each sentence")


def _content_line(path: Path, token_index: int) -> tuple[int, str]:
    """The line number and text of the `token_index`-th token line, counted as the builder does."""
    seen = -1
    with path.open(encoding="utf-8") as file:
        for line_number, line in enumerate(file, 1):
            if line.strip() and not line.startswith(DOCSTART):
                seen += 1
                if seen == token_index:
                    return line_number, line
    raise AssertionError(f"{path} has fewer than {token_index + 1} token lines")


def _first_undecodable_line(path: Path) -> int:
    with path.open("rb") as file:
        for line_number, raw in enumerate(file, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return line_number
    return 1


def _caused_by(error: BaseException, kind: type) -> bool:
    while error is not None:
        if isinstance(error, kind):
            return True
        error = error.__cause__ or error.__context__
    return False


def _flat(column: Iterable) -> Iterable[str]:
    for sentence in column:
        yield from sentence


def _load_hub(dataset_id: str, hint: str) -> datasets.DatasetDict:
    try:
        corpus = datasets.load_dataset(dataset_id)
    except Exception as error:  # the Hub client raises many kinds; all mean "not available"
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise DataError(f"{dataset_id}: could not load from the Hugging Face Hub ({reason}); "
                        f"{hint}") from None
    return _standardise(corpus, dataset_id)


def _load_folder(path: Path) -> datasets.DatasetDict:
    try:
        if (path / "dataset_dict.json").exists():
            return datasets.load_from_disk(str(path))
        return datasets.load_dataset(str(path))
    except Exception as error:  # datasets raises many kinds for a folder it cannot read
        raise DataError(f"{path}: not a CoNLL directory (train.txt, valid.txt, test.txt) "
                        f"nor a dataset folder datasets can read ({error})") from None


def _standardise(corpus: datasets.DatasetDict, source: str) -> datasets.DatasetDict:
    standard = {}
    for split, dataset in corpus.items():
        where = f"{source} ({split})"
        missing = {"tokens", "ner_tags"} - set(dataset.column_names)
        if missing:
            raise DataError(f"{where}: no {' or '.join(sorted(missing))} column (it has: "
                            f"{', '.join(dataset.column_names)}); tagger needs tokens and ner_tags")
        dataset = dataset.select_columns(["tokens", "ner_tags"])
        feature = dataset.features["ner_tags"]
        inner = getattr(feature, "feature", None)
        if isinstance(inner, datasets.ClassLabel):
            names = inner.names
            dataset = dataset.map(lambda batch, names=names: {"ner_tags": [[names[i] for i in ids] for ids in batch["ner_tags"]]},
                                  batched=True, features=_string_features())
        elif getattr(inner, "dtype", None) != "string":
            raise DataError(f"{where}: ner_tags must be tag strings or ClassLabel ids with names")
        for row, tags in enumerate(dataset["ner_tags"]):
            for tag in tags:
                if not TAG_PATTERN.fullmatch(tag):
                    raise DataError(f"{where}: row {row}: '{tag}' is not a tag; {TAG_HELP}")
        standard[SPLIT_ALIASES.get(split, split)] = _with_tag_labels(dataset)
    return datasets.DatasetDict(standard)


def _string_features() -> datasets.Features:
    return datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                              "ner_tags": datasets.Sequence(datasets.Value("string"))})


def _with_tag_labels(dataset: datasets.Dataset) -> datasets.Dataset:
    """IOB1 to IOB2 (BIOES is kept), then tags as a ClassLabel.

    Built in memory from the columns, which are read whole here anyway: a cast and a map
    would each write a cache file and hash their function, the most of a small file's cost.
    """
    tags = dataset["ner_tags"]
    if not any(tag[0] in "ES" for sentence in tags for tag in sentence):
        tags = [to_iob2(sentence) for sentence in tags]
    names = sorted({tag for sentence in tags for tag in sentence}, key=_tag_order)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    label_ids = {name: label_id for label_id, name in enumerate(names)}
    return datasets.Dataset.from_dict({"tokens": [list(map(str, sentence)) for sentence in dataset["tokens"]],
                                       "ner_tags": [[label_ids[tag] for tag in sentence] for sentence in tags]},
                                      features=features)


def _tag_order(tag: str) -> tuple[str, str]:
    return ("", "") if tag == "O" else (tag[2:], tag[0])
