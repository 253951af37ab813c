"""GPU acceptance run: one command that checks, on the machine it runs on, everything a CPU cannot.

    bash bench/gpu_acceptance.sh                                   # on a GPU: full sizes, < 10 minutes
    bash bench/gpu_acceptance.sh --device cpu --tiny               # the same stages, tiny, on any machine

Stages (each records ok/failed, its seconds and its numbers; a failure never stops the next stage):
  gpu_tests            pytest on the tests marked `gpu` (skipped without CUDA)
  pretrain_<mode>      mLSTM-4096 pretraining for --steps steps in fp32, --fp16 --dynamic-loss-scale, --amp,
                       --bf16: chars/s (median of the logged windows after the first) and first/last loss
  recurrent_vs_lstm    fast mLSTM vs torch.nn.LSTM (cuDNN on a GPU) at the same hidden size, training and
                       featurizing: chars/s and recurrent GFLOP/s, and the ratio per recurrent FLOP
  torchrun_resume      torchrun --nproc-per-node 1 --max-restarts 1 pretrain.py --resume auto, the worker
                       SIGKILLed (test-only hook) after its first checkpoint: must restart, resume, finish
  transfer             transfer.py on binary SST with the fp32 LM: accuracy and seconds
  run_classifier       run_classifier.py with transfer's classifier on SST test: rows/s; then
                       bench/bench_classify_sharded.py on repeated SST rows: one process against torchrun
                       with one process per GPU (2 gloo processes on CPU): chars/s of each, their ratio, and
                       the largest difference of the probabilities (must be <= 1e-5)

The summary JSON (--out, default runs/gpu_acceptance.json) is rewritten after every stage, so a crash
still leaves the stages before it. Exit status 0 only when every stage is ok."""
import argparse
import contextlib
import glob
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [REPO, os.path.join(REPO, "bench")]

import torch  # noqa: E402

MODES = {"fp32": [], "fp16": ["--fp16", "--dynamic-loss-scale"], "amp": ["--amp"], "bf16": ["--bf16"]}
FULL = {"nhid": 4096, "emsize": 64, "batch": 64, "seq": 128, "steps": 200, "bench_batch": 128, "bench_seq": 64}
TINY = {"nhid": 32, "emsize": 16, "batch": 4, "seq": 16, "steps": 6, "bench_batch": 4, "bench_seq": 8}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--tiny", action="store_true", help="tiny sizes and data (a CPU check of the script)")
    parser.add_argument("--out", default=os.path.join("runs", "gpu_acceptance.json"), help="summary JSON path")
    parser.add_argument("--work", default=None, help="folder for checkpoints and logs (default: beside --out)")
    parser.add_argument("--steps", type=int, default=None, help="pretraining steps per precision mode")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=list(MODES))
    parser.add_argument("--skip", nargs="*", default=[], help="stage names to leave out")
    return parser.parse_args(argv)


class Summary:
    """The JSON summary, written again after each stage."""

    def __init__(self, path, header):
        self.path, self.data = path, {**header, "stages": {}}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def record(self, name, result):
        self.data["stages"][name] = result
        self.data["all_ok"] = all(stage["ok"] for stage in self.data["stages"].values())
        tmp = self.path + ".tmp"
        with open(tmp, "w") as handle:
            json.dump(self.data, handle, indent=1)
        os.replace(tmp, self.path)
        print(json.dumps({"stage": name, **result}), flush=True)


def run_stage(summary, name, fn):
    """Run one stage; record ok + its numbers, or failed + the last lines of the error."""
    start = time.perf_counter()
    try:
        numbers = fn() or {}
        result = {"ok": True, **numbers}
    except BaseException as err:            # noqa: BLE001 - a stage's failure (even SystemExit) is data
        if isinstance(err, KeyboardInterrupt):
            raise
        text = "".join(traceback.format_exception(err))
        result = {"ok": False, "error": f"{type(err).__name__}: {err}", "traceback_tail": text[-1500:]}
    result["seconds"] = round(time.perf_counter() - start, 1)
    summary.record(name, result)
    return result


def header(args):
    cuda = torch.cuda.is_available()
    return {"torch": torch.__version__, "python": platform.python_version(), "device": args.device,
            "tiny": args.tiny, "cuda_available": cuda, "cuda": torch.version.cuda,
            "gpu": torch.cuda.get_device_name(0) if cuda else None, "started": time.strftime("%Y-%m-%d %H:%M:%S")}


# ---- stages ------------------------------------------------------------------------------------------
def stage_gpu_tests(args):
    files = sorted(path for path in glob.glob(os.path.join(REPO, "tests", "test_*.py"))
                   if "mark.gpu" in open(path, encoding="utf-8").read())
    command = [sys.executable, "-m", "pytest", "-q", "-m", "gpu", "-p", "no:cacheprovider", *files]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|error|deselected)", done.stdout)}
    if done.returncode not in (0, 5):       # 5: nothing collected
        raise RuntimeError(f"pytest exit {done.returncode}: {done.stdout[-800:]}")
    if args.device.startswith("cuda") and counts.get("skipped"):
        raise RuntimeError(f"{counts['skipped']} GPU test(s) skipped on a CUDA run")
    return {"files": [os.path.basename(f) for f in files], **counts}


