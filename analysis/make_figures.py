"""Run the project's own benchmarks at small, fast settings and plot what they measured.

Every figure under analysis/figures/ is drawn from `bench_results.json`, which this script writes from
the JSON lines the benchmarks print (never from typed-in numbers). Each section records the exact
command it ran and how long it took, so every number in scale.md / fp16.md can be traced to a line.

    nice -n 10 python analysis/make_figures.py                 # all sections (14 min in the recorded run, load 6)
    python analysis/make_figures.py --sections recurrent       # re-measure one section, keep the others
    python analysis/make_figures.py --plot-only                # redraw the PNGs from the saved JSON

Everything runs with one torch thread (`--threads 1`, OMP_NUM_THREADS=1): on a shared 2-core machine
that is the stable setting, and the ratios inside one section are what the docs quote.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES = os.path.join(REPO, "analysis", "figures")
RESULTS_NAME = "bench_results.json"
ENV_1_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": REPO}

# ---- what each section runs (small settings; the full ones are in the bench headers) ---------------------
RECURRENT = ["bench/bench_recurrent.py", "--hidden", "256", "1024", "4096", "--batch", "32", "--seq", "24",
             "--iters", "2", "--bf16", "--threads", "1"]
TRANSFORMER = ["bench/bench_transformer.py", "--configs", "small,paper", "--batch-size", "4", "--seq-length", "64",
               "--iters", "2", "--threads", "1"]
FEATURIZE = [["bench/bench_featurize.py", "--hidden", "1024", "--sentences", "100", "--precision", "fp32", "bf16",
              "--threads", "1"],
             ["bench/bench_featurize.py", "--hidden", "4096", "--sentences", "30", "--precision", "fp32", "bf16",
              "--no-reference", "--threads", "1"]]
DATA_PARALLEL = ["bench/bench_pretrain.py", "--hidden", "1024", "--iters", "4", "--threads", "1"]
PRETRAIN_MODES = {"fp32": [], "bf16": ["--bf16"], "fp16 dynamic": ["--fp16", "--dynamic-loss-scale"]}
PRETRAIN_FLAGS = ["--data", "data/lm_corpus/opinions.json", "--loose-json", "--text-key", "text",
                  "--split", "100,1,1", "--model", "mLSTM", "--nhid", "256", "--emsize", "64", "--batch-size", "16",
                  "--seq-length", "64", "--lr", "2e-3", "--clip", "1", "--train-iters", "60", "--log-interval", "5",
                  "--eval-iters", "4", "--save-iters", "0", "--num-workers", "1", "--seed", "1"]


# ---- running ----------------------------------------------------------------------------------------------
def run_command(script_args):
    """Run `python <script_args>` in the repo with one thread; (JSON records printed, seconds, command)."""
    command = [sys.executable, *script_args]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=dict(os.environ, **ENV_1_THREAD), capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(script_args)} failed:\n{done.stderr[-2000:]}")
    records = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return records, seconds, "python " + " ".join(script_args)


def measure_benchmarks(argument_lists):
    """One section's result from one or more benchmark invocations."""
    runs = [run_command(args) for args in argument_lists]
    return {"commands": [command for _, _, command in runs], "seconds": sum(s for _, s, _ in runs),
            "records": [record for records, _, _ in runs for record in records]}


def measure_pretrain_modes():
    """Loss curves of the same tiny pretraining run in each precision mode (same seed, same data)."""
    result = {"commands": [], "seconds": 0.0, "records": []}
    with tempfile.TemporaryDirectory() as workdir:
        for mode, mode_flags in PRETRAIN_MODES.items():
            save = os.path.join(workdir, mode.replace(" ", "_") + ".pt")
            _, seconds, command = run_command(["pretrain.py", *PRETRAIN_FLAGS, *mode_flags, "--save", save])
            result["commands"].append(command.replace(save, "lm.pt"))
            result["seconds"] += seconds
            result["records"].append({"mode": mode, "seconds": seconds, **read_metrics(save)})
    return result


