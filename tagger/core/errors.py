"""The exceptions the library raises for problems a user can fix, which the CLI prints, and the
helpers their messages share."""

from __future__ import annotations

from collections.abc import Iterator


class TaggerError(Exception):
    """A problem with the user's input, data or model: the message says what and what to do."""


class DataError(TaggerError):
    """Training or evaluation data that cannot be read."""


class ArtifactError(TaggerError):
    """A model directory that is missing, incomplete or corrupt."""


class SettingError(TaggerError, ValueError):
    """A training or model setting out of its range; a ValueError too, as a bad value read from
    a model directory is one of the ways its settings can be wrong."""


def causes(error: BaseException) -> Iterator[BaseException]:
    """`error` and the errors behind it, outermost first (as a traceback would show them)."""
    while error is not None:
        yield error
        error = error.__cause__ or (None if error.__suppress_context__ else error.__context__)


def plural(count: int, noun: str) -> str:
    """`one token`, `3 tokens`."""
    return f"one {noun}" if count == 1 else f"{count:,} {noun}s"
