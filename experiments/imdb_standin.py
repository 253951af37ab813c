"""Lay out a small stand-in for the IMDB corpus (aclImdb) built from the bundled binary SST.

    python experiments/imdb_standin.py OUT_DIR [--sst data/binary_sst]

IMDB is not bundled, so the CPU twin of run_sk_imdb.sh runs on this instead: the SST train sentences
become OUT_DIR/train/{pos,neg}/<id>_<rating>.txt and the SST test sentences OUT_DIR/test/{pos,neg}/,
one sentence per file, as in Maas et al.'s release. SST has no star ratings, so the file names carry
a made-up rating (10 for positive, 1 for negative). It is NOT IMDB: numbers from it are SST numbers
on long-document plumbing. Re-running with an existing OUT_DIR leaves it as it is.
"""
import argparse
import csv
import os
import sys
import tempfile

SPLITS = {"train": "train.csv", "test": "test.csv"}           # aclImdb split -> SST file
FOLDERS = {1: ("pos", 10), 0: ("neg", 1)}                     # SST label -> (folder, stand-in rating)


def read_sst(path):
    """[(label 0/1, sentence)] of one binary SST csv (label,sentence)."""
    with open(path, newline="", encoding="utf-8") as handle:
        try:
            rows = [(int(float(row["label"])), row["sentence"]) for row in csv.DictReader(handle)]
        except (KeyError, ValueError) as problem:
            raise SystemExit(f"error: {path} is not a binary SST label,sentence csv ({problem})") from None
    if any(label not in FOLDERS for label, _ in rows):
        raise SystemExit(f"error: {path} has labels other than 0 and 1")
    return rows


def write_split(rows, split_dir):
    """One <id>_<rating>.txt per row under split_dir/pos and split_dir/neg; returns the count per folder."""
    counts = {}
    for folder, _ in FOLDERS.values():
        os.makedirs(os.path.join(split_dir, folder), exist_ok=True)
    for row_id, (label, text) in enumerate(rows):
        folder, rating = FOLDERS[label]
        with open(os.path.join(split_dir, folder, f"{row_id}_{rating}.txt"), "w", encoding="utf-8") as out:
            out.write(text)
        counts[folder] = counts.get(folder, 0) + 1
    return counts


def build_standin(out_dir, sst_dir):
    """Write the stand-in to out_dir (through a temporary folder, so a half-written one never remains)."""
    rows = {split: read_sst(os.path.join(sst_dir, sst_file)) for split, sst_file in SPLITS.items()}
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".imdb_standin_", dir=parent)
    os.chmod(staging, 0o755)                                   # mkdtemp makes it private
    for split, sst_file in SPLITS.items():
        counts = write_split(rows[split], os.path.join(staging, split))
        print(f"{split}: {counts.get('pos', 0)} pos, {counts.get('neg', 0)} neg (from {sst_dir}/{sst_file})")
    os.replace(staging, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Lay out binary SST in IMDB's aclImdb format (a stand-in).")
    parser.add_argument("out_dir", help="folder to create, e.g. runs/sk_imdb_cpu/aclImdb_standin")
    parser.add_argument("--sst", default="data/binary_sst", help="folder with SST's train.csv and test.csv")
    args = parser.parse_args(argv)
    if os.path.isdir(args.out_dir):
        print(f"{args.out_dir} exists: kept as it is")
        return 0
    missing = [name for name in SPLITS.values() if not os.path.isfile(os.path.join(args.sst, name))]
    if missing:
        print(f"error: {args.sst} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    build_standin(args.out_dir, args.sst)
    print(f"wrote a stand-in (binary SST, not IMDB) in aclImdb layout to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
