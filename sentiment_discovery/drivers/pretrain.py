"""The pretraining run behind pretrain.py: data, tokenizer and model from the flags (or a checkpoint
to resume), then training/loop.py's loop with logging, evaluation, checkpoints and a clean stop.

Outputs beside --save (default lang_model.pt), after training/loop.py's checkpoint convention: the
checkpoint itself (the last state: full training state, written at every epoch's end, every
--save-iters, at the end and on SIGTERM/SIGINT), `<stem>_best.pt` (best validation loss, also a full
training state), `<stem>.metrics.jsonl` (one JSON line per log interval and evaluation) and
`<stem>_loss.png`. `--resume auto` continues from the newer of the two.

Text: every document goes through the process function as it is read (data/preprocess.py; the readers
apply it, eagerly or in the lazy document access, so the LM stream and the sentencepiece training see
processed text): --process-fn, else what a --resume checkpoint records, else process_str (the
original's default). Every checkpoint records it (`process_fn`), and the tools that read text with the
model apply it by default.
"""
import logging
import math
import os
import resource
import time

import numpy as np
import torch

from ..data.preprocess import LEGACY_DEFAULT, PROCESS_FN_KEY, recorded_process_fn, resolve_process_fn
from ..data.tokenizers.builtin import make_tokenizer, tokenizer_from_dict
from ..errors import UserError
from ..models.language_model import build_language_model
from ..models.loading import load_language_model
from ..output_paths import check_outputs, reported_write
from ..runtime import (choose_device, load_splits, report_ignored_architecture, set_runtime_options,
                       set_threads)
from ..checkpoint import load_checkpoint, save_checkpoint
from ..training.collective import all_reduce_sum
from ..training.distributed import fault_injection_point, init_distributed, is_main, shutdown
from ..training.lm_trainer import LMTrainer, LoopOptions, iterations_per_epoch
from ..training.loop import Reporter, drive, resume_path, run_files, written_files
from ..training.metrics_log import read_metrics
from ..training.signals import GracefulExit
from ..training.tensorboard_log import check_tensorboard

log = logging.getLogger(__name__)
LN2 = math.log(2.0)


