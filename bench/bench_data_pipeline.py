"""Benchmark the language-model data pipeline on the bundled corpus (data/lm_corpus/opinions.json).

Prints one JSON line per configuration, tokens/s of `LMStream.next_batch()` (input tokens, B x T per
batch), with a reference measured in the same run: encoding the same documents with the same
tokenizer and nothing else (`encode_only`), so `ratio_to_encode_only` says what the streaming costs
on top of tokenization.

    python bench/bench_data_pipeline.py                        # char level, eager and lazy texts
    python bench/bench_data_pipeline.py --batches 1000 --sentencepiece
"""
import argparse
import json
import os
import time

from sentiment_discovery.data.batches.lm_stream import LMStream
from sentiment_discovery.data.formats.readers import read_dataset
from sentiment_discovery.data.tokenizers.builtin import CharTokenizer, SentencePieceTokenizer

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(REPO_ROOT, "data", "lm_corpus", "opinions.json")
SP_MODEL = os.path.join(REPO_ROOT, "data", "tokenizers", "imdb_sst_ama_32k_tokenizer.model")


def encode_rate(texts, tokenizer, n_docs):
    """Tokens/s of encoding the first n_docs documents, alone."""
    start = time.perf_counter()
    n_tokens = sum(tokenizer.encode_array(texts[i]).size for i in range(n_docs))
    return n_tokens / (time.perf_counter() - start)


def stream_rate(texts, tokenizer, batch_size, seq_length, n_batches):
    """Input tokens/s of LMStream batches."""
    stream = LMStream(texts, tokenizer, batch_size, seq_length)
    stream.next_batch()  # first shards of every row
    start = time.perf_counter()
    for _ in range(n_batches):
        stream.next_batch()
    return n_batches * batch_size * seq_length / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seq-length", type=int, default=256)
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--sentencepiece", action="store_true", help="also the 32k sentencepiece model")
    args = parser.parse_args()

    tokenizers = {"char": CharTokenizer()}
    if args.sentencepiece:
        tokenizers["sentencepiece_32k"] = SentencePieceTokenizer(SP_MODEL)
    for lazy in (False, True):
        texts = read_dataset(CORPUS, text_key="text", lazy=lazy, require_labels=False).texts
        for name, tokenizer in tokenizers.items():
            reference = encode_rate(texts, tokenizer, min(len(texts), 20_000))
            rate = stream_rate(texts, tokenizer, args.batch_size, args.seq_length, args.batches)
            print(json.dumps({
                "config": f"lm_stream {name} {'lazy' if lazy else 'in-memory'} texts",
                "batch": args.batch_size, "seq_length": args.seq_length, "batches": args.batches,
                "tokens_per_s": round(rate), "encode_only_tokens_per_s": round(reference),
                "ratio_to_encode_only": round(rate / reference, 3)}), flush=True)


if __name__ == "__main__":
    main()