def read_metrics(save):
    """Training rows, final validation/test numbers of one pretrain.py run (its .metrics.jsonl)."""
    with open(os.path.splitext(save)[0] + ".metrics.jsonl") as handle:
        rows = [json.loads(line) for line in handle]
    train = [r for r in rows if "loss" in r]
    final = {k: v for r in rows for k, v in r.items() if k.startswith(("val_", "test_"))}
    return {"steps": [r["step"] for r in train], "loss": [r["loss"] for r in train],
            "tokens_per_s": [r["tokens_per_s"] for r in train], "loss_scale": [r["loss_scale"] for r in train],
            "skipped_steps": train[-1]["skipped_steps"], **final}


SECTIONS = {
    "recurrent": lambda: measure_benchmarks([RECURRENT]),
    "transformer": lambda: measure_benchmarks([TRANSFORMER, TRANSFORMER + ["--bf16"]]),
    "featurize": lambda: measure_benchmarks(FEATURIZE),
    "data_parallel": lambda: measure_benchmarks([DATA_PARALLEL]),
    "pretrain_precision": measure_pretrain_modes,
}


# ---- plotting ---------------------------------------------------------------------------------------------
def bar_groups(ax, groups, series, values, ylabel, title):
    """Grouped bars: one group per entry of `groups`, one bar per series; values[series][i] (None: skip)."""
    width = 0.8 / len(series)
    for k, name in enumerate(series):
        xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(groups))]
        heights = [v if v is not None else 0 for v in values[name]]
        ax.bar(xs, heights, width, label=name)
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def plot_recurrent(section, out_dir):
    impls = ["fast", "reference", "nn.LSTM", "fast-bf16", "nn.LSTM-bf16"]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, bench in zip(axes, ("featurize", "train")):
        rows = [r for r in section["records"] if r.get("bench") == bench]
        groups = [f"H={r['hidden']}" for r in rows]
        values = {i: [r["chars_per_s"].get(i) for r in rows] for i in impls}
        bar_groups(ax, groups, impls, values, "characters / s (log)", f"mLSTM {bench}, batch 32, 1 thread")
        ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "recurrent_throughput.png"), dpi=110)
    plt.close(fig)


def plot_matmul_ceiling(section, out_dir):
    """Achieved recurrent GFLOP/s of each implementation next to the plain matmul rates on the same shape."""
    ceilings = {r["hidden"]: r["gflops"] for r in section["records"] if r.get("bench") == "matmul_gflops"}
    rows = [r for r in section["records"] if r.get("bench") == "featurize"]
    groups = [f"H={r['hidden']}" for r in rows]
    series = {"torch.mm fp32 (BxH@Hx4H)": [ceilings[r["hidden"]]["BxH@Hx4H torch.mm fp32"] for r in rows],
              "packed fp32 (BxH@Hx4H)": [ceilings[r["hidden"]]["BxH@Hx4H packed fp32"] for r in rows],
              "mLSTM fast fp32": [r["recurrent_gflops"]["fast"] for r in rows],
              "mLSTM reference fp32": [r["recurrent_gflops"]["reference"] for r in rows],
              "nn.LSTM fp32": [r["recurrent_gflops"]["nn.LSTM"] for r in rows]}
    fig, ax = plt.subplots(figsize=(10, 4))
    bar_groups(ax, groups, list(series), series, "GFLOP/s", "featurizing: achieved recurrent GFLOP/s vs matmul "
               "rate on the same shape (batch 32, 1 thread)")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "matmul_ceiling.png"), dpi=110)
    plt.close(fig)


