"""Where labelled data is: what a user gives as --data (or --train, --dev, --test) resolved to
the files of each split, a saved dataset, or a Hugging Face Hub id, before anything is read.

Knows nothing of `datasets`: it names files and splits; `tagger.data.corpus` reads them.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from tagger.core.config import CHECKOUT
from tagger.core.errors import DataError

DEFAULT_DATA = "conll2003"
LOCAL_COPY = Path("data/conll2003")
HUB_COPY = "lhoestq/conll2003"
# The words of a file or folder name (its runs of letters) that make it a split's; `testa` and
# `testb` are CoNLL-2003's dev and test sets. Whole words, so `latest` or `contest` is no test set.
SPLIT_NAMES = {"train": {"train", "training"},
               "validation": {"dev", "devel", "development", "val", "valid", "validation", "testa"},
               "test": {"test", "testing", "testb"}}
SPLIT_WORDS = "train, dev/valid/validation/testa, test/testb"
CONLL_SUFFIXES = {".txt", ".conll", ".tsv", ".iob", ".iob2", ".bio", ".bioes", ".bilou"}
NOT_DATA = re.compile(r"^(readme|license|licence|changelog)|\.(md|rst|pdf|html)$", re.I)  # in a split's folder
SPLIT_ALIASES = {"dev": "validation", "valid": "validation"}
DATASET_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv", ".arrow": "arrow"}
GLOB_MARKS = re.compile(r"[*?\[]")
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
ONE_BY_ONE = "or give files one by one (train: --train, --dev, --test; eval: --data FILE)"
SAVED_DATASET_FILES = ("dataset_dict.json", "state.json")  # what Dataset(Dict).save_to_disk writes


@dataclass(frozen=True)
class Source:
    """The labelled data a user points at: one location (`data`: a file, folder, glob pattern or
    Hub id) or a file per split, and the names of its columns where they are not the usual ones."""

    data: str | None = None
    train: str | None = None
    dev: str | None = None
    test: str | None = None
    tokens_column: str | None = None
    tags_column: str | None = None

    def __post_init__(self):
        split_files = [name for name in ("train", "dev", "test") if getattr(self, name) is not None]
        if self.data is not None and split_files:
            raise DataError(f"--data and --{split_files[0]} both given; give either one --data or a file per "
                            "split with --train (and --dev, --test)")
        if split_files and self.train is None:
            raise DataError(f"--{split_files[0]} given without --train; give the training file with --train")

    @classmethod
    def of(cls, source: str | os.PathLike | Source | dict | None) -> Source:
        """A Source from what a caller gives: a location (a string or a path), a Source, or a
        recorded dict."""
        if isinstance(source, Source):
            return source
        if isinstance(source, dict):
            return cls(**source)
        return cls(data=None if source is None else os.fspath(source))

    @property
    def location(self) -> str:
        """The data as the user named it, for messages."""
        if self.train is None:
            return self.data or DEFAULT_DATA
        return ", ".join(getattr(self, name) for name in ("train", "dev", "test") if getattr(self, name))

    def to_dict(self) -> dict:
        return {key: value for key, value in asdict(self).items() if value is not None}

    def located(self) -> Source:
        """This source as a training run records it: what was read, with local paths made
        absolute, so that the run resumes from any directory; a Hub id stays as it is."""
        data = self.data or (DEFAULT_DATA if self.train is None else None)
        return replace(self, data=located_path(data), train=located_path(self.train), dev=located_path(self.dev),
                       test=located_path(self.test))


def located_path(name: str | None) -> str | None:
    """A file, folder or pattern made absolute where it is local; a Hub id as it is."""
    if name is None:
        return None
    local = default_local_copy(name) or Path(name)
    return os.path.abspath(local) if local.exists() or GLOB_MARKS.search(name) else name


@dataclass(frozen=True)
class SplitFiles:
    """Local files by split. `single`: one file, or a pattern whose files name no split, which is
    whatever split it is asked for."""

    splits: dict[str, list[Path]]
    single: bool = False


@dataclass(frozen=True)
class SavedDataset:
    """A folder written by `Dataset.save_to_disk` or `DatasetDict.save_to_disk`."""

    path: Path


@dataclass(frozen=True)
class DatasetFolder:
    """A folder laid out as a Hub dataset repository, which `datasets` reads itself."""

    path: Path


@dataclass(frozen=True)
class HubDataset:
    id: str
    hint: str = field(default="check the dataset id, or give a local file or folder")


Resolved = SplitFiles | SavedDataset | DatasetFolder | HubDataset


def resolve(source: Source) -> Resolved:
    """What `source` stands for, checked before any of it is read: a missing local path is said
    to be missing at once, and only an `owner/name` id (or the default) goes to the Hub."""
    if source.train is not None:
        return SplitFiles({split: [_existing_file(name, option)] for split, name, option in
                           (("train", source.train, "--train"), ("validation", source.dev, "--dev"),
                            ("test", source.test, "--test")) if name is not None})
    name = source.data or DEFAULT_DATA
    if GLOB_MARKS.search(name) and not Path(name).exists():
        return _pattern_files(name)
    path = default_local_copy(name) or Path(name)
    if path.is_file():
        return SplitFiles({"train": [path]}, single=True)
    if path.is_dir():
        return _folder(path)
    if name == DEFAULT_DATA:
        return HubDataset(HUB_COPY, hint=f"put the CoNLL-2003 files in {LOCAL_COPY}/ (train.txt, valid.txt, "
                          "test.txt) or connect to the Hugging Face Hub")
    if HUB_ID.match(name) and not Path(name.split("/")[0]).is_dir() and \
            Path(name).suffix.lower() not in (*CONLL_SUFFIXES, *DATASET_SUFFIXES):
        return HubDataset(name)
    raise DataError(f"{name}: no such file or directory; give a labelled file or folder, a glob pattern, "
                    "or a Hugging Face dataset id (owner/name)")


def default_local_copy(name: str) -> Path | None:
    """What the default `conll2003` stands for here: data/conll2003/ when it holds the files (and
    no path of that name exists), in the current directory or else in the clone tagger runs
    from; None for any other name, or without a copy."""
    if name != DEFAULT_DATA or Path(name).exists():
        return None
    places = [LOCAL_COPY] + ([CHECKOUT / LOCAL_COPY] if (CHECKOUT / "pyproject.toml").is_file() else [])
    return next((place for place in places if place.is_dir() and _split_entries(place).get("train")), None)


def split_of(name: str) -> list[str]:
    """The splits a file or folder name could be: none, one, or (for a name that is ambiguous) several."""
    words = set(re.findall(r"[a-z]+", name.lower()))
    return [split for split, names in SPLIT_NAMES.items() if words & names]


def _existing_file(name: str, option: str) -> Path:
    path = Path(name)
    if not path.exists():
        raise DataError(f"{name}: no such file; give an existing file with {option}")
    if not path.is_file():
        raise DataError(f"{name}: not a file; {option} takes one file (give a folder with --data)")
    return path


def _pattern_files(pattern: str) -> SplitFiles:
    files = sorted(Path(name) for name in glob.glob(pattern, recursive=True) if Path(name).is_file())
    if not files:
        raise DataError(f"{pattern}: matches no files; give a pattern that matches labelled files (quote "
                        "it, so that the shell leaves it to tagger)")
    # Where the pattern's folders vary ('corpus/*/*.conll'), a file unnamed takes its folder's split.
    folders_vary = bool(GLOB_MARKS.search(os.path.dirname(pattern)))
    named = {file: split_of(file.name) or (split_of(file.parent.name) if folders_vary else []) for file in files}
    if not any(named.values()):
        return SplitFiles({"train": files}, single=True)
    splits: dict[str, list[Path]] = {}
    for file, file_splits in named.items():
        if len(file_splits) != 1:
            problem = _ambiguity(file_splits) if file_splits else "its name says no split"
            raise DataError(f"{file}: {problem}, among files of {pattern} that name their splits; rename it, "
                            "or narrow the pattern")
        splits.setdefault(file_splits[0], []).append(file)
    return SplitFiles(splits)


def _folder(path: Path) -> Resolved:
    if any((path / name).is_file() for name in SAVED_DATASET_FILES):
        return SavedDataset(path)
    entries = _split_entries(path)
    found = {}
    for split, candidates in entries.items():
        if len(candidates) > 1:
            raise DataError(f"{path}: {' and '.join(entry.name for entry in candidates)} could each be the "
                            f"{split} split; keep one, {ONE_BY_ONE}")
        entry = candidates[0]
        found[split] = sorted(_visible_files(entry)) if entry.is_dir() else [entry]
        if not found[split]:
            raise DataError(f"{entry}: an empty folder; put the {split} split's files in it")
    if found:
        return SplitFiles(found)
    if any(file.suffix in DATASET_SUFFIXES for file in path.rglob("*") if file.is_file()):
        return DatasetFolder(path)
    raise DataError(f"{path}: no file named for a split ({SPLIT_WORDS}); name the files so, {ONE_BY_ONE}")


def _split_entries(path: Path) -> dict[str, list[Path]]:
    """The files and folders of `path` by the split their names say; a name that could be two
    splits is an error."""
    entries: dict[str, list[Path]] = {}
    for entry in sorted(path.iterdir()):
        if entry.name.startswith(".") or not (entry.is_file() or entry.is_dir()):
            continue
        splits = split_of(entry.name)
        if len(splits) > 1:
            raise DataError(f"{entry}: {_ambiguity(splits)}; rename it, {ONE_BY_ONE}")
        if splits:
            entries.setdefault(splits[0], []).append(entry)
    return entries


def _visible_files(folder: Path) -> list[Path]:
    """A split folder's data files: not hidden, and not its README or licence."""
    return [file for file in folder.iterdir()
            if file.is_file() and not file.name.startswith(".") and not NOT_DATA.search(file.name)]


def _ambiguity(splits: list[str]) -> str:
    return f"its name could be the {' or the '.join(splits)} split"
