"""Labelled data read into one shape: CoNLL files, `datasets` files and folders, and Hub datasets.

Every source becomes `datasets` splits named train / validation / test, each with a
`tokens` column (strings) and a `ner_tags` column (ClassLabel, IOB2 or BIOES). Files are
read into `datasets`' Arrow cache and stay there, memory-mapped: checks and conversions
go through it a batch at a time, so data larger than memory can be trained on.
`tagger.data.sources` decides which files make which split; this module reads them (CoNLL files
through `tagger.data.conll`).
"""

from __future__ import annotations

import ast
import re
from array import array
from collections.abc import Iterator, Sequence
from pathlib import Path

import datasets
import pyarrow as pa
import pyarrow.compute as pc

from tagger.core.entities import TAG, TAG_HELP, from_bilou, is_bilou, is_bioes, to_iob2
from tagger.core.errors import DataError, causes, plural
from tagger.data.conll import read_conll_file, sentence_features
from tagger.data.sources import (DATASET_SUFFIXES, SPLIT_ALIASES, DatasetFolder, HubDataset, SavedDataset, Source,
                                 SplitFiles, resolve)

# Each load_dataset would otherwise send a request to count a download, which waits for its
# timeout offline: reading a local file must not touch the network.
datasets.config.HF_UPDATE_DOWNLOAD_COUNTS = False

ROWS_PER_CHECK = 10_000  # sentences checked or converted at a time
QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")  # a Python string literal
TOKEN_COLUMNS = ("tokens", "words")
TAG_COLUMNS = ("ner_tags", "tags", "labels")



def quiet_datasets() -> None:
    """Keep datasets' and the Hub client's own output off the terminal: their errors reach the
    user as tagger's one line, and offline the Hub client would print a line per retry."""
    import huggingface_hub

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    huggingface_hub.utils.logging.set_verbosity_error()


def load_corpus(source: str | Source) -> datasets.DatasetDict:
    """Load every split of `source` (see `tagger.data.sources`): CoNLL or `datasets` files by split,
    a saved dataset, a dataset folder or a Hub id. One file, or a pattern whose files name no
    split, is the train split."""
    return _load(Source.of(source))[0]


def load_split(source: str | Source, split: str | None = None) -> tuple[datasets.Dataset, str | None]:
    """One split of `source` (test unless named) and its name; a source that is one file, or a
    pattern whose files name no split, is its own split (name None) and takes no `split`."""
    source = Source.of(source)
    corpus, single = _load(source)
    if single:
        if split is not None:
            raise DataError(f"{source.location}: one file (or a pattern whose files name no split) is one "
                            "split, so --split does not apply; leave it out")
        return corpus["train"], None
    name = SPLIT_ALIASES.get(split or "test", split or "test")
    if name not in corpus:
        raise DataError(f"{source.location}: no '{split or name}' split (it has: {', '.join(corpus)}); "
                        "choose one with --split")
    return corpus[name], name


def read_conll(paths: Path | Sequence[Path]) -> datasets.Dataset:
    """Read CoNLL files, each checked line by line, into one memory-mapped dataset.

    Token in the first column, tag in the last, any number of columns between; a blank line
    ends a sentence; -DOCSTART- lines, and `#` comment lines between sentences, are skipped.
    """
    files = [paths] if isinstance(paths, Path) else list(paths)
    return _with_tag_labels(datasets.concatenate_datasets([read_conll_file(path) for path in files]))


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


def joined(splits: Sequence[datasets.Dataset]) -> datasets.Dataset:
    """Standardised splits as one, their tags relabelled by the names of all of them (a split
    may lack a tag another has)."""
    names = sorted({name for split in splits for name in tag_names(split)}, key=_tag_order)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})

    def relabelled(split: datasets.Dataset) -> datasets.Dataset:
        if tag_names(split) == names:
            return split
        label_ids = [names.index(name) for name in tag_names(split)]
        return split.map(lambda batch: {"ner_tags": [[label_ids[i] for i in tags] for tags in batch["ner_tags"]]},
                         batched=True, batch_size=ROWS_PER_CHECK, features=features)

    return datasets.concatenate_datasets([relabelled(split) for split in splits])


def tag_sequences(dataset: datasets.Dataset) -> list[list[str]]:
    """Every sentence's tags as strings."""
    names = tag_names(dataset)
    return [[names[i] for i in ids] for ids in dataset["ner_tags"]]


def _load(source: Source) -> tuple[datasets.DatasetDict, bool]:
    """The corpus, and whether it is one file (or pattern) with no split names."""
    where = resolve(source)
    if isinstance(where, SplitFiles):
        return datasets.DatasetDict({split: _read_files(files, source) for split, files in where.splits.items()}), \
            where.single
    if isinstance(where, HubDataset):
        return _standardise(_load_hub(where), where.id, source), False
    loaded = _load_folder(where)
    if isinstance(loaded, datasets.Dataset):
        return datasets.DatasetDict({"train": _standard_split(loaded, str(where.path), source)}), True
    return _standardise(loaded, str(where.path), source), False


