"""Training throughput of pretrain.py: the mLSTM fast path vs the plain reference cell, one process vs two
gloo processes (torchrun, the same global batch), with peak memory. Each configuration runs pretrain.py
for a few iterations in a subprocess and reads its metrics log, so the numbers include the whole loop
(data streams, loss, optimizer). Prints one JSON line per configuration and the ratios of one run.

    python bench/bench_pretrain.py                       # hidden 1024, a short run
    python bench/bench_pretrain.py --hidden 1024 4096 --iters 6 --seq-length 256
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024], help="mLSTM hidden sizes")
    parser.add_argument("--batch-size", type=int, default=32, help="global batch size")
    parser.add_argument("--seq-length", type=int, default=64, help="characters per row per iteration")
    parser.add_argument("--iters", type=int, default=6, help="measured iterations (after one warm-up)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    return parser.parse_args()


def run(hidden, impl, processes, args, workdir):
    save = os.path.join(workdir, f"h{hidden}_{impl}_{processes}.pt")
    flags = ["--data", "data/lm_corpus/opinions.json", "--loose-json", "--text-key", "text", "--split", "1000,0,0",
             "--nhid", str(hidden), "--emsize", "64", "--batch-size", str(args.batch_size // processes),
             "--seq-length", str(args.seq_length), "--train-iters", str(args.iters + 1), "--log-interval", "1",
             "--save-iters", "0", "--save", save, "--rnn-impl", impl, "--num-workers", str(args.threads)]
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes)]
    command = (launcher if processes > 1 else [sys.executable]) + ["pretrain.py", *flags]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    subprocess.run(command, cwd=REPO, env=env, check=True, capture_output=True, text=True)
    with open(os.path.splitext(save)[0] + ".metrics.jsonl") as f:
        rows = [json.loads(line) for line in f if '"tokens_per_s"' in line]
    measured = rows[1:]  # the first iteration pays for warm-up
    chars_per_s = sum(r["tokens_per_s"] for r in measured) / len(measured)
    return {"hidden": hidden, "impl": impl, "processes": processes, "global_batch": args.batch_size,
            "seq_length": args.seq_length, "threads_per_process": args.threads,
            "train_chars_per_s": round(chars_per_s, 1), "peak_rss_mb_rank0": round(max(r["peak_rss_mb"] for r in rows))}


def main():
    args = parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for hidden in args.hidden:
            results = {}
            for impl, processes in (("reference", 1), ("fast", 1), ("fast", 2)):
                results[(impl, processes)] = run(hidden, impl, processes, args, workdir)
                print(json.dumps(results[(impl, processes)]), flush=True)
            fast, ref, two = (results[k]["train_chars_per_s"] for k in (("fast", 1), ("reference", 1), ("fast", 2)))
            print(json.dumps({"hidden": hidden, "fast_over_reference": round(fast / ref, 2),
                              "two_processes_over_one": round(two / fast, 2)}), flush=True)


if __name__ == "__main__":
    main()
