"""Growable struct-of-arrays tables for records that are appended and never removed.

Links (``markets/contracts.py``) and loans (``markets/credit.py``) are kept as one numpy
array per field, one row per record ever made, so that the monthly work on them is
vectorised. :class:`RecordTable` holds the arrays, grows them by doubling and turns them
into a DataFrame; each subclass declares its fields (name -> (dtype, meaning)).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd


class RecordTable:
    """Rows of records, one numpy array per field of ``FIELDS``; rows are never reused."""

    FIELDS: ClassVar[dict[str, tuple[type, str]]]

    def __init__(self, capacity: int = 64) -> None:
        self.n = 0
        for name, (dtype, _) in self.FIELDS.items():
            setattr(self, name, np.zeros(capacity, dtype=dtype))

    def add(self, **values) -> int:
        """Append one record (fields not given are zero); returns its row."""
        fields = self.__dict__  # the field arrays, read without a getattr call each
        if self.n == fields[next(iter(self.FIELDS))].shape[0]:
            for name in self.FIELDS:
                old = fields[name]
                grown = np.zeros(2 * len(old), dtype=old.dtype)
                grown[: len(old)] = old
                fields[name] = grown
        i = self.n
        self.n += 1
        for name, value in values.items():
            fields[name][i] = value
        return i

    def frame(self) -> pd.DataFrame:
        """All records as a DataFrame, one column per field."""
        return pd.DataFrame({name: getattr(self, name)[: self.n] for name in self.FIELDS})
