"""The run behind run_classifier.py: `config.ClassifyConfig` -> `classification.classify_to_files` on one
process or on every rank of a torchrun job, and the summary rank 0 prints (counts, speed, output paths, and
accuracy / F1 when the file has labels)."""
from __future__ import annotations

from ..cli import EXIT_USER_ERROR
from ..runtime import choose_device, set_threads
from ..training.distributed import init_distributed, is_main, shutdown
from ..classification import JobError, classify_to_files
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
    if summary["resumed_rows"]:
        print(f"resumed: rows 1-{summary['resumed_rows']} were classified by an earlier, unfinished run")
    if stats["n_truncated"]:
        print(f"{stats['n_truncated']} text(s) longer than {summary['max_len']} tokens were truncated")
    if stats["n_blank"]:
        how = (f"the text pipeline's padding alone ({summary['process_fn']} reads an empty text as "
               f"{summary['padding']!r})" if summary["padding"] else "their whitespace alone")
        print(f"{stats['n_blank']} empty or blank text(s) were classified from {how}")
    if stats["n_empty"]:
        print(f"{stats['n_empty']} empty text(s) were classified from zero features")
    for key, path in summary["paths"].items():
        print(f"{OUTPUT_NAMES[key]} -> {path}")
    if "scores" in summary:
        print(summary_line(summary["scores"]))


def run(config) -> dict | None:
    """run_classifier.py's `config.ClassifyConfig` -> `classify_to_files`, on this process's share of a
    torchrun job; rank 0 prints and returns the summary (the other ranks return None)."""
    set_threads(config.run.threads)
    env = init_distributed(choose_device(config.run.device))
    options, p = config.classify, config.precision
    try:
        summary = classify_to_files(
            options.load, config.data.data, config.data.reader_options(), save_probs=options.save_probs,
            write_results=options.write_results, batch_size=config.data.batch_size,
            max_seq_len=options.max_seq_len, precision=precision_mode(p.fp16, p.amp, p.bf16),
            process_fn=config.data.process_fn, resume=options.resume, env=env)
    except JobError:
        if is_main(env):
            raise
        raise SystemExit(EXIT_USER_ERROR) from None  # rank 0 says why, in one line
    shutdown(env)
    if summary is not None:
        print_summary(summary)
    return summary
