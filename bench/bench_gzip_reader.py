"""Benchmark lazy reading of a large Amazon-style `.json.gz`: sidecar decompression, index build, rating scan,
reuse, random access, and peak memory.

Generates (in a child process, so its memory does not count) a gzip file of Amazon review records
(`reviewText` made of a few documents of the bundled LM corpus, `overall` 1-5) holding --size-gb of
uncompressed JSON (default 1 GB), then prints one JSON line per measurement:
  first_read     read_dataset(data_format="amazon", lazy=True, binarize_sent=3): decompress to the sidecar,
                 build the line index, read every rating (GB/s of uncompressed data)
  reuse_read     the same call again: sidecar and index reused, ratings read again
  unlabelled     require_labels=False (what pretraining does): no rating pass
  random_texts   N random review texts of the lazy data set (records/s)
Each line carries the peak RSS so far and the current anonymous / file-backed RSS (see
bench_lazy_reader.py). The generated .gz, its sidecar and index (in the cache folder,
$SENTIMENT_DISCOVERY_CACHE) are deleted at the end unless --keep.

    PYTHONPATH=. python bench/bench_gzip_reader.py          # 1 GB of reviews
    PYTHONPATH=. python bench/bench_gzip_reader.py --size-gb 0.1 --records 20000
"""
import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_lazy_reader import CORPUS, report

from sentiment_discovery.data.files.gzip_source import STAMP_SUFFIX, sidecar_paths
from sentiment_discovery.data.files.lazy import index_paths
from sentiment_discovery.data.formats.readers import read_dataset

DOCS_PER_REVIEW = (3, 8)


def generate(path, size_bytes, seed=0):
    """Write Amazon-style review lines, gzip-compressed, until size_bytes of JSON are written."""
    with open(CORPUS, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    rng = random.Random(seed)
    written, review = 0, 0
    tmp_path = path + ".partial"
    with gzip.open(tmp_path, "wt", encoding="utf-8", compresslevel=6) as out:
        while written < size_bytes:
            lines = []
            for _ in range(1000):
                start = rng.randrange(len(texts) - DOCS_PER_REVIEW[1])
                body = " ".join(texts[start:start + rng.randint(*DOCS_PER_REVIEW)])
                lines.append(json.dumps({"reviewerID": f"A{review:012d}", "asin": f"B{review % 99991:09d}",
                                         "helpful": [rng.randrange(5), rng.randrange(9)], "reviewText": body,
                                         "overall": float(rng.randint(1, 5)), "summary": body[:40],
                                         "unixReviewTime": 1_300_000_000 + review}) + "\n")
                review += 1
            chunk = "".join(lines)
            out.write(chunk)
            written += len(chunk.encode("utf-8"))
    os.replace(tmp_path, path)


def timed_read(path, **options):
    start = time.perf_counter()
    ds = read_dataset(path, data_format="amazon", lazy=True, **options)
    return ds, time.perf_counter() - start


def cached_copy(path):
    """The decompressed copy of the .gz `path` in the cache folder (or its temp-dir fallback)."""
    return next(copy for copy in sidecar_paths(path) if os.path.exists(copy))


def remove_outputs(path):
    """The .gz and what lazy reading derived from it: its copy, the copy's stamp, lock and index."""
    if not os.path.exists(path):
        return
    for copy in sidecar_paths(path):
        derived = [copy + STAMP_SUFFIX, copy + ".lock"] + (index_paths(copy) if os.path.exists(copy) else [])
        for name in derived + [copy]:
            if os.path.exists(name):
                os.remove(name)
    os.remove(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="/tmp/sentiment_discovery_bench/amazon_reviews.json.gz")
    parser.add_argument("--size-gb", type=float, default=1.0, help="uncompressed JSON to generate")
    parser.add_argument("--records", type=int, default=100_000, help="random records to read")
    parser.add_argument("--keep", action="store_true", help="keep the generated files")
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.path, int(args.size_gb * 1e9))
        return
    os.makedirs(os.path.dirname(args.path), exist_ok=True)
    remove_outputs(args.path)
    report("baseline_after_imports")
    start = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--generate-only", "--path", args.path, "--size-gb", str(args.size_gb)],
                   check=True)
    report("file", gz_gb=round(os.path.getsize(args.path) / 1e9, 3), seconds=round(time.perf_counter() - start, 1))
    try:
        measure(args)
    finally:
        if not args.keep:
            remove_outputs(args.path)


def measure(args):
    ds, seconds = timed_read(args.path, binarize_sent=3.0)
    copy = cached_copy(args.path)
    raw_gb = os.path.getsize(copy) / 1e9
    index = next(saved for saved in index_paths(copy) if os.path.exists(saved))
    report("first_read", seconds=round(seconds, 2), uncompressed_gb=round(raw_gb, 3),
           gb_per_s=round(raw_gb / seconds, 3), reviews_kept=len(ds),
           index_mb=round(os.path.getsize(index) / 1e6, 1))
    ds, seconds = timed_read(args.path, binarize_sent=3.0)
    report("reuse_read", seconds=round(seconds, 2), reviews_kept=len(ds))
    unlabelled, seconds = timed_read(args.path, require_labels=False)
    report("unlabelled", seconds=round(seconds, 3), reviews=len(unlabelled))
    picks = np.random.default_rng(0).integers(0, len(ds), size=args.records)
    start = time.perf_counter()
    n_chars = sum(len(ds.texts[int(i)]) for i in picks)
    seconds = time.perf_counter() - start
    report("random_texts", records=args.records, records_per_s=round(args.records / seconds), chars=n_chars)


if __name__ == "__main__":
    main()
