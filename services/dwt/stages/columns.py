"""Small conversions between Arrow columns and numpy arrays, shared by the stages."""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def ints(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """An Arrow integer column (without nulls) as an int64 numpy array."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    return values.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