def _read_files(files: Sequence[Path], source: Source) -> datasets.Dataset:
    """One split from its files, each read by its kind: `datasets` files by their suffix, any
    other file as CoNLL."""
    parts = []
    for path in files:
        builder = DATASET_SUFFIXES.get(path.suffix.lower())
        parts.append(read_conll_file(path) if builder is None else
                     _standard_columns(_read_dataset_file(path, builder), str(path), source))
    return _with_tag_labels(datasets.concatenate_datasets(parts))


def _read_dataset_file(path: Path, builder: str) -> datasets.Dataset:
    if path.stat().st_size == 0:
        raise DataError(f"{path}: an empty file; give one with a row per sentence")
    try:
        dataset = datasets.load_dataset(builder, data_files=str(path.resolve()), split="train")
    except Exception as error:  # each builder fails in its own way on a malformed file
        if "corresponds to no data" in str(error):  # a CSV with a header and no rows
            raise DataError(f"{path}: no rows; give a file with a row per sentence") from None
        raise DataError(f"{path}: not a {builder} file datasets can read ({_first_line(error)}); check the "
                        f"file, or give it a suffix that says what it is ({', '.join(DATASET_SUFFIXES)}, "
                        "any other for CoNLL)") from None
    if len(dataset) == 0:
        raise DataError(f"{path}: no rows; give a file with a row per sentence")
    return dataset


def _load_hub(where: HubDataset) -> datasets.DatasetDict:
    try:
        return datasets.load_dataset(where.id)
    except Exception as error:  # the Hub client raises many kinds; all mean "not available"
        raise DataError(f"{where.id}: could not load from the Hugging Face Hub ({_first_line(error)}); "
                        f"{where.hint}") from None


def _load_folder(where: SavedDataset | DatasetFolder) -> datasets.Dataset | datasets.DatasetDict:
    try:
        if isinstance(where, SavedDataset):
            return datasets.load_from_disk(str(where.path))
        return datasets.load_dataset(str(where.path))
    except Exception as error:  # datasets raises many kinds for a folder it cannot read
        raise DataError(f"{where.path}: a dataset folder datasets cannot read ({_first_line(error)}); give "
                        "labelled files named by split (train, dev, test) instead") from None


def _standardise(corpus: datasets.DatasetDict, where: str, source: Source) -> datasets.DatasetDict:
    return datasets.DatasetDict({SPLIT_ALIASES.get(split, split): _standard_split(dataset, f"{where} ({split})", source)
                                 for split, dataset in corpus.items()})


def _standard_split(dataset: datasets.Dataset, where: str, source: Source) -> datasets.Dataset:
    return _with_tag_labels(_standard_columns(dataset, where, source))


def _standard_columns(dataset: datasets.Dataset, where: str, source: Source) -> datasets.Dataset:
    """A `datasets` table as tokens and ner_tags, both lists of strings, checked: its columns found
    by their usual names (or the ones given), tag ids named by their ClassLabel, and lists
    written as text (CSV cells) parsed."""
    tokens = _column(dataset, source.tokens_column, TOKEN_COLUMNS, "--tokens-column", where, "tokens")
    tags = _column(dataset, source.tags_column, TAG_COLUMNS, "--tags-column", where, "tags")
    dataset = dataset.select_columns([tokens, tags])
    if tokens != "tokens":
        dataset = dataset.rename_column(tokens, "tokens")
    if tags != "ner_tags":
        dataset = dataset.rename_column(tags, "ner_tags")
    inner = getattr(dataset.features["ner_tags"], "feature", None)
    names = inner.names if isinstance(inner, datasets.ClassLabel) else None
    text_cells = [column for column in ("tokens", "ner_tags") if _is_text(dataset.features[column])]
    if names is None and "ner_tags" not in text_cells and not _is_text(inner):
        raise DataError(f"{where}: the {tags} column holds {_kind(dataset.features['ner_tags'])}, not tag names; "
                        "write the tags as strings (B-PER), or save the dataset with save_to_disk, which keeps "
                        "the names")
    if "tokens" not in text_cells and not _is_text(getattr(dataset.features["tokens"], "feature", None)):
        raise DataError(f"{where}: the {tokens} column holds {_kind(dataset.features['tokens'])}, not lists of "
                        "words; point --tokens-column at the column of tokens")
    if names is not None or text_cells:
        def standard(batch: dict) -> dict:
            standard_columns = {column: [_cell_list(cell, where, column) for cell in batch[column]]
                                for column in text_cells}
            if names is not None:
                standard_columns["ner_tags"] = [[names[i] for i in ids] for ids in batch["ner_tags"]]
            return standard_columns
        dataset = dataset.map(standard, batched=True, features=sentence_features())
    dataset = dataset.cast(sentence_features()) if dataset.features != sentence_features() else dataset
    _check_rows(dataset, where)
    return dataset


