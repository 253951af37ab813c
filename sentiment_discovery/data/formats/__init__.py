"""Data sets: one module per `--data-format` turns a path into a `parts.FilePart`; `readers.read_dataset` joins
them into a `TextDataset`; `splits.py` cuts one by `--split`."""