class PretrainRun:
    """What training/loop.py's `drive` steps: iterations in epochs of `total // epochs`, a log line every
    --log-interval iterations, a validation pass at each epoch's end (the best kept as `<stem>_best.pt`)."""

    def __init__(self, trainer, model_config, options, total_iters, env, reporter, files):
        self.trainer, self.model_config, self.options, self.env = trainer, model_config, options, env
        self.total, self.reporter, self.files = total_iters, reporter, files
        self.iters_per_epoch = max(1, total_iters // max(1, options.epochs))
        self.window = {"loss": 0.0, "n": 0, "tokens": 0, "t0": time.perf_counter()}
        self._pending = False

    @property
    def iteration(self):
        return self.trainer.progress.iteration

    def finished(self):
        return self.iteration >= self.total

    def epoch_pending(self):
        return self._pending

    def step(self):
        loss, tokens, _ = self.trainer.train_iteration()
        self.window.update(loss=self.window["loss"] + loss, n=self.window["n"] + 1,
                           tokens=self.window["tokens"] + tokens)
        self.reporter.advance()
        it = self.iteration
        if it % self.options.log_interval == 0 or it == self.total:
            self._log_window()
        self._pending = it % self.iters_per_epoch == 0 or it == self.total
        fault_injection_point(self.env, it)          # test-only; does nothing unless a test asks

    def _log_window(self):
        trainer, window, env = self.trainer, self.window, self.env
        elapsed = time.perf_counter() - window["t0"]
        loss = all_reduce_sum([window["loss"] / max(window["n"], 1)])[0] / env.world_size
        tokens = all_reduce_sum([float(window["tokens"])])[0]
        row = {"step": self.iteration, "loss": loss, "ppl": math.exp(min(loss, 50)), "bpc": loss / LN2,
               "lr": trainer.schedule.lr, "tokens_per_s": tokens / max(elapsed, 1e-9),
               "loss_scale": trainer.precision.loss_scale, "skipped_steps": trainer.precision.skipped_steps,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
        if is_main(env):
            self.reporter.write(row)
            self.reporter.show(loss=f"{loss:.3f}", lr=f"{row['lr']:.2e}", tok_s=f"{row['tokens_per_s']:.0f}")
        window.update(loss=0.0, n=0, tokens=0, t0=time.perf_counter())

    def end_epoch(self):
        self._pending = False
        trainer, progress, env = self.trainer, self.trainer.progress, self.env
        val_loss = trainer.evaluate()
        if val_loss is None:
            return
        epoch = self.iteration // self.iters_per_epoch
        row = {"step": self.iteration, "epoch": epoch, "val_loss": val_loss,
               "val_ppl": math.exp(min(val_loss, 50)), "val_bpc": val_loss / LN2}
        progress.evaluations.append(row)
        improved = val_loss < progress.best_val_loss
        if improved:
            progress.best_val_loss = val_loss
        if is_main(env):
            self.reporter.write(row)
            log.info("epoch %d: validation loss %.4f, perplexity %.2f, %.4f %s%s", epoch, val_loss, row["val_ppl"],
                     row["val_bpc"], bits_unit(trainer.tokenizer), " (best so far)" if improved else "")
        if improved:
            self.save(self.files["best"])

    def save_last(self):
        self.save(self.files["last"])

    def save(self, path):
        """Every rank gathers (streams, states); rank 0 writes."""
        payload = dict(self.trainer.payload(self.model_config), **{PROCESS_FN_KEY: self.trainer.process_fn})
        if is_main(self.env):
            with reported_write(path, "--save"):
                save_checkpoint(path, payload)


def bits_unit(tokenizer):
    """What loss / ln 2 is: bits per character for a character model, else bits per token."""
    return "bits/char" if tokenizer.kind == "char" else "bits/token"


def pretrain_files(save):
    """The files of a pretraining run (training/loop.py's convention, --save = the last state)."""
    files = run_files(save, save_is="last")
    files["curve"] = os.path.splitext(os.fspath(save))[0] + "_loss.png"
    return files


# ---------------------------------------------------------------------------------------------
# assembly


def build_tokenizer(tokenizer_config, texts):
    """A fresh tokenizer as a `config.TokenizerConfig` says (a sentencepiece model is trained on `texts`)."""
    t = tokenizer_config
    return make_tokenizer(t.tokenizer_type, t.tokenizer_path, t.tokenizer_model_type, t.vocab_size, texts=texts)


def build_model(model_config, tokenizer, ckpt, resume=None):
    """(model, config): from the resume checkpoint, from --load (warm start), or fresh from the
    `config.ModelConfig`. Typed architecture flags a loaded model overrides are reported."""
    if ckpt is not None:
        model = build_language_model(ckpt["model_config"])
        model.load_state_dict(ckpt["model_state"])
        report_ignored_architecture(model_config, ckpt["model_config"], f"the resumed checkpoint {resume}")
        return model, ckpt["model_config"]
    if model_config.load:
        model, loaded_tokenizer, _ = load_language_model(model_config.load)
        if loaded_tokenizer.vocab_size != tokenizer.vocab_size:
            raise UserError(f"--load {model_config.load} has a vocabulary of {loaded_tokenizer.vocab_size}, "
                            f"the tokenizer has {tokenizer.vocab_size}")
        report_ignored_architecture(model_config, model.config, model_config.load)
        return model, model.config
    config = model_config.architecture(tokenizer.vocab_size)
    return build_language_model(config), config


def estimate_tokens(texts, tokenizer, sample=1000, seed=0):
    """Approximate token count of a corpus from a random sample of its documents."""
    n = len(texts)
    if n == 0:
        return 0
    rng = np.random.default_rng(seed)
    picks = rng.choice(n, size=min(n, sample), replace=False)
    sampled = sum(len(tokenizer.encode(texts[int(i)])) for i in picks)
    return int(sampled * n / len(picks))


def check_output_paths(save, load, data_paths):
    """--save and the files beside it (_best, metrics, loss curve) can be written and overwrite no input
    (--load, --data, --valid, --test; a --resume checkpoint is this run's own output and may be --save)."""
    inputs = [("--load", load), *zip(("--data", "--valid", "--test"), data_paths)]
    check_outputs([("--save", path) for path in written_files(pretrain_files(save))], inputs)


def pretrain(config):
    """Run pretraining as a `config.PretrainConfig` says; returns a summary dict (also logged)."""
    run, training = config.run, config.training
    check_tensorboard(training.tensorboard)
    device = choose_device(run.device)
    env = init_distributed(device)
    if is_main(env):
        check_output_paths(training.save, config.model.load, config.data.files())
    set_threads(run.threads)
    torch.manual_seed(run.seed + env.rank)
    files = pretrain_files(training.save)
    resume = resume_path(training.resume, files)
    ckpt = load_checkpoint(resume, expect_kind="lm") if resume else None
    process_fn = resolve_process_fn(config.data.process_fn, recorded_process_fn(ckpt) if ckpt else LEGACY_DEFAULT)
    if is_main(env):
        log.info("text clean-up: %s", process_fn)
    train, valid, test = load_splits(config.data, run.seed, require_labels=False, process_fn=process_fn)
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"]) if ckpt else build_tokenizer(config.tokenizer, train.texts)
    model, model_config = build_model(config.model, tokenizer, ckpt, resume)
    set_runtime_options(model, config.model.rnn_impl, config.model.compile)
    if is_main(env):
        n_params = sum(p.numel() for p in model.parameters())
        log.info("%s language model, %.2fM parameters, vocabulary %d, %d training documents, %d processes",
                 model_config["model"], n_params / 1e6, tokenizer.vocab_size, len(train.texts), env.world_size)
    options = LoopOptions.from_config(config)
    trainer = LMTrainer(model, tokenizer, train.texts, valid.texts if valid else None, options, env,
                        config.precision.flags(), training.optimizer())
    trainer.process_fn = process_fn  # recorded in every checkpoint `save` writes
    total = iterations_per_epoch(options, estimate_tokens(train.texts, tokenizer), env.world_size) * training.epochs
    trainer.build_schedule(total, training.lr, training.decay_style, training.warmup, training.constant_decay,
                           training.stlr_cut_frac)
    if ckpt is not None:
        trainer.restore(ckpt)
        if is_main(env):
            log.info("resumed from %s at iteration %d of %d", resume, trainer.progress.iteration, total)
    reporter = Reporter(files["metrics"], is_main(env), training.tensorboard, fresh=ckpt is None)
    reporter.start_bar(total, trainer.progress.iteration, desc="pretrain", mininterval=2.0)
    run = PretrainRun(trainer, model_config, options, total, env, reporter, files)
    with GracefulExit() as graceful:
        outcome = drive(run, graceful, options.save_iters)
    reporter.close_bar()
    summary = _finish(trainer, outcome, test, env, reporter, files)
    reporter.close()
    shutdown(env, trainer.ddp_model)
    return summary


def _finish(trainer, outcome, test, env, metrics, paths):
    """Test loss on a finished run, the loss curve, the summary (also logged)."""
    summary = {"outcome": outcome, "iterations": trainer.progress.iteration,
               "best_val_loss": trainer.progress.best_val_loss, "checkpoint": paths["last"],
               "skipped_steps": trainer.precision.skipped_steps}
    if outcome == "done" and test is not None and len(test.texts) > 0:
        test_loss = trainer.evaluate(test.texts)
        summary.update(test_loss=test_loss, test_ppl=math.exp(min(test_loss, 50)), test_bpc=test_loss / LN2)
        if is_main(env):
            metrics.write({"step": trainer.progress.iteration, "test_loss": test_loss,
                           "test_bpc": test_loss / LN2})
    if is_main(env):
        with reported_write(paths["curve"], "--save"):
            _plot_curve(paths, bits_unit(trainer.tokenizer))
        metrics.image("loss_curve", paths["curve"], trainer.progress.iteration)
        if outcome == "stopped":
            log.info("stopped by a signal at iteration %d; checkpoint saved to %s (continue with --resume auto)",
                     trainer.progress.iteration, paths["last"])
        else:
            log.info("done: %s", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in summary.items()))
    return summary


def _plot_curve(paths, unit):
    from ..visualize.plots import loss_curve
    rows = read_metrics(paths["metrics"])
    if rows:
        loss_curve(rows, paths["curve"], unit=unit)