def lm_flags(args, sizes, data, save, *extra):
    return ["--data", data["corpus"], "--loose-json", "--text-key", "text", "--split", "100,1,1",
            "--nhid", str(sizes["nhid"]), "--emsize", str(sizes["emsize"]), "--batch-size", str(sizes["batch"]),
            "--seq-length", str(sizes["seq"]), "--lr", "5e-4", "--log-interval", str(max(1, sizes["steps"] // 10)),
            "--save", save, "--seed", "1", "--device", args.device, "--train-iters", str(sizes["steps"]),
            *(["--num-workers", "1"] if args.device == "cpu" else []), *extra]


def stage_pretrain(args, sizes, data, mode):
    import pretrain
    from sentiment_discovery.training.metrics_log import read_metrics
    save = os.path.join(data["work"], f"lm_{mode}.pt")
    with _fresh(save):
        summary = pretrain.main(lm_flags(args, sizes, data, save, *MODES[mode]))
    rows = [row for row in read_metrics(os.path.splitext(save)[0] + ".metrics.jsonl") if "loss" in row]
    rates = [row["tokens_per_s"] for row in rows[1:]] or [row["tokens_per_s"] for row in rows]
    if summary["outcome"] != "done" or not rows:
        raise RuntimeError(f"pretraining ended as {summary['outcome']!r} with {len(rows)} logged rows")
    return {"chars_per_s": round(statistics.median(rates), 1), "first_loss": round(rows[0]["loss"], 4),
            "last_loss": round(rows[-1]["loss"], 4), "skipped_steps": summary["skipped_steps"],
            "iterations": summary["iterations"], "checkpoint": save}


@contextlib.contextmanager
def _fresh(save):
    """Start a stage's run from nothing: old checkpoints and logs of that name are removed first."""
    for path in glob.glob(os.path.splitext(save)[0] + "*"):
        if os.path.isfile(path):
            os.remove(path)
    yield


def stage_recurrent(args, sizes):
    from bench_recurrent import VOCAB, TorchLSTMLM, flops_per_char
    from sentiment_discovery.models.language_model import recurrent_config
    from sentiment_discovery.models.kinds import build_language_model
    device, hidden, embed = torch.device(args.device), sizes["nhid"], sizes["emsize"]
    batch, seq = sizes["bench_batch"], sizes["bench_seq"]
    tokens = torch.randint(1, VOCAB, (batch, seq + 1), device=device)
    models = {"mLSTM fast": build_language_model(recurrent_config("mLSTM", VOCAB, embed, hidden, 1)),
              "nn.LSTM": TorchLSTMLM(embed, hidden)}
    out = {}
    for name, model in models.items():
        model.to(device)
        impl = "nn.LSTM" if name == "nn.LSTM" else "fast"
        for bench in ("train", "featurize"):
            seconds = _time_step(model, tokens, bench, device)
            work = 3 if bench == "train" else 1
            out[f"{bench} {name} chars_per_s"] = round(batch * seq / seconds, 1)
            out[f"{bench} {name} recurrent_gflops"] = round(
                work * batch * seq * flops_per_char(impl, hidden, embed) / seconds / 1e9, 2)
    for bench in ("train", "featurize"):
        out[f"{bench} mLSTM_over_nn_lstm_per_flop"] = round(
            out[f"{bench} mLSTM fast recurrent_gflops"] / out[f"{bench} nn.LSTM recurrent_gflops"], 3)
    return {"hidden": hidden, "batch": batch, "seq": seq, **out}


def _time_step(model, tokens, bench, device, repeats=3):
    """Best seconds of one training step (forward + backward) or one no-grad forward."""
    def step():
        if bench == "train":
            model.train()
            logits = model(tokens[:, :-1])[0]
            torch.nn.functional.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                              tokens[:, 1:].reshape(-1)).backward()
            model.zero_grad(set_to_none=True)
        else:
            model.eval()
            with torch.no_grad():
                model(tokens[:, :-1])
        if device.type == "cuda":
            torch.cuda.synchronize()
    step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return min(times)


def stage_torchrun_resume(args, sizes, data):
    from sentiment_discovery.checkpoint import load_checkpoint
    save = os.path.join(data["work"], "lm_torchrun.pt")
    steps, every = sizes["steps"], max(2, sizes["steps"] // 3)      # killed at every + 1: no save there
    flags = lm_flags(args, sizes, data, save, "--save-iters", str(every), "--resume", "auto")
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")}
    env["KILL_RANK_AT"] = f"0:{every + 1}"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1",
               "--max-restarts", "1", "--monitor-interval", "0.5", "tests/kill_at_iteration.py", *flags]
    with _fresh(save):
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"torchrun exit {done.returncode}: {done.stderr[-1000:]}")
    resumed = f"resumed from {save} at iteration {every}" in done.stderr
    final = load_checkpoint(save)["progress"]["iteration"]
    if not resumed or final != steps:
        raise RuntimeError(f"expected a resume at iteration {every} and {steps} iterations; got resumed="
                           f"{resumed}, {final} iterations")
    return {"killed_at": every + 1, "resumed_at": every, "final_iteration": final}


