"""Labelled data: CoNLL files, dataset folders and Hub datasets, read into one shape.

Every source becomes `datasets` splits named train / validation / test, each with a
`tokens` column (strings) and a `ner_tags` column (ClassLabel, IOB2 or BIOES). Files are
read into `datasets`' Arrow cache and stay there, memory-mapped: checks and conversions
go through it a batch at a time, so data larger than memory can be trained on.
"""

from __future__ import annotations

import glob
import os
import re
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from tagger.entities import is_bioes, to_iob2
from tagger.errors import DataError

# Each load_dataset("conll") would otherwise send a request to count a download, which waits
# for its timeout offline: reading a local file must not touch the network.
datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False

DEFAULT_SOURCE = "conll2003"
LOCAL_COPY = Path("data/conll2003")
HUB_COPY = "lhoestq/conll2003"

SPLIT_FILES = {
    "train": ("train.txt", "eng.train"),
    "validation": ("valid.txt", "dev.txt", "eng.testa"),
    "test": ("test.txt", "eng.testb"),
}
SPLIT_FOLDERS = {"train": ("train",), "validation": ("valid", "dev"), "test": ("test",)}
DATASET_SUFFIXES = {".arrow", ".parquet", ".json", ".jsonl", ".csv"}  # a folder of these is a dataset's, not CoNLL
SPLIT_ALIASES = {"dev": "validation", "valid": "validation"}
DOCSTART = "-DOCSTART-"
TAG_PATTERN = r"^(O|[BIES]-\S+)$"
ROWS_PER_CHECK = 10_000  # sentences checked or converted at a time
GLOB_MARKS = re.compile(r"[*?\[]")
TAG_HELP = "tags must be O or B-, I-, E-, S- followed by a type, e.g. B-PER"


def load_corpus(source: str) -> datasets.DatasetDict:
    """Load every split of `source`: a CoNLL file or directory, a dataset folder or a Hub id.

    `conll2003` means `data/conll2003/` when it holds the files, else the Hub copy.
    A single CoNLL file, or the files a glob pattern matches, become the train split; in a
    CoNLL directory a split may be a folder of files (train/, valid/, test/).
    """
    if GLOB_MARKS.search(source) and not Path(source).exists():
        files = sorted(Path(name) for name in glob.glob(source, recursive=True) if Path(name).is_file())
        if not files:
            raise DataError(f"{source}: matches no files; give a pattern that matches CoNLL files (quote it, so "
                            "the shell leaves it to tagger)")
        return datasets.DatasetDict({"train": read_conll(files)})
    path = _default_local_copy(source) or Path(source)
    if source == DEFAULT_SOURCE and not path.exists():
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


def locate(source: str) -> str:
    """`source` as a training run records it: a local file, folder or glob pattern made
    absolute, so that the run resumes from any directory; a Hub id as it is."""
    local = _default_local_copy(source) or Path(source)
    if local.exists() or GLOB_MARKS.search(source):
        return os.path.abspath(local)
    return source


def _default_local_copy(source: str) -> Path | None:
    """What the default source `conll2003` stands for here: data/conll2003/ when it holds the
    files (and no path of that name exists); None for any other source, or without a copy."""
    if source == DEFAULT_SOURCE and not Path(source).exists() and conll_split_files(LOCAL_COPY):
        return LOCAL_COPY
    return None


def load_split(source: str, split: str) -> datasets.Dataset:
    """Load one split of `source`; a single CoNLL file, or a glob pattern's files, are their own split."""
    if Path(source).is_file() or (GLOB_MARKS.search(source) and not Path(source).exists()):
        return load_corpus(source)["train"]
    corpus = load_corpus(source)
    split = SPLIT_ALIASES.get(split, split)
    if split not in corpus:
        raise DataError(f"{source}: no '{split}' split (it has: {', '.join(corpus)}); "
                        "choose one with --split")
    return corpus[split]


def conll_split_files(directory: Path) -> dict[str, list[Path]]:
    """The CoNLL files of `directory` by split, under their conventional names: a file, or a
    folder whose files together make the split."""
    found = {}
    for split, names in SPLIT_FILES.items():
        for name in (*names, *SPLIT_FOLDERS[split]):
            if (directory / name).is_file():
                found[split] = [directory / name]
                break
            if (directory / name).is_dir():
                files = sorted(file for file in (directory / name).iterdir()
                               if file.is_file() and not file.name.startswith("."))
                if files and not any(file.suffix in DATASET_SUFFIXES for file in files):
                    found[split] = files
                    break
    return found


def read_conll(paths: Path | Sequence[Path]) -> datasets.Dataset:
    """Read CoNLL files, each checked line by line, into one memory-mapped dataset.

    Token in the first column, tag in the last, any number of columns between.
    """
    files = [paths] if isinstance(paths, Path) else list(paths)
    return _with_tag_labels(datasets.concatenate_datasets([_read_conll_file(path) for path in files]))


