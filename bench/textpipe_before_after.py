"""The text pipeline before/after: features of an original sentiment-discovery checkpoint (a random mLSTM, 64 units,
built like tests/test_convert.py) through `transfer.py` of two checkouts, against the reference of
tests/test_textpipe.py (the original's process function + the original's cell equations over the bytes, read at
the last token). Prints one JSON line: max abs difference per checkout, row set and process function.

    python bench/textpipe_before_after.py --old /path/to/old/checkout --new . --out /tmp/tp_measure
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import torch

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path[:0] = [os.path.join(HERE, "tests"), HERE]
from test_convert import lm_state_dict, random_layers  # noqa: E402
from test_textpipe import MESSY, reference_features, reference_str, reference_tweet  # noqa: E402

REFERENCES = {"process_str": reference_str, "process_tweet": reference_tweet}


def transfer_features(repo, load, csv):
    subprocess.run([sys.executable, "transfer.py", "--load", load, "--data", csv, "--valid", csv, "--test", csv,
                    "--process-fn", os.path.basename(load).split(".")[0].split("__")[-1], "--num-workers", "1",
                    "--save-results", "r"], cwd=repo, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return np.load(f"{os.path.splitext(load)[0]}_transfer/r/trXt.npy")  # (N, 64)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", required=True)
    parser.add_argument("--new", default=HERE)
    parser.add_argument("--out", default="/tmp/tp_measure")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    layer_tensors, layers, table = random_layers("mLSTM", 257, 64, 64, 1, weight_norm=True, seed=3)
    clean = pd.read_csv(os.path.join(HERE, "data/binary_sst/test.csv"))["sentence"].tolist()[:16]
    sets = {"clean": clean, "messy": MESSY * 2}
    results = {}
    for name, texts in sets.items():
        csv = os.path.join(args.out, f"{name}.csv")
        pd.DataFrame({"label": [i % 2 for i in range(len(texts))], "sentence": texts}).to_csv(csv, index=False)
        for fn, reference in REFERENCES.items():
            expected = reference_features(layers, table, [reference(t) for t in texts])
            for code, repo in (("old", args.old), ("new", args.new)):
                load = os.path.join(args.out, f"{code}_{name}__{fn}.pt")
                torch.save(lm_state_dict(layer_tensors, table), load)
                results[f"{code} {name} {fn}"] = float(np.abs(transfer_features(repo, load, csv) - expected).max())
    print(json.dumps(results))


if __name__ == "__main__":
    main()
