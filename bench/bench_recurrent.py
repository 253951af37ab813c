"""Throughput of the recurrent models on this machine (a benchmark, not a test).

For each hidden size and batch size: characters per second for featurizing (no grad) and for training
steps (forward + backward of the LM loss), for the mLSTM fast path, the plain per-step reference cell
and torch.nn.LSTM of the same hidden size (the native yardstick, oneDNN's fused kernel), plus the
machine's plain matrix-multiply rate on the recurrent shapes (B×H @ H×4H, B×H @ H×H). Each measurement's
peak RSS is taken from /proc/self/status (VmHWM, reset before it). Ratios are taken within the same run,
the implementations interleaved, so they survive a noisy shared machine better than the absolute rates.

Prints one JSON line per (hidden, batch, bench). Defaults are short (seq 32); the full configuration is
    python bench/bench_recurrent.py --seq 256 --iters 3
and a quick look:  python bench/bench_recurrent.py --hidden 1024 --batch 32 --seq 16 --iters 1

With --bf16 the "-bf16" implementations measure what the project's --bf16 runs on this CPU: bfloat16
autocast where bfloat16 is native (capabilities.native_bf16), else float32 (the fallback --bf16 takes on an
AVX2-only CPU, where torch.nn.LSTM cannot even run under bfloat16 autocast). Every line says which: its
"bf16_path" holds the compute dtype, whether autocast was on and the recurrent products' kernel. The matmul
line adds the public bfloat16 torch.mm rate (skipped above 1 GFLOP per call where bfloat16 is emulated)."""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from sentiment_discovery import capabilities
from sentiment_discovery.models.featurizer import featurize
from sentiment_discovery.models.language_model import recurrent_config
from sentiment_discovery.models.kinds import build_language_model
from sentiment_discovery.models.prepared_weight import PreparedWeight

VOCAB = 257


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, nargs="+", default=[1024, 4096])
    parser.add_argument("--batch", type=int, nargs="+", default=[32, 128])
    parser.add_argument("--seq", type=int, default=32, help="characters per row (the spec's full run: 256)")
    parser.add_argument("--embed", type=int, default=64)
    parser.add_argument("--iters", type=int, default=2, help="timed repetitions (the best is kept)")
    parser.add_argument("--benches", nargs="+", default=["featurize", "train"], choices=["featurize", "train"])
    parser.add_argument("--impls", nargs="+", default=["fast", "reference", "nn.LSTM"],
                        choices=["fast", "reference", "nn.LSTM"])
    parser.add_argument("--bf16", action="store_true",
                        help="also time the fast path and nn.LSTM under bfloat16 autocast")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--no-matmul", action="store_true", help="skip the plain matmul rates")
    return parser.parse_args(argv)


# ---- measurement helpers -----------------------------------------------------------------------------
def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        pass


def _status_mb(field):
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def timed(fn):
    """(seconds, peak RSS MB during the call, peak minus the RSS before it)."""
    reset_peak_rss()
    before = _status_mb("VmRSS")
    start = time.perf_counter()
    fn()
    elapsed = time.perf_counter() - start
    peak = _status_mb("VmHWM")
    return elapsed, peak, (peak - before if peak is not None and before is not None else None)


def best_seconds(fn, repeats, minimum_seconds=0.2):
    """Best time of `fn` over repeats, each repeated until it has run `minimum_seconds`."""
    fn()
    results = []
    for _ in range(repeats):
        calls, start = 0, time.perf_counter()
        while True:
            fn()
            calls += 1
            if time.perf_counter() - start >= minimum_seconds:
                break
        results.append((time.perf_counter() - start) / calls)
    return min(results)


# ---- the models under test ---------------------------------------------------------------------------
class TorchLSTMLM(torch.nn.Module):
    """Embedding -> torch.nn.LSTM -> decoder, the yardstick."""

    def __init__(self, embed, hidden):
        super().__init__()
        self.embedding = torch.nn.Embedding(VOCAB, embed)
        self.lstm = torch.nn.LSTM(embed, hidden)
        self.decoder = torch.nn.Linear(hidden, VOCAB)

    def forward(self, tokens):
        outputs, (h, c) = self.lstm(self.embedding(tokens.t()))  # time-major (T, B, H)
        return self.decoder(outputs).transpose(0, 1), c[-1]


