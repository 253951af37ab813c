"""Data sets: `readers.read_dataset(paths, ...) -> TextDataset`, and splitting one.

One module per `--data-format` (`table.py`, `text.py`, `imdb.py`, `amazon.py`, `goemotions.py`,
`sst5.py`) turns a path into a `parts.FilePart`; `readers.py` picks the format, joins the parts and
checks their labels (`labels.py`); `splits.py` cuts a data set by `--split`.
"""
