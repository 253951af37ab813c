"""run_classifier.py on one process against N processes (torchrun: gloo CPU processes, or one GPU each with
nccl): characters per second of each (from run_classifier's summary: the classifying loop's wall clock),
their ratio, each run's wall time and peak memory (the largest process, `/usr/bin/time -v`), and the
largest difference between the two runs' probabilities (0 expected: a block's numbers do not depend on
the process that computes it).

The input repeats data/binary_sst rows up to --rows, with an empty row, a blank row and a quoted field
holding newlines every 100 rows: a CSV read into memory, or with --lazy the same rows as JSON lines read
lazily (lazy reading needs one record per line).

    python bench/bench_classify_sharded.py --load runs/quickstart/lang_model_transfer/classifier.pt
    python bench/bench_classify_sharded.py --load clf.pt --rows 200000 --nproc 2 --lazy --skip-single
    python bench/bench_classify_sharded.py --tiny 64 --rows 20000       # a random 64-unit classifier

One JSON line per run, then one with the ratio (N processes over one; with --repeats the runs alternate and
the medians are reported). The runs share the machine with whatever else runs on it: the ratio is the
figure to compare, not the absolute rates.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SST = [os.path.join(REPO, "data", "binary_sst", f"{name}.csv") for name in ("train", "val", "test")]
SPECIAL = ["", "   ", 'a quoted field\nwith "two" lines']  # one each per 100 rows
TORCHRUN_VARS = ("RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
SUMMARY = re.compile(r"classified (\d+) texts in ([\d.]+)s \(([\d.]+) texts/s, (\d+) chars/s\)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    model = parser.add_mutually_exclusive_group(required=True)
    model.add_argument("--load", help="classifier checkpoint (from transfer.py or finetune_classifier.py)")
    model.add_argument("--tiny", type=int, metavar="HIDDEN", help="a random mLSTM classifier of this hidden size")
    parser.add_argument("--rows", type=int, default=20000, help="rows of the input")
    parser.add_argument("--nproc", type=int, default=None, help="processes of the sharded run (default: the "
                                                                 "number of GPUs with --device cuda, else 2)")
    parser.add_argument("--device", default="cpu", help="cpu (gloo processes) or cuda (one GPU per process)")
    parser.add_argument("--single-threads", type=int, default=1,
                        help="torch threads of the one-process run on CPU (the sharded run: 1 per process)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lazy", action="store_true", help="JSON lines read with --lazy instead of a CSV")
    parser.add_argument("--repeats", type=int, default=1, help="pairs of runs, alternating (medians reported)")
    parser.add_argument("--skip-single", action="store_true", help="only the sharded run")
    parser.add_argument("--skip-sharded", action="store_true", help="only the one-process run")
    parser.add_argument("--work", default=None, help="folder for the input and outputs (default: a temp folder)")
    return parser.parse_args(argv)


def input_rows(n_rows):
    """(label, text) rows: SST rows repeated, with the SPECIAL texts every 100 rows."""
    frames = pd.concat([pd.read_csv(path) for path in SST], ignore_index=True)
    rows = list(zip(frames["label"].astype(int), frames["sentence"]))
    out = []
    while len(out) < n_rows:
        i = len(out)
        special = i % 100
        out.append((i % 2, SPECIAL[special]) if special < len(SPECIAL) else rows[i % len(rows)])
    return out


def write_input(folder, n_rows, lazy):
    rows = input_rows(n_rows)
    if lazy:
        path = os.path.join(folder, f"rows{n_rows}.json")
        with open(path, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps({"label": label, "sentence": text}) + "\n" for label, text in rows)
    else:
        path = os.path.join(folder, f"rows{n_rows}.csv")
        pd.DataFrame(rows, columns=["label", "sentence"]).to_csv(path, index=False)
    return path, sum(len(text) for _, text in rows)


def tiny_classifier(folder, hidden):
    sys.path.insert(0, REPO)
    import torch

    from sentiment_discovery.checkpoint import classifier_payload, save_checkpoint
    from sentiment_discovery.data.tokenizers.builtin import CharTokenizer
    from sentiment_discovery.models.classifier import (
        build_classifier,
        classifier_config,
    )
    torch.manual_seed(0)
    config = classifier_config({"model": "mLSTM", "vocab_size": 257, "emsize": 64, "nhid": hidden, "nlayers": 1},
                               n_outputs=1)
    path = os.path.join(folder, f"tiny{hidden}.pt")
    save_checkpoint(path, classifier_payload(config, build_classifier(config).state_dict(), CharTokenizer(), ["label"],
                                             [0.5], "process_str", "bench"))
    return path


def classify_argv(args, load, data, out):
    return ["run_classifier.py", "--load", load, "--data", data, "--device", args.device,
            "--batch-size", str(args.batch_size), "--save-probs", os.path.join(out, "probs.npy"),
            *(["--lazy", "--loose-json"] if args.lazy else [])]


def timed(command, env):
    """(stdout, wall seconds, peak RSS in MB of the largest process or None) of one command."""
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    prefix = [gnu_time, "-v"] if gnu_time else []
    started = time.perf_counter()
    done = subprocess.run([*prefix, *command], cwd=REPO, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... exit {done.returncode}: {done.stderr[-2000:]}")
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return done.stdout, wall, round(int(rss.group(1)) / 1024, 1) if rss else None


def measure(args, name, launcher, load, data, out, env, extra=()):
    os.makedirs(out, exist_ok=True)
    stdout, wall, rss = timed([*launcher, *classify_argv(args, load, data, out), *extra], env)
    match = SUMMARY.search(stdout)
    if match is None:
        raise RuntimeError(f"no summary line in: {stdout[-1000:]}")
    row = {"bench": "classify_sharded", "run": name, "rows": int(match.group(1)), "lazy": args.lazy,
           "device": args.device, "seconds": float(match.group(2)), "chars_per_s": int(match.group(4)),
           "wall_s": round(wall, 1), "peak_rss_mb": rss}
    print(json.dumps(row), flush=True)
    return row


def gpu_count():
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def run(args):
    """The measurements as a list of JSON rows (also printed): --repeats pairs of runs, one process then N
    processes, and with both a summary row (median chars/s of each, median of the pairs' ratios)."""
    work = args.work or tempfile.mkdtemp(prefix="bench_classify_sharded_")
    os.makedirs(work, exist_ok=True)
    load = args.load or tiny_classifier(work, args.tiny)
    data, n_chars = write_input(work, args.rows, args.lazy)
    cpu = not args.device.startswith("cuda")
    nproc = args.nproc or (0 if cpu else gpu_count()) or 2
    env = {k: v for k, v in os.environ.items() if k not in TORCHRUN_VARS}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO, env.get("PYTHONPATH")]))
    single_name = f"1 process x {args.single_threads} thread(s)" if cpu else "1 process"
    sharded = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc)]
    rows, pairs = [], []
    for _ in range(args.repeats):
        pair = []
        if not args.skip_single:
            pair.append(measure(args, single_name, [sys.executable], load, data, os.path.join(work, "single"), env,
                                ["--threads", str(args.single_threads)] if cpu else []))
        if not args.skip_sharded:
            pair.append(measure(args, f"{nproc} processes" + (" x 1 thread" if cpu else ""), sharded, load, data,
                                os.path.join(work, "sharded"), dict(env, OMP_NUM_THREADS="1")))
        rows += pair
        pairs.append(pair)
    if len(pairs[0]) == 2:
        diff = float(np.max(np.abs(np.load(os.path.join(work, "single", "probs.npy.prob.npy"))
                                   - np.load(os.path.join(work, "sharded", "probs.npy.prob.npy")))))
        ratio = {"bench": "classify_sharded", "ratio": f"{nproc} processes / 1 process", "pairs": len(pairs),
                 "single_chars_per_s": statistics.median(p[0]["chars_per_s"] for p in pairs),
                 "sharded_chars_per_s": statistics.median(p[1]["chars_per_s"] for p in pairs),
                 "chars_per_s_ratio": round(statistics.median(p[1]["chars_per_s"] / max(p[0]["chars_per_s"], 1)
                                                              for p in pairs), 3),
                 "wall_ratio": round(statistics.median(p[0]["wall_s"] / p[1]["wall_s"] for p in pairs), 3),
                 "max_abs_prob_diff": diff, "input_chars": n_chars}
        print(json.dumps(ratio), flush=True)
        rows.append(ratio)
    return rows


def main(argv=None):
    run(parse_args(argv))


if __name__ == "__main__":
    main()
