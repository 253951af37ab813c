"""Text data: from files on disk to model batches.

Layers, each importing only the ones above it:
- `preprocess.py`  the text clean-up a model was trained with (`--process-fn`), used by every stage;
- `files/`         bytes and raw cells from disk: gzip, UTF-8 decoding, whole tables, the lazy line
                   index and lazy tables, sequence views, and the cache folder of their sidecar files;
- `formats/`       data sets: one reader per `--data-format`, labels, `read_dataset` joining the files,
                   and train/valid/test splits;
- `tokenizers/`    text -> ids: bytes and sentencepiece (`builtin.py`), a HuggingFace encoder's (`hf.py`);
- `batches/`       ids -> batches: LM token streams with reset masks (`lm_stream.py`) and padded,
                   bucketed or stratified classification batches (`classification.py`).
"""