def plot_transformer(section, out_dir):
    rows = section["records"]
    configs = sorted({r["config"] for r in rows}, key=lambda c: c != "small")
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key, label in ((axes[0], "forward_tokens_per_s", "forward"), (axes[1], "train_tokens_per_s", "train step")):
        values = {name: [next((r[key] for r in rows if r["config"] == c and r["bf16"] == bf16), None)
                         for c in configs] for name, bf16 in (("fp32", False), ("bf16 autocast", True))}
        bar_groups(ax, configs, list(values), values, "tokens / s", f"Transformer LM {label}, batch 4 x 64, 1 thread")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "transformer_throughput.png"), dpi=110)
    plt.close(fig)


def plot_data_parallel(section, out_dir):
    rows = [r for r in section["records"] if "impl" in r]
    labels = [f"{r['impl']}\n{r['processes']} process{'es' if r['processes'] > 1 else ''}" for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(labels, [r["train_chars_per_s"] for r in rows], color=["tab:gray", "tab:blue", "tab:orange"][:len(rows)])
    ax.set_ylabel("training characters / s")
    ax.set_title(f"pretrain.py, mLSTM {rows[0]['hidden']}, global batch {rows[0]['global_batch']} x "
                 f"{rows[0]['seq_length']}, 1 thread per process", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "data_parallel.png"), dpi=110)
    plt.close(fig)


def plot_featurize(section, out_dir):
    rows = section["records"]
    groups = sorted({r["hidden"] for r in rows})
    values = {p: [next((r["fast_chars_per_s"] for r in rows if r["hidden"] == h and r["precision"] == p), None)
                  for h in groups] for p in ("fp32", "bf16")}
    fig, ax = plt.subplots(figsize=(6, 4))
    bar_groups(ax, [f"H={h}" for h in groups], ["fp32", "bf16"], values, "characters / s (log)",
               "run_classifier featurizing, SST sentences, 1 thread")
    ax.set_yscale("log")
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "precision_featurize.png"), dpi=110)
    plt.close(fig)


def plot_pretrain_precision(section, out_dir):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for record, style in zip(section["records"], ("-", "--", ":", "-.")):
        for ax, key in ((axes[0], "loss"), (axes[1], "loss_scale")):
            ax.plot(record["steps"], record[key], style, marker="o", markersize=3, label=record["mode"])
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("training loss (nats / char)")
    axes[0].set_title("mLSTM 256, batch 16 x 64, same seed and data (fp32 and bf16 overlap)", fontsize=10)
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("loss scale (log)")
    axes[1].set_yscale("log")
    axes[1].set_title("loss scale (1 = none)", fontsize=10)
    for ax in axes:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out_dir, "precision_pretrain_loss.png"), dpi=110)
    plt.close(fig)


PLOTS = {"recurrent": [plot_recurrent, plot_matmul_ceiling], "transformer": [plot_transformer],
         "featurize": [plot_featurize], "data_parallel": [plot_data_parallel],
         "pretrain_precision": [plot_pretrain_precision]}


# ---- driver -----------------------------------------------------------------------------------------------
def load_results(path):
    if os.path.exists(path):
        with open(path) as handle:
            return json.load(handle)
    return {}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS),
                        help="sections to (re-)measure; the others keep their saved results")
    parser.add_argument("--plot-only", action="store_true", help="redraw the figures from the saved JSON")
    parser.add_argument("--out-dir", default=FIGURES, help="where the JSON and the PNGs go")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, RESULTS_NAME)
    results = load_results(path)
    if not args.plot_only:
        for name in args.sections:
            print(f"== measuring {name}", flush=True)
            results[name] = {"measured_at": time.strftime("%Y-%m-%d %H:%M:%S"), **SECTIONS[name]()}
            print(f"   {results[name]['seconds']} s", flush=True)
            with open(path, "w") as handle:  # after every section, so an interrupted run keeps its numbers
                json.dump(results, handle, indent=1)
    for name, section in results.items():
        for plot in PLOTS.get(name, []):
            plot(section, args.out_dir)
    print(f"figures and {RESULTS_NAME} in {args.out_dir}")


if __name__ == "__main__":
    main()
