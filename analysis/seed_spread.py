"""Each seed's numbers of a finetuning recipe and their mean ± standard deviation (sample sd, n - 1), from the
`classifier_report.json` of each run folder: test accuracy and macro-F1 where the test split has labels,
validation macro-F1 and accuracy at the best epoch, the best epoch.

    python analysis/seed_spread.py runs/seeds/hf_binary_sst_cpu/seed*"""
import json
import statistics
import sys
from pathlib import Path

COLUMNS = [("test accuracy", ("test", "accuracy")), ("test macro-F1", ("test", "macro", "f1")),
           ("val accuracy", ("validation", "accuracy")), ("val macro-F1", ("validation", "macro", "f1")),
           ("best epoch", ("best_epoch",))]


def value(report, path):
    for key in path:
        if not isinstance(report, dict) or key not in report:
            return None
        report = report[key]
    return report


def main(folders):
    rows = {}
    for folder in folders:
        report = json.loads((Path(folder) / "classifier_report.json").read_text())
        rows[folder] = {name: value(report, path) for name, path in COLUMNS}
    names = [name for name, _ in COLUMNS if any(row[name] is not None for row in rows.values())]
    print("run | " + " | ".join(names))
    for folder, row in rows.items():
        print(f"{folder} | " + " | ".join(f"{row[name]:.4f}" if isinstance(row[name], float) else str(row[name])
                                        for name in names))
    for name in names:
        values = [row[name] for row in rows.values() if isinstance(row[name], float)]
        if len(values) > 1:
            print(f"{name}: {statistics.mean(values):.4f} ± {statistics.stdev(values):.4f} (n = {len(values)})")


if __name__ == "__main__":
    main(sys.argv[1:])
