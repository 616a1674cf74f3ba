"""How a model's word vectors are kept small: integers with a scale per row.

The pretrained rows that training never changes (words the training data lacks) are kept in
4 bits each, two to a byte, with a half-precision scale per row; the trained rows are saved
in 8 bits with a float scale per row. Measured on CoNLL-2003 (tests/benchmarks/README.md,
"Model size"), neither moves F1 beyond the noise between seeds. The model (torch) and the
exported network (ONNX) each read these back in their own operations, the same arithmetic:
`(code - offset) * scale` in float32.
"""

from __future__ import annotations

import numpy as np

NIBBLE_LEVELS = 7  # a 4-bit value is -7..7, stored as 1..15 (+ NIBBLE_OFFSET)
NIBBLE_OFFSET = 8
BYTE_LEVELS = 127  # an 8-bit value is -127..127


def pack_nibbles(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, dim) floats as (rows, ceil(dim / 2)) uint8, two 4-bit values a byte (the even
    column in the low half), and their (rows,) float16 scales."""
    scales = _scales(rows, NIBBLE_LEVELS, np.float16)
    values = np.clip(np.rint(rows / scales.astype(np.float32)[:, None]), -NIBBLE_LEVELS, NIBBLE_LEVELS)
    values = (values + NIBBLE_OFFSET).astype(np.uint8)
    if values.shape[1] % 2:
        values = np.pad(values, ((0, 0), (0, 1)), constant_values=NIBBLE_OFFSET)
    return values[:, 0::2] | (values[:, 1::2] << 4), scales


def unpack_nibbles(codes: np.ndarray, scales: np.ndarray, dim: int) -> np.ndarray:
    """The float32 rows `pack_nibbles` packed (to its rounding)."""
    values = np.stack([codes & 15, codes >> 4], axis=-1).reshape(*codes.shape[:-1], -1)[..., :dim]
    return (values.astype(np.float32) - NIBBLE_OFFSET) * scales.astype(np.float32)[..., None]


def pack_bytes(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, dim) floats as int8 values and their (rows,) float32 scales."""
    scales = _scales(rows, BYTE_LEVELS, np.float32)
    values = np.clip(np.rint(rows / scales[:, None]), -BYTE_LEVELS, BYTE_LEVELS)
    return values.astype(np.int8), scales


def _scales(rows: np.ndarray, levels: int, dtype: type) -> np.ndarray:
    """Each row's largest magnitude over `levels`, in `dtype`; 1 for a row of zeros (padding),
    whose values are 0 whatever the scale."""
    scales = (np.abs(rows).max(axis=1) / levels).astype(dtype)
    return np.where(scales > 0, scales, dtype(1.0))
