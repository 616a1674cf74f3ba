"""tagger: train, evaluate and run a Bi-LSTM named-entity tagger, from the shell or from Python.

    import tagger
    nlp = tagger.load("models/conll2003")
    doc = nlp("Angela Merkel met Emmanuel Macron in Paris.")
    for entity in doc.entities:
        print(entity.text, entity.type, entity.start, entity.end, entity.score)

`tagger.load` gives a `Tagger`: call it on a string, or use `pipe(texts)` for many texts and
`tag_tokens(sentences)` for text already split into tokens; each gives `Doc`s whose `entities`
are `Span`s. Torch is imported on first use, so `import tagger` stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tagger.use.predict import Doc, Span, Tagger

__all__ = ["Doc", "Span", "Tagger", "load"]


def load(model: str | Path | None = None, device: str = "auto", threads: int = 1) -> Tagger:
    """The model saved in directory `model` (default: $TAGGER_MODEL, else models/conll2003), ready to
    tag on `device` (auto: the first GPU if there is one, else the CPU; or cpu, cuda, cuda:N), its
    network's operations running on `threads` threads (for torch, the process's setting).
    Raises tagger.core.errors.TaggerError, with a one-line message, when there is no usable model there."""
    from tagger.core.config import model_dir_to_read
    from tagger.use.predict import Tagger

    return Tagger.load(Path(model) if model is not None else model_dir_to_read(), device, threads)


def __getattr__(name: str):
    if name in ("Doc", "Span", "Tagger"):
        from tagger.use import predict

        return getattr(predict, name)
    raise AttributeError(f"module 'tagger' has no attribute {name!r}")
