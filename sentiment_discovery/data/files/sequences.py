"""Read-only sequence views used by lazy data sets: subsets, concatenations, mapped records.

They behave like lists for `len`, integer indexing (negative too) and iteration, and never load
more than the item asked for, so a data set of a 40 GB file can be split and joined freely.
"""
from collections.abc import Sequence

import numpy as np


def _normalise_index(i, length):
    """A non-negative int index, or IndexError."""
    i = int(i)
    if not -length <= i < length:
        raise IndexError(f"index {i} out of range for length {length}")
    return i % length


class SubsetSequence(Sequence):
    """`base[indices[i]]` for each i: a lazy subset in a given order."""

    def __init__(self, base, indices):
        self.base = base
        self.indices = np.asarray(indices, dtype=np.int64)  # (n,)

    def __len__(self):
        return int(self.indices.size)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SubsetSequence(self.base, self.indices[i])
        return self.base[int(self.indices[_normalise_index(i, len(self))])]


class ConcatSequence(Sequence):
    """Several sequences read one after another as one."""

    def __init__(self, parts):
        self.parts = list(parts)
        self.ends = np.cumsum([len(part) for part in self.parts], dtype=np.int64)  # (parts,)

    def __len__(self):
        return int(self.ends[-1]) if self.parts else 0

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SubsetSequence(self, np.arange(len(self))[i])
        i = _normalise_index(i, len(self))
        part = int(np.searchsorted(self.ends, i, side="right"))
        start = int(self.ends[part - 1]) if part else 0
        return self.parts[part][i - start]


class MappedSequence(Sequence):
    """`fn(base[i])`, computed when item i is asked for."""

    def __init__(self, base, fn):
        self.base = base
        self.fn = fn

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return SubsetSequence(self, np.arange(len(self))[i])
        return self.fn(self.base[_normalise_index(i, len(self))])


def take(sequence, indices):
    """Items `indices` of `sequence`: a list for a list, a lazy view for anything else."""
    if isinstance(sequence, list):
        return [sequence[int(i)] for i in indices]
    return SubsetSequence(sequence, indices)


def concat(sequences):
    """One sequence of all items: a list when every part is a list, else a lazy view."""
    if all(isinstance(part, list) for part in sequences):
        return [item for part in sequences for item in part]
    return ConcatSequence(sequences)
