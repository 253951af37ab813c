"""Reading files: the layer under every data format.

- `gzip_source.py`  .gz streamed for eager reading, decompressed once (into the cache) for lazy reading;
- `decoding.py`     UTF-8 decoding that replaces and counts undecodable bytes;
- `tables.py`       a whole .csv / .tsv / .json / loose-JSON file as a DataFrame of raw cells;
- `lazy.py`         the byte-offset line index (built once, kept in the cache) and random access by line;
- `lazy_tables.py`  loose JSON and CSV/TSV records read on demand through a line index;
- `sequences.py`    read-only subset / concatenation / mapped views that load one item at a time;
- `cache.py`        the cache folder for sidecar files (`SENTIMENT_DISCOVERY_CACHE`), never beside the data.
"""