def stage_transfer(args, data, lm):
    import transfer
    argv = ["--load", lm, "--data", data["train"], "--valid", data["val"], "--test", data["test"],
            "--device", args.device, "--save-results", "gpu_acceptance", "--neurons", "1",
            *(["--num-workers", "1"] if args.device == "cpu" else [])]
    start = time.perf_counter()
    results = transfer.main(argv)
    seconds = time.perf_counter() - start
    data["classifier"] = results["files"]["classifier"]
    scores = {f"{fit} {split} {results['metric']}": round(score["score"], 4)
              for fit, report in results["fits"].items() for split, score in report["scores"].items()}
    speed = {f"featurize {split} chars_per_s": info["chars_per_s"] for split, info in results["featurized"].items()}
    return {"wall_seconds": round(seconds, 1), "n_features": results["n_features"], **scores, **speed}


def stage_run_classifier(args, data):
    import run_classifier
    probs = os.path.join(data["work"], "sst_test_probs.npy")
    start = time.perf_counter()
    run_classifier.main(["--load", data["classifier"], "--data", data["test"], "--device", args.device,
                         "--save-probs", probs, *(["--num-workers", "1"] if args.device == "cpu" else [])])
    seconds = time.perf_counter() - start
    import numpy as np
    rows = int(np.load(probs).shape[0])
    return {"rows": rows, "rows_per_s": round(rows / seconds, 1), **sharded_run_classifier(args, data)}


def sharded_run_classifier(args, data):
    """bench_classify_sharded.py with transfer's classifier: 1 process against N (torchrun)."""
    import bench_classify_sharded
    flags = ["--load", data["classifier"], "--device", args.device, "--rows", "300" if args.tiny else "20000",
             "--work", os.path.join(data["work"], "classify_sharded")]
    _, sharded, ratio = bench_classify_sharded.run(bench_classify_sharded.parse_args(flags))
    if ratio["max_abs_prob_diff"] > 1e-5:
        raise RuntimeError(f"sharded probabilities differ from one process's by {ratio['max_abs_prob_diff']}")
    return {"sharded_run": sharded["run"], "single_chars_per_s": ratio["single_chars_per_s"],
            "sharded_chars_per_s": ratio["sharded_chars_per_s"], "sharded_over_single": ratio["chars_per_s_ratio"],
            "sharded_max_abs_prob_diff": ratio["max_abs_prob_diff"]}


# ---- data --------------------------------------------------------------------------------------------
def prepare_data(args, work):
    """Paths of the corpus and SST splits: the bundled files, or small cuts of them with --tiny."""
    corpus = os.path.join(REPO, "data", "lm_corpus", "opinions.json")
    sst = {name: os.path.join(REPO, "data", "binary_sst", f"{name}.csv") for name in ("train", "val", "test")}
    data = {"work": work, "corpus": corpus, **sst}
    if args.tiny:
        data["corpus"] = _head(corpus, os.path.join(work, "corpus_head.json"), 300)
        for name, path in sst.items():
            data[name] = _head(path, os.path.join(work, f"sst_{name}_head.csv"), 81)
    return data


def _head(source, target, lines):
    with open(source, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
        for i, line in enumerate(src):
            if i >= lines:
                break
            dst.write(line)
    return target


def main(argv=None):
    args = parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available here (use --device cpu --tiny to check the script)",
              file=sys.stderr)
        return 2
    sizes = dict(TINY if args.tiny else FULL)
    if args.steps:
        sizes["steps"] = args.steps
    work = args.work or os.path.splitext(args.out)[0] + "_work"
    os.makedirs(work, exist_ok=True)
    data = prepare_data(args, work)
    summary = Summary(args.out, {**header(args), "sizes": sizes})
    stages = [("gpu_tests", lambda: stage_gpu_tests(args))]
    stages += [(f"pretrain_{mode}", lambda mode=mode: stage_pretrain(args, sizes, data, mode)) for mode in args.modes]
    stages += [("recurrent_vs_lstm", lambda: stage_recurrent(args, sizes)),
               ("torchrun_resume", lambda: stage_torchrun_resume(args, sizes, data)),
               ("transfer", lambda: stage_transfer(args, data, _transfer_lm(args, sizes, data))),
               ("run_classifier", lambda: stage_run_classifier(args, data))]
    for name, fn in stages:
        if name not in args.skip:
            run_stage(summary, name, fn)
    print(f"summary: {args.out} (all ok: {summary.data.get('all_ok')})", flush=True)
    return 0 if summary.data.get("all_ok") else 1


def _transfer_lm(args, sizes, data):
    """The fp32 LM of the pretraining stage, trained now if that stage was skipped or failed."""
    lm = os.path.join(data["work"], "lm_fp32.pt")
    if not os.path.exists(lm):
        import pretrain
        pretrain.main(lm_flags(args, sizes, data, lm))
    return lm


if __name__ == "__main__":
    sys.exit(main())
