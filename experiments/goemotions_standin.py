"""Write the bundled SemEval-2018 E-c tweets in GoEmotions' file format (a stand-in for GoEmotions).

    python experiments/goemotions_standin.py OUT_DIR [--semeval data/semeval]

GoEmotions is not bundled, so the CPU twin of hf_goemotions.sh reads this instead, through the same
`--data-format goemotions` reader: OUT_DIR/emotions.txt names the 8 Plutchik emotions (line i = id i), and
train.tsv / dev.tsv / test.tsv hold one tweet per line as `text <TAB> ids <TAB> id`, ids comma-separated
(empty for no emotion). SemEval's train split becomes train.tsv; its labelled validation split is cut in
two, the first half dev.tsv and the second test.tsv (SemEval's own test split has no labels). Tabs and
line breaks inside a tweet become spaces (GoEmotions files have no quoting). It is NOT GoEmotions: numbers
from it are SemEval numbers. Re-running with an existing OUT_DIR leaves it as it is.
"""
import argparse
import csv
import os
import sys
import tempfile

PLUTCHIK_8 = ["anger", "anticipation", "disgust", "fear", "joy", "sadness", "surprise", "trust"]


def read_semeval(path):
    """[(tweet, [emotion ids])] of one SemEval E-c csv (Tweet column and one 0/1 column per emotion)."""
    with open(path, newline="", encoding="utf-8") as handle:
        try:
            return [(row["Tweet"], [i for i, name in enumerate(PLUTCHIK_8) if int(float(row[name]))])
                    for row in csv.DictReader(handle)]
        except (KeyError, ValueError) as problem:
            raise SystemExit(f"error: {path} is not a SemEval E-c csv with Tweet and the Plutchik columns "
                             f"({problem})") from None


def tsv_line(row_id, text, ids):
    flat = " ".join(text.replace("\t", " ").split())
    return f"{flat}\t{','.join(map(str, ids))}\tsemeval{row_id}\n"


def write_tsv(path, rows):
    with open(path, "w", encoding="utf-8") as out:
        out.writelines(tsv_line(row_id, text, ids) for row_id, (text, ids) in enumerate(rows))


def build_standin(out_dir, semeval_dir):
    """Write the stand-in to out_dir (through a temporary folder, so a half-written one never remains)."""
    train = read_semeval(os.path.join(semeval_dir, "train.csv"))
    valid = read_semeval(os.path.join(semeval_dir, "val.csv"))
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".goemotions_standin_", dir=parent)
    os.chmod(staging, 0o755)  # mkdtemp makes it private
    with open(os.path.join(staging, "emotions.txt"), "w", encoding="utf-8") as out:
        out.write("\n".join(PLUTCHIK_8) + "\n")
    half = len(valid) // 2
    for name, rows in (("train.tsv", train), ("dev.tsv", valid[:half]), ("test.tsv", valid[half:])):
        write_tsv(os.path.join(staging, name), rows)
        print(f"{name}: {len(rows)} tweets")
    os.replace(staging, out_dir)


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write SemEval E-c in GoEmotions' format (a stand-in).")
    parser.add_argument("out_dir", help="folder to create, e.g. runs/hf_goemotions_cpu/goemotions_standin")
    parser.add_argument("--semeval", default="data/semeval", help="folder with SemEval's train.csv and val.csv")
    args = parser.parse_args(argv)
    if os.path.isdir(args.out_dir):
        print(f"{args.out_dir} exists: kept as it is")
        return 0
    missing = [name for name in ("train.csv", "val.csv") if not os.path.isfile(os.path.join(args.semeval, name))]
    if missing:
        print(f"error: {args.semeval} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    build_standin(args.out_dir, args.semeval)
    print(f"wrote a stand-in (SemEval E-c, not GoEmotions) in GoEmotions' format to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
