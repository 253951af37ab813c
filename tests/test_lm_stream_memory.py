"""The LM stream's memory is bounded by the batch, not by the documents: a multi-megabyte document
is streamed with a small, fixed read-ahead (stream alone, via tracemalloc), and pretrain.py on a corpus
whose one document is a 3 MB line stays under a peak-RSS ceiling (the stream before lazy encoding
built 8 rows x 10 documents x 3 MB as int64 there: about 2 GB)."""
import json
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

from sentiment_discovery.data.batches.lm_stream import LMStream
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
from tests.lm_stream_reference import ReferenceLMStream

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STREAM_CEILING = 16 << 20      # bytes the stream may allocate for 4 rows, whatever the document length
PRETRAIN_CEILING_MB = 900      # peak RSS of the whole pretrain.py process (torch itself is ~300-400 MB)


def long_text(n_chars, seed=0):
    """One document of n_chars characters: words, spaces, a few multi-byte characters."""
    rng = np.random.default_rng(seed)
    words = np.array(["the", "movie", "was", "great", "plot", "acting", "café", "naïve", "good", "bad"])
    text = " ".join(rng.choice(words, size=n_chars // 4))
    return (text * (n_chars // max(len(text), 1) + 1))[:n_chars]


def peak_allocated(make_stream, n_batches):
    """Peak bytes allocated (tracemalloc, numpy included) while building a stream and reading batches."""
    tracemalloc.start()
    try:
        stream = make_stream()
        for _ in range(n_batches):
            stream.next_batch()
        state = stream.state_dict()
        resumed = make_stream()
        resumed.load_state_dict(state)
        resumed.next_batch()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.slow
def test_stream_memory_does_not_grow_with_document_length():
    docs = [long_text(2_000_000), "a short one"]
    config = dict(docs=docs, tokenizer=CharTokenizer(), batch_size=4, seq_length=64, samples_per_shard=2, seed=3)
    peak = peak_allocated(lambda: LMStream(**config), 30)
    assert peak < STREAM_CEILING, f"stream allocated {peak / 2**20:.1f} MiB"
    # the ceiling has teeth: building shards whole needs rows x documents x length x 9 bytes
    reference_peak = peak_allocated(lambda: ReferenceLMStream(**config), 3)
    assert reference_peak > 2 * STREAM_CEILING


def test_resume_deep_inside_a_long_document_is_exact():
    docs = [long_text(300_000, seed=1), long_text(200_000, seed=2)]
    config = dict(docs=docs, tokenizer=CharTokenizer(), batch_size=2, seq_length=512, samples_per_shard=3, seed=8)
    stream = LMStream(**config)
    for _ in range(400):   # about 200 K tokens a row: inside the first documents
        stream.next_batch()
    resumed = LMStream(**config)
    resumed.load_state_dict(stream.state_dict())
    assert resumed.state_dict() == stream.state_dict()
    for _ in range(5):
        a, b = stream.next_batch(), resumed.next_batch()
        assert all(bool((a[k] == b[k]).all()) for k in a)


@pytest.mark.subprocess
def test_pretrain_on_a_multi_megabyte_document_stays_under_a_memory_ceiling(tmp_path):
    corpus = tmp_path / "one_document.json"
    corpus.write_text(json.dumps({"text": long_text(3_000_000)}) + "\n", encoding="utf-8")
    cmd = [sys.executable, "pretrain.py", "--data", str(corpus), "--loose-json", "--text-key", "text",
           "--split", "1,0,0", "--batch-size", "8", "--seq-length", "32", "--nhid", "16", "--emsize", "8",
           "--samples-per-shard", "10", "--train-iters", "3", "--save", str(tmp_path / "lm.pt"),
           "--num-workers", "1", "--device", "cpu"]
    env = {**os.environ, "PYTHONPATH": REPO, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)   # this child's own rusage, not the test session's
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, stderr[-2000:]
    peak_mb = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10)   # bytes on macOS, KiB on Linux
    assert peak_mb < PRETRAIN_CEILING_MB, f"pretrain.py peaked at {peak_mb:.0f} MB"
    assert (tmp_path / "lm.pt").exists()
