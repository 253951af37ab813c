"""Thread settings on an idle machine and beside a busy process: each script's wall time under the
project's default (all cores, idle OpenMP threads sleep), libgomp's own default (threads spin ~300,000 times
before sleeping: GOMP_SPINCOUNT=300000, what a run got before the project chose a wait policy), a short
spin, and one thread. "Busy" is one other process spinning on one core for the whole run.

Prints one JSON line per (script, condition, setting) with the median wall seconds of the repeats, then per
(script, condition) the default's time over the best setting's (1.0 = the default is the best).

    python bench/bench_threads.py                                  # every script, 3 repeats
    python bench/bench_threads.py --scripts run_classifier pretrain --repeats 5

It first makes what the scripts need in a temporary folder: a 512-unit mLSTM (quickstart size, a few
iterations) and its transfer classifier on binary SST. Take it on a machine nothing else uses."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SETTINGS = {
    "default": ({}, []),
    "libgomp spin": ({"GOMP_SPINCOUNT": "300000"}, []),
    "short spin": ({"GOMP_SPINCOUNT": "10000"}, []),
    "1 thread": ({}, ["--threads", "1"]),
}
LM = ["--nhid", "512", "--emsize", "64", "--batch-size", "32", "--seq-length", "64", "--lr", "2e-3", "--clip", "1",
      "--data", "data/lm_corpus/opinions.json", "--loose-json", "--text-key", "text", "--split", "100,1,1"]


def commands(work):
    """(script, argv) of a measured run of each script, reading what `prepare` made in `work`."""
    lm, clf = os.path.join(work, "lm.pt"), os.path.join(work, "lm_transfer", "classifier.pt")
    rows = os.path.join(work, "sst600.csv")
    return {
        "pretrain": ["pretrain.py", *LM, "--train-iters", "60", "--log-interval", "20", "--save-iters", "0",
                     "--save", os.path.join(work, "bench_lm.pt")],
        "transfer": ["transfer.py", "--load", lm, "--data", rows, "--valid", rows, "--test", rows, "--neurons", "1",
                     "--output-dir", os.path.join(work, "bench_transfer"), "--overwrite-output-dir"],
        "run_classifier": ["run_classifier.py", "--load", clf, "--data", rows, "--save-probs",
                           os.path.join(work, "clf.npy")],
        "finetune": ["finetune_classifier.py", "--load", lm, "--data", rows, "--valid", rows, "--test", rows,
                     "--batch-size", "32", "--epochs", "1", "--train-iters", "12", "--save",
                     os.path.join(work, "ft", "clf.pt")],
        "generate": ["generate.py", "--load", clf, "--text", "this movie is", "--gen-length", "400",
                     "--num-samples", "4", "--save", os.path.join(work, "gen.txt")],
        "threshold": ["threshold.py", "--preds-file", os.path.join(work, "clf.npy.prob.npy"), "--labels-file", rows,
                      "--global-tweaks", "2000"],
    }


def prepare(work):
    with open(os.path.join(REPO, "data", "binary_sst", "test.csv"), encoding="utf-8") as source:
        lines = source.readlines()[:601]
    with open(os.path.join(work, "sst600.csv"), "w", encoding="utf-8") as rows:
        rows.writelines(lines)
    run(["pretrain.py", *LM, "--train-iters", "20", "--save", os.path.join(work, "lm.pt")], {})
    run(["transfer.py", "--load", os.path.join(work, "lm.pt"), "--neurons", "1"], {})
    run(commands(work)["run_classifier"], {})


def run(argv, extra_env):
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OMP_", "GOMP_"))}
    env.update(extra_env)
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], cwd=REPO, env=env, check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def measure(script, argv, busy, repeats):
    """{setting: median seconds} of one script, with or without a busy process beside it."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        times = {name: [] for name in SETTINGS}
        for _ in range(repeats):                       # settings interleaved: drift hits them alike
            for name, (env, flags) in SETTINGS.items():
                times[name].append(run([*argv, *flags], env))
        return {name: statistics.median(values) for name, values in times.items()}
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scripts", nargs="+", default=["pretrain", "transfer", "run_classifier", "finetune",
                                                         "generate", "threshold"])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="bench_threads_")
    try:
        prepare(work)
        summary = []
        for script in args.scripts:
            for busy in (False, True):
                seconds = measure(script, commands(work)[script], busy, args.repeats)
                condition = "busy" if busy else "idle"
                for name, value in seconds.items():
                    print(json.dumps({"script": script, "condition": condition, "setting": name,
                                      "seconds": round(value, 2)}), flush=True)
                best = min(seconds, key=seconds.get)
                summary.append((script, condition, seconds["default"] / seconds[best], best))
        for script, condition, ratio, best in summary:
            print(f"{script:15s} {condition:5s} default/best {ratio:.2f} (best: {best})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
