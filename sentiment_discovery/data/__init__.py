"""Text data from files on disk to model batches: files/ -> formats/ -> preprocess.py -> tokenizers/ -> batches/
(analysis/architecture.md, section 2)."""
