"""Reading files, the layer under every data format: gzip, UTF-8 decoding, whole tables, the lazy line index
and lazy tables, sequence views, and the cache folder of their sidecar files."""
