"""The run behind run_classifier.py: `config.ClassifyConfig` -> `transfer.classify.classify_to_files`, and the
summary it prints (counts, speed, output paths, and accuracy / F1 when the file has labels)."""
from __future__ import annotations

from ..runtime import choose_device, set_threads
from ..transfer.classify import classify_to_files
from ..transfer.featurize import precision_mode


def summary_line(report: dict) -> str:
    """Accuracy and F1 in one line."""
    if report["task"] == "binary":
        return f"accuracy {report['accuracy']:.4f}, F1 {report['positive']['f1']:.4f}"
    return (f"accuracy {report['accuracy']:.4f}, macro F1 {report['macro']['f1']:.4f}, "
            f"micro F1 {report['micro']['f1']:.4f}")


OUTPUT_NAMES = {"pred": "predictions", "prob": "probabilities", "std": "head std", "csv": "results"}


def print_summary(summary: dict) -> None:
    """The run's report on stdout."""
    stats = summary["stats"]
    seconds = max(stats["seconds"], 1e-9)
    print(f"classified {stats['n_texts']} texts in {stats['seconds']:.1f}s "
          f"({stats['n_texts'] / seconds:.1f} texts/s, {stats['n_chars'] / seconds:.0f} chars/s)")
    if stats["n_truncated"]:
        print(f"{stats['n_truncated']} text(s) longer than {summary['max_len']} tokens were truncated")
    if stats["n_empty"]:
        print(f"{stats['n_empty']} empty text(s) were classified from zero features")
    for key, path in summary["paths"].items():
        print(f"{OUTPUT_NAMES[key]} -> {path}")
    if "scores" in summary:
        print(summary_line(summary["scores"]))


def run_classifier(config) -> dict:
    """run_classifier.py's `config.ClassifyConfig` -> `classify_to_files`; prints and returns the summary."""
    set_threads(config.run.threads)
    options, p = config.classify, config.precision
    summary = classify_to_files(
        options.load, config.data.data, config.data.reader_options(), save_probs=options.save_probs,
        write_results=options.write_results, batch_size=config.data.batch_size, max_seq_len=options.max_seq_len,
        precision=precision_mode(p.fp16, p.amp, p.bf16), device=choose_device(config.run.device),
        process_fn=config.data.process_fn)
    print_summary(summary)
    return summary