def _column(dataset: datasets.Dataset, given: str | None, usual: tuple[str, ...], option: str, where: str,
            what: str) -> str:
    columns = dataset.column_names
    if given is not None:
        if given not in columns:
            raise DataError(f"{where}: no column '{given}' (it has: {', '.join(columns)}); check {option}")
        return given
    for name in usual:
        if name in columns:
            return name
    raise DataError(f"{where}: no {what} column (it has: {', '.join(columns)}); tagger looks for "
                    f"{' or '.join(usual)}: name yours with {option}")


def _is_text(feature) -> bool:
    return isinstance(feature, datasets.Value) and feature.dtype in ("string", "large_string")


def _kind(feature) -> str:
    inner = getattr(feature, "feature", None)
    if inner is not None:
        return f"lists of {getattr(inner, 'dtype', type(inner).__name__)}"
    return getattr(feature, "dtype", type(feature).__name__)


def _cell_list(cell: str | None, where: str, column: str) -> list[str]:
    """A list written as text in a CSV cell: words separated by spaces, or quoted strings in
    brackets, as pandas writes a list (`['EU', 'rejects']`) or an array (`['EU' 'rejects']`)."""
    text = (cell or "").strip()
    if not text.startswith("["):
        return text.split()
    inner = text[1:-1] if text.endswith("]") else "?"
    if QUOTED.sub("", inner).strip(" ,\n") != "":
        raise DataError(f"{where}: a {column} cell is not a list of quoted strings ({text[:40]}); write it as "
                        "['EU', 'rejects'], or as words separated by spaces")
    return [ast.literal_eval(quoted) for quoted in QUOTED.findall(inner)]


def _check_rows(dataset: datasets.Dataset, where: str) -> None:
    """Every row has as many tags as tokens, and every tag is a tag."""
    rows = 0
    for batch in _arrow_batches(dataset):
        for column in ("tokens", "ner_tags"):
            empty = pc.index(pc.is_null(batch[column]), True).as_py()
            if empty >= 0:
                raise DataError(f"{where}: row {rows + empty + 1}: no {column} (null); give every row its list")
        missing = pc.index(pc.is_null(pc.list_flatten(batch["tokens"])), True).as_py()
        if missing >= 0:
            row = pc.list_parent_indices(batch["tokens"])[missing].as_py()
            raise DataError(f"{where}: row {rows + row + 1}: a token is null; give every token as a string")
        token_counts = pc.fill_null(pc.list_value_length(batch["tokens"]), 0)
        tag_counts = pc.fill_null(pc.list_value_length(batch["ner_tags"]), 0)
        uneven = pc.index(pc.not_equal(token_counts, tag_counts), True).as_py()
        if uneven >= 0:
            raise DataError(f"{where}: row {rows + uneven + 1}: {plural(token_counts[uneven].as_py(), 'token')} "
                            f"but {plural(tag_counts[uneven].as_py(), 'tag')}; give each token one tag")
        tags = pc.fill_null(pc.list_flatten(batch["ner_tags"]), "")
        bad = pc.index(pc.invert(pc.match_substring_regex(tags, TAG.pattern)), True).as_py()
        if bad >= 0:
            row = pc.list_parent_indices(batch["ner_tags"])[bad].as_py()
            raise DataError(f"{where}: row {rows + row + 1}: '{tags[bad].as_py()}' is not a tag; {TAG_HELP}")
        rows += batch.num_rows


def _with_tag_labels(dataset: datasets.Dataset) -> datasets.Dataset:
    """IOB1 to IOB2 and BILOU to BIOES (IOB2 and BIOES are kept), then tags as a ClassLabel;
    written a batch at a time to a new Arrow file beside the source's (kept in memory when
    the source is)."""
    seen = set()
    for batch in _arrow_batches(dataset):
        seen.update(pc.unique(pc.list_flatten(batch["ner_tags"])).to_pylist())
    bilou = is_bilou(seen)
    if bilou:
        seen = set(from_bilou(sorted(seen)))
    iob1 = not is_bioes(seen)
    if iob1:  # every I- entity has a first token, which IOB2 spells B-
        seen |= {"B-" + tag[2:] for tag in seen if tag.startswith("I-")}
    names = sorted(seen, key=_tag_order)
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("string")),
                                  "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names))})
    label_ids = {name: label_id for label_id, name in enumerate(names)}

    def to_label_ids(batch: dict) -> dict:
        tags = batch["ner_tags"]
        if bilou:
            tags = [from_bilou(sentence) for sentence in tags]
        if iob1:
            tags = [to_iob2(sentence) for sentence in tags]
        return {"ner_tags": [[label_ids[tag] for tag in sentence] for sentence in tags]}

    return dataset.map(to_label_ids, batched=True, batch_size=ROWS_PER_CHECK, features=features)


def _tag_order(tag: str) -> tuple[str, str]:
    return ("", "") if tag == "O" else (tag[2:], tag[0])


def _arrow_batches(dataset: datasets.Dataset) -> Iterator[pa.Table]:
    return dataset.with_format("arrow").iter(batch_size=ROWS_PER_CHECK)


def _first_line(error: BaseException) -> str:
    """The first line of what went wrong, from the innermost error: datasets' own wrappers say
    only that something did."""
    *_, error = causes(error)
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