def _read_conll_file(path: Path) -> datasets.Dataset:
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
    bad = _first_bad_token(table)
    if bad is not None:
        _, index, tag = bad
        line_number, line = _content_line(path, index)
        found = len(line.split())
        if found != column_count:
            raise DataError(f"{path}:{line_number}: {found} columns, expected {column_count} "
                            "like the first line; put the token first and the tag last")
        raise DataError(f"{path}:{line_number}: '{tag}' is not a tag; {TAG_HELP}")
    return table.select_columns(["tokens", "ner_tags"])


class TrainingSentences:
    """A split's sentences and tags, left in its (memory-mapped) Arrow table and read a
    batch at a time: only their lengths are held in memory."""

    def __init__(self, dataset: datasets.Dataset):
        self.dataset = dataset
        self.tag_names = tag_names(dataset)
        self.lengths = array("i")
        for batch in _arrow_batches(dataset):
            self.lengths.extend(pc.list_value_length(batch["tokens"]).to_numpy(zero_copy_only=False))

    def __len__(self) -> int:
        return len(self.lengths)

    def take(self, indices: Sequence[int]) -> tuple[list[list[str]], list[list[str]]]:
        """The tokens and tags of these sentences."""
        rows = self.dataset[list(indices)]
        return rows["tokens"], [[self.tag_names[i] for i in ids] for ids in rows["ner_tags"]]

    def tokens(self) -> Iterator[list[str]]:
        """Every sentence's tokens, in order."""
        for batch in self.dataset.iter(batch_size=ROWS_PER_CHECK):
            yield from batch["tokens"]


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


def _arrow_batches(dataset: datasets.Dataset) -> Iterator[pa.Table]:
    return dataset.with_format("arrow").iter(batch_size=ROWS_PER_CHECK)


def _first_bad_token(dataset: datasets.Dataset) -> tuple[int, int, str] | None:
    """The first token whose tag is not a tag, or whose line has a column too many:
    (its sentence, its number among all tokens, its tag)."""
    rows = tokens = 0
    for batch in _arrow_batches(dataset):
        tags = pc.fill_null(pc.list_flatten(batch["ner_tags"]), "")
        bad = pc.invert(pc.match_substring_regex(tags, TAG_PATTERN))
        if "overflow" in batch.column_names:
            bad = pc.or_(bad, pc.not_equal(pc.fill_null(pc.list_flatten(batch["overflow"]), ""), ""))
        first = pc.index(bad, True).as_py()
        if first >= 0:
            row = pc.list_parent_indices(batch["ner_tags"])[first].as_py()
            return rows + row, tokens + first, tags[first].as_py()
        rows, tokens = rows + batch.num_rows, tokens + len(tags)
    return None


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
            dataset = dataset.map(lambda batch, names=names: {"ner_tags": [[names[i] for i in ids]
                                                                           for ids in batch["ner_tags"]]},
                                  batched=True, features=_string_features())
        elif getattr(inner, "dtype", None) != "string":
            raise DataError(f"{where}: ner_tags must be tag strings or ClassLabel ids with names")
        bad = _first_bad_token(dataset)
        if bad is not None:
            raise DataError(f"{where}: row {bad[0]}: '{bad[2]}' is not a tag; {TAG_HELP}")
        standard[SPLIT_ALIASES.get(split, split)] = _with_tag_labels(dataset)
    return datasets.DatasetDict(standard)


def _string_features() -> datasets.Features:
    return datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                              "ner_tags": datasets.Sequence(datasets.Value("string"))})


def _with_tag_labels(dataset: datasets.Dataset) -> datasets.Dataset:
    """IOB1 to IOB2 (BIOES is kept), then tags as a ClassLabel; written a batch at a time
    to a new Arrow file beside the source's (kept in memory when the source is)."""
    seen = set()
    for batch in _arrow_batches(dataset):
        seen.update(pc.unique(pc.list_flatten(batch["ner_tags"])).to_pylist())
    iob1 = not is_bioes(seen)
    if iob1:  # every I- entity has a first token, which IOB2 spells B-
        seen |= {"B-" + tag[2:] for tag in seen if tag.startswith("I-")}
    names = sorted(seen, key=_tag_order)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    label_ids = {name: label_id for label_id, name in enumerate(names)}

    def to_label_ids(batch: dict) -> dict:
        tags = [to_iob2(sentence) for sentence in batch["ner_tags"]] if iob1 else batch["ner_tags"]
        return {"ner_tags": [[label_ids[tag] for tag in sentence] for sentence in tags]}

    return dataset.map(to_label_ids, batched=True, batch_size=ROWS_PER_CHECK, features=features)


def _tag_order(tag: str) -> tuple[str, str]:
    return ("", "") if tag == "O" else (tag[2:], tag[0])