def make_runners(impl, hidden, batch, seq, embed):
    """{"featurize": fn, "train": fn} for one implementation; fn(steps=seq) runs one batch."""
    torch.manual_seed(0)
    tokens = torch.randint(1, VOCAB, (batch, seq + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    lengths = torch.full((batch,), seq)
    use_bf16 = impl.endswith("-bf16") and capabilities.native_bf16("cpu")
    base = impl.removesuffix("-bf16")
    if base == "nn.LSTM":
        model = TorchLSTMLM(embed, hidden)
    else:
        model = build_language_model(recurrent_config("mLSTM", VOCAB, embed, hidden, 1))
        model.rnn.impl = base

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16)

    def featurize_batch(steps=seq):
        model.eval()
        with torch.no_grad(), autocast():
            if base == "nn.LSTM":
                model(inputs[:, :steps])
            else:
                featurize(model, inputs[:, :steps], lengths.clamp(max=steps))

    def train_batch(steps=seq):
        model.train()
        with autocast():
            logits = model(inputs[:, :steps])[0]
        F.cross_entropy(logits.float().reshape(-1, VOCAB), targets[:, :steps].reshape(-1)).backward()
        model.zero_grad(set_to_none=True)

    return {"featurize": featurize_batch, "train": train_batch}


def flops_per_char(impl, hidden, embed):
    """Forward multiply-add work per character of the recurrence (input products included)."""
    if impl.startswith("nn.LSTM"):
        return 2 * 4 * hidden * (hidden + embed)
    return 2 * (4 * hidden * hidden + hidden * hidden + 5 * hidden * embed)


# ---- plain matmul rates --------------------------------------------------------------------------------
def matmul_rates(hidden, batch, repeats):
    rates = {}
    for name, out_features in (("BxH@Hx4H", 4 * hidden), ("BxH@HxH", hidden)):
        weight = torch.randn(out_features, hidden) / hidden ** 0.5
        transposed = weight.t().contiguous()
        x = torch.randn(batch, hidden)
        packed = PreparedWeight(weight)
        x_bf16, transposed_bf16 = x.bfloat16(), transposed.bfloat16()
        flops = 2 * batch * hidden * out_features
        variants = [("torch.mm fp32", lambda x=x, w=transposed: torch.mm(x, w)),
                    ("F.linear fp32", lambda x=x, w=weight: F.linear(x, w)),
                    ("packed fp32", lambda x=x, w=packed: w(x))]  # PreparedWeight: packed where the probe allows
        if capabilities.native_bf16("cpu") or flops <= 1e9:
            variants.append(("torch.mm bf16", lambda x=x_bf16, w=transposed_bf16: torch.mm(x, w)))
        if capabilities.packed_product("cpu", torch.bfloat16):
            packed_bf16 = PreparedWeight(weight.bfloat16())
            variants.append(("packed bf16", lambda x=x_bf16, w=packed_bf16: w(x)))
        for variant, fn in variants:
            rates[f"{name} {variant}"] = round(flops / best_seconds(fn, repeats) / 1e9, 1)
    return rates


# ---- driver --------------------------------------------------------------------------------------------
def bench_configuration(args, hidden, batch, bench, impls):
    runners = {impl: make_runners(impl, hidden, batch, args.seq, args.embed)[bench] for impl in impls}
    for impl in impls:  # warm-up on a few steps: kernels, prepared weights and tables
        runners[impl](min(args.seq, 8))
    seconds = {impl: [] for impl in impls}
    peaks = {impl: [] for impl in impls}
    growth = {impl: [] for impl in impls}
    for _ in range(args.iters):
        for impl in impls:  # interleaved, so a noisy neighbour hits every implementation alike
            elapsed, peak, grown = timed(runners[impl])
            seconds[impl].append(elapsed)
            peaks[impl].append(peak)
            growth[impl].append(grown)
    best = {impl: min(values) for impl, values in seconds.items()}
    chars = batch * args.seq
    work = 1 if bench == "featurize" else 3  # backward ≈ twice the forward's products
    record = {
        "bench": bench, "model": "mLSTM", "hidden": hidden, "batch": batch, "seq": args.seq,
        "embed": args.embed, "threads": torch.get_num_threads(), "iters": args.iters,
        "chars_per_s": {impl: round(chars / t, 1) for impl, t in best.items()},
        "median_chars_per_s": {impl: round(chars / statistics.median(v), 1) for impl, v in seconds.items()},
        "recurrent_gflops": {impl: round(work * chars * flops_per_char(impl, hidden, args.embed) / t / 1e9, 1)
                             for impl, t in best.items()},
        "peak_rss_mb": {impl: _max_or_none(values) for impl, values in peaks.items()},
        "peak_rss_growth_mb": {impl: _max_or_none(values) for impl, values in growth.items()},
        "ratios": ratios(best),
    }
    if any(impl.endswith("-bf16") for impl in impls):
        record["bf16_path"] = bf16_path()
    return record


def bf16_path():
    """What the "-bf16" implementations measured on this CPU."""
    dtype = capabilities.compute_dtype("cpu", torch.bfloat16)
    return {"native_bf16": capabilities.native_bf16("cpu"), "compute_dtype": str(dtype).removeprefix("torch."),
            "autocast": dtype == torch.bfloat16, "recurrent_kernel": capabilities.kernel_name("cpu", dtype)}


def _max_or_none(values):
    return round(max(values), 1) if values and all(v is not None for v in values) else None


def ratios(best):
    out = {}
    for suffix in ("", "-bf16"):
        fast, ref, lstm = best.get("fast" + suffix), best.get("reference" + suffix), best.get("nn.LSTM" + suffix)
        if fast and ref:
            out[f"reference_time_over_fast{suffix}"] = round(ref / fast, 2)
        if fast and lstm:
            out[f"fast_time_over_nn_lstm{suffix}"] = round(fast / lstm, 2)
    if best.get("fast") and best.get("nn.LSTM-bf16") and best.get("fast-bf16"):
        out["fast_bf16_speedup_over_fast_fp32"] = round(best["fast"] / best["fast-bf16"], 2)
    return out


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    impls = list(args.impls)
    if args.bf16:
        impls += [impl + "-bf16" for impl in args.impls if impl != "reference"]
    for hidden in args.hidden:
        for batch in args.batch:
            if not args.no_matmul:
                print(json.dumps({"bench": "matmul_gflops", "hidden": hidden, "batch": batch,
                                  "threads": torch.get_num_threads(), "native_bf16": capabilities.native_bf16("cpu"),
                                  "packed_fp32_kernel": capabilities.kernel_name("cpu", torch.float32),
                                  "gflops": matmul_rates(hidden, batch, args.iters)}), flush=True)
            for bench in args.benches:
                print(json.dumps(bench_configuration(args, hidden, batch, bench, impls)), flush=True)


if __name__ == "__main__":
    main()
