"""Tag schemes (IOB1, IOB2, BIOES) and the entities read off tag sequences, as conlleval reads them."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

TAG = re.compile(r"^(O|[BIESUL]-[^\s,;|]+)$")  # a separator in a type means a list of tags in one cell
TAG_HELP = "tags must be O or B-, I-, E-, S- (or U-, L-) followed by a type, e.g. B-PER"


@dataclass(frozen=True)
class Entity:
    """Tokens `start` to `end` (exclusive) of a sentence, of one type."""

    type: str
    start: int
    end: int


def is_bioes(tags: Iterable[str]) -> bool:
    """Whether the tags are BIOES: only that scheme has E- and S- tags."""
    return any(tag[:2] in ("E-", "S-") for tag in tags)


def to_iob2(tags: Sequence[str]) -> list[str]:
    """Make every entity start with B-, as IOB1 and conlleval read an I- after another type."""
    converted, previous = [], "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        converted.append(tag)
        previous = tag
    return converted


def entities(tags: Sequence[str]) -> list[Entity]:
    """Entities in IOB2, IOB1 or BIOES tags, read as conlleval does: an I- tag of another type
    than the one before starts a new entity."""
    found: list[Entity] = []
    current: tuple[str, int] | None = None
    for position, tag in enumerate(list(tags) + ["O"]):
        prefix, kind = (tag[0], tag[2:]) if tag != "O" else ("O", "")
        continues = current is not None and prefix in "IE" and kind == current[0]
        if current is not None and not continues:
            found.append(Entity(current[0], current[1], position))
            current = None
        if prefix in "BS" or (prefix in "IE" and current is None):
            current = (kind, position)
        if current is not None and prefix in "ES":
            found.append(Entity(current[0], current[1], position + 1))
            current = None
    return found


def is_bilou(tags: Iterable[str]) -> bool:
    """Whether the tags are BILOU: BIOES with U- for S- and L- for E-."""
    return any(tag[:2] in ("U-", "L-") for tag in tags)


def from_bilou(tags: Sequence[str]) -> list[str]:
    """BILOU tags spelled as BIOES."""
    return [{"U-": "S-", "L-": "E-"}.get(tag[:2], tag[:2]) + tag[2:] for tag in tags]


def to_scheme(tags: Sequence[str], bioes: bool) -> list[str]:
    """The entities of `tags` (in any scheme) spelled in BIOES or in IOB2."""
    spelled = ["O"] * len(tags)
    for entity in entities(tags):
        length = entity.end - entity.start
        inside = ["I-" + entity.type] * length
        inside[0] = "B-" + entity.type
        if bioes:
            if length == 1:
                inside[0] = "S-" + entity.type
            else:
                inside[-1] = "E-" + entity.type
        spelled[entity.start:entity.end] = inside
    return spelled
