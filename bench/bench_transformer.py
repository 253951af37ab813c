"""Benchmark: tokens/s of the Transformer LM (forward, and a full training step) on this machine.

Prints one JSON line per configuration. Each line also carries the model's achieved matmul GFLOP/s and
its ratio to the raw `torch.mm` rate (fp32 1024x1024 products timed alternately with the model's
steps), so the figure survives a noisy, shared machine.

    python bench/bench_transformer.py                       # short run: small and paper-size decoder
    python bench/bench_transformer.py --iters 10 --batch-size 16 --configs paper
    python bench/bench_transformer.py --bf16                # forward/backward under bf16 autocast
"""
import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F

from sentiment_discovery.models.transformer import TransformerLM

CONFIGS = {
    "small": {"decoder_layers": 2, "decoder_embed_dim": 256, "decoder_ffn_embed_dim": 1024,
              "decoder_attention_heads": 4},
    "paper": {"decoder_layers": 12, "decoder_embed_dim": 768, "decoder_ffn_embed_dim": 3072,
              "decoder_attention_heads": 8},
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="small,paper", help="comma-separated: " + ",".join(CONFIGS))
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--seq-length", type=int, default=64)
    parser.add_argument("--vocab-size", type=int, default=32001, help="sentencepiece 32k + pad")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations (median reported)")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--bf16", action="store_true", help="run under torch.autocast(bfloat16)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave the default)")
    return parser.parse_args(argv)


def seconds(step):
    start = time.perf_counter()
    step()
    return time.perf_counter() - start


def interleaved_medians(step, reference, iters, warmup):
    """Median seconds of `step` and of `reference`, run alternately so both see the same machine load."""
    for _ in range(warmup):
        step()
        reference()
    step_times, reference_times = [], []
    for _ in range(iters):
        step_times.append(seconds(step))
        reference_times.append(seconds(reference))
    return statistics.median(step_times), statistics.median(reference_times)


def square_matmul(size):
    """A reference: one fp32 (size x size) @ (size x size) product, and its FLOP count."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    return (lambda: torch.mm(a, b)), 2 * size ** 3


def forward_flops_per_token(config, seq_length):
    """Matmul FLOPs per token of one forward pass (projections, attention scores/values, output)."""
    dim, ffn, layers = config["decoder_embed_dim"], config["decoder_ffn_embed_dim"], config["decoder_layers"]
    per_layer = 2 * (4 * dim * dim + 2 * dim * ffn) + 2 * 2 * dim * seq_length / 2  # causal: half the keys
    return layers * per_layer + 2 * dim * config["vocab_size"]


def bench_config(name, args):
    config = {"vocab_size": args.vocab_size, "dropout": 0.1, "max_positions": max(512, args.seq_length),
              **CONFIGS[name]}
    torch.manual_seed(0)
    model = TransformerLM(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    tokens = torch.randint(1, args.vocab_size, (args.batch_size, args.seq_length + 1))
    inputs, targets = tokens[:, :-1], tokens[:, 1:]  # (B, T) each
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)

    def forward_step():
        with torch.no_grad(), autocast:
            model(inputs)

    def train_step():
        optimizer.zero_grad(set_to_none=True)
        with autocast:
            logits, _ = model(inputs)
            loss = F.cross_entropy(logits.float().flatten(0, 1), targets.flatten())
        loss.backward()
        optimizer.step()

    reference, reference_flops = square_matmul(1024)
    model.eval()
    forward_s, forward_ref_s = interleaved_medians(forward_step, reference, args.iters, args.warmup)
    model.train()
    train_s, train_ref_s = interleaved_medians(train_step, reference, args.iters, args.warmup)
    n_tokens = args.batch_size * args.seq_length
    flops = forward_flops_per_token(config, args.seq_length) * n_tokens
    mm_rate = reference_flops / statistics.median([forward_ref_s, train_ref_s]) / 1e9
    forward_gflops = flops / forward_s / 1e9
    train_gflops = 3 * flops / train_s / 1e9  # backward ~ 2x forward
    return {
        "bench": "transformer", "config": name, "layers": config["decoder_layers"],
        "dim": config["decoder_embed_dim"], "ffn": config["decoder_ffn_embed_dim"],
        "heads": config["decoder_attention_heads"], "vocab": args.vocab_size, "batch": args.batch_size,
        "seq": args.seq_length, "bf16": args.bf16, "threads": torch.get_num_threads(),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 2),
        "forward_tokens_per_s": round(n_tokens / forward_s, 1),
        "train_tokens_per_s": round(n_tokens / train_s, 1),
        "forward_gflops": round(forward_gflops, 1), "train_gflops": round(train_gflops, 1),
        "mm_gflops_ref": round(mm_rate, 1),
        "forward_vs_mm": round(forward_gflops / (reference_flops / forward_ref_s / 1e9), 3),
        "train_vs_mm": round(train_gflops / (reference_flops / train_ref_s / 1e9), 3),
    }


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    for name in args.configs.split(","):
        if name not in CONFIGS:
            raise SystemExit(f"error: unknown config {name!r}; choose from {', '.join(CONFIGS)}")
        print(json.dumps(bench_config(name, args)), flush=True)


if __name__ == "__main__":
    main()
