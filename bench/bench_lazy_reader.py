"""Benchmark the lazy reader on a large loose-JSON file: index build, reuse, random access, memory.

Generates a loose-JSON file of --size-gb (default 2 GB, under /tmp; reused if already there and big
enough) from the bundled LM corpus, then prints one JSON line per measurement:
  sequential_read  the reference: reading the whole file in 1 MB chunks (GB/s)
  index_build      building the offset index from scratch (GB/s, and its ratio to sequential_read)
  index_reuse      opening the saved index again
  random_access    N random records via LineIndex + json.loads (records/s)
  random_texts     N random texts via read_dataset(lazy=True).texts (records/s)
Each line carries the peak RSS so far (resource.getrusage; the file is generated in a child process so
it does not count) and the current RSS split into anonymous and file-backed memory: random access
touches pages of the memory-mapped index, which show up as file-backed RSS (page cache), not heap. The page cache
is warm: the file was just written or read, so this measures the
code, not the disk.

    python bench/bench_lazy_reader.py                 # 2 GB
    python bench/bench_lazy_reader.py --size-gb 0.2 --records 20000
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

from sentiment_discovery.data.files.lazy import LineIndex, index_paths
from sentiment_discovery.data.formats.readers import read_dataset

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(REPO_ROOT, "data", "lm_corpus", "opinions.json")
CHUNK = 1 << 20


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def rss_parts_mb():
    """Current resident memory split into anonymous (heap) and file-backed (mapped files, e.g.
    the memory-mapped index: page cache, reclaimable) parts, from /proc (Linux)."""
    parts = {}
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(("RssAnon:", "RssFile:")):
                    name, kib = line.split()[:2]
                    parts[name.rstrip(":").lower() + "_mb"] = round(int(kib) / 1024, 1)
    except OSError:
        pass
    return parts


def report(name, **numbers):
    print(json.dumps({"measure": name, **numbers, "peak_rss_mb": round(peak_rss_mb(), 1),
                      **rss_parts_mb()}), flush=True)


def generate(path, size_bytes):
    """Write loose JSON records (the corpus, repeated, each copy tagged) up to size_bytes."""
    if os.path.exists(path) and os.path.getsize(path) >= size_bytes:
        return False
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(CORPUS, encoding="utf-8") as handle:
        texts = [json.loads(line)["text"] for line in handle]
    block = "".join(json.dumps({"copy": "COPY", "text": t}) + "\n" for t in texts)
    tmp_path = path + ".partial"
    written, copy = 0, 0
    with open(tmp_path, "w", encoding="utf-8") as out:
        while written < size_bytes:
            piece = block.replace('"COPY"', str(copy).rjust(6))
            out.write(piece)
            written += len(piece.encode("utf-8"))
            copy += 1
    os.replace(tmp_path, path)
    return True


def sequential_read_seconds(path):
    buffer = bytearray(CHUNK)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as handle:
        while handle.readinto(buffer):
            pass
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--path", default="/tmp/sentiment_discovery_bench/lazy_reader.jsonl")
    parser.add_argument("--size-gb", type=float, default=2.0)
    parser.add_argument("--records", type=int, default=100_000, help="random records to read")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generate_only:
        generate(args.path, int(args.size_gb * 1e9))
        return
    report("baseline_after_imports")

    start = time.perf_counter()  # generated in a child process, so its memory is not counted here
    existed = os.path.exists(args.path)
    subprocess.run([sys.executable, __file__, "--generate-only", "--path", args.path,
                    "--size-gb", str(args.size_gb)], check=True)
    size_gb = os.path.getsize(args.path) / 1e9
    report("file", path=args.path, size_gb=round(size_gb, 3), reused=existed,
           seconds=round(time.perf_counter() - start, 2))

    read_s = sequential_read_seconds(args.path)
    report("sequential_read", seconds=round(read_s, 3), gb_per_s=round(size_gb / read_s, 3))

    for saved in index_paths(args.path):  # in the cache folder (SENTIMENT_DISCOVERY_CACHE)
        if os.path.exists(saved):
            os.remove(saved)  # measure a build from scratch
    start = time.perf_counter()
    index = LineIndex(args.path)
    build_s = time.perf_counter() - start
    report("index_build", seconds=round(build_s, 3), gb_per_s=round(size_gb / build_s, 3),
           lines=len(index), index_mb=round(os.path.getsize(index.index_path) / 1e6, 1),
           ratio_to_sequential_read=round(read_s / build_s, 3))

    start = time.perf_counter()
    index = LineIndex(args.path)
    report("index_reuse", seconds=round(time.perf_counter() - start, 4), lines=len(index))

    picks = np.random.default_rng(args.seed).integers(0, len(index), size=args.records)
    start = time.perf_counter()
    n_chars = sum(len(json.loads(index[int(i)])["text"]) for i in picks)
    seconds = time.perf_counter() - start
    report("random_access", records=args.records, records_per_s=round(args.records / seconds),
           chars=n_chars)

    texts = read_dataset(args.path, text_key="text", lazy=True, require_labels=False).texts
    start = time.perf_counter()
    n_chars = sum(len(texts[int(i)]) for i in picks)
    seconds = time.perf_counter() - start
    report("random_texts", records=args.records, records_per_s=round(args.records / seconds),
           chars=n_chars)


if __name__ == "__main__":
    main()
