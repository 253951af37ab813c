"""The pretraining run behind pretrain.py: data, tokenizer and model from the flags (or a checkpoint
to resume), then the training loop with logging, evaluation, checkpoints and a clean stop.

Outputs beside --save (default lang_model.pt): the checkpoint itself (full training state, written
every --save-iters, at the end and on SIGTERM/SIGINT), `<stem>_best.pt` (best validation loss),
`<stem>.metrics.jsonl` (one JSON line per log interval and evaluation) and `<stem>_loss.png`.

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
from tqdm import tqdm

from ..data.batches.lm_stream import LMStream  # noqa: F401  (re-exported for scripts and tests)
from ..data.preprocess import LEGACY_DEFAULT, PROCESS_FN_KEY, recorded_process_fn, resolve_process_fn
from ..data.tokenizers.builtin import make_tokenizer, tokenizer_from_dict
from ..errors import UserError
from ..models.language_model import build_language_model
from ..models.loading import load_language_model
from ..output_paths import check_outputs, reported_write
from ..runtime import (choose_device, load_splits, report_ignored_architecture, set_runtime_options,
                       set_threads)
from .checkpoint import load_checkpoint, save_checkpoint
from .collective import all_reduce_sum, any_rank
from .distributed import fault_injection_point, init_distributed, is_main, shutdown
from .lm_trainer import LMTrainer, LoopOptions, checkpoint_paths, iterations_per_epoch
from .metrics_log import MetricsLog, read_metrics
from .signals import GracefulExit
from .tensorboard_log import check_tensorboard, open_tensorboard

log = logging.getLogger(__name__)
LN2 = math.log(2.0)


def save(trainer, model_config, path, env):
    payload = dict(trainer.payload(model_config), **{PROCESS_FN_KEY: trainer.process_fn})
    if is_main(env):
        with reported_write(path, "--save"):
            save_checkpoint(path, payload)


def run_training(trainer, model_config, options, total_iters, env, stopper, metrics):
    """Train until `total_iters` or a stop signal; evaluate at each epoch's end. Returns 'done'|'stopped'."""
    paths = checkpoint_paths(options.save)
    iters_per_epoch = max(1, total_iters // max(1, options.epochs))
    bar = tqdm(total=total_iters, initial=trainer.progress.iteration, disable=not is_main(env),
               desc="pretrain", unit="it", dynamic_ncols=True, mininterval=2.0)
    window = {"loss": 0.0, "n": 0, "tokens": 0, "t0": time.perf_counter()}
    while trainer.progress.iteration < total_iters:
        loss, tokens, _ = trainer.train_iteration()
        _accumulate(window, loss, tokens)
        it = trainer.progress.iteration
        bar.update(1)
        if it % options.log_interval == 0 or it == total_iters:
            _log_window(trainer, window, env, bar, metrics)
        if it % iters_per_epoch == 0 or it == total_iters:
            _end_of_epoch(trainer, model_config, env, metrics, paths, it // iters_per_epoch)
        if options.save_iters > 0 and it % options.save_iters == 0:
            save(trainer, model_config, paths["last"], env)
        fault_injection_point(env, it)          # test-only; does nothing unless a test asks
        if stopper.should_stop_all():
            save(trainer, model_config, paths["last"], env)
            bar.close()
            return "stopped"
    bar.close()
    save(trainer, model_config, paths["last"], env)
    return "done"


def _accumulate(window, loss, tokens):
    window["loss"] += loss
    window["n"] += 1
    window["tokens"] += tokens


def _log_window(trainer, window, env, bar, metrics):
    elapsed = time.perf_counter() - window["t0"]
    loss = all_reduce_sum([window["loss"] / max(window["n"], 1)])[0] / env.world_size
    tokens = all_reduce_sum([float(window["tokens"])])[0]
    row = {"step": trainer.progress.iteration, "loss": loss, "ppl": math.exp(min(loss, 50)),
           "bpc": loss / LN2, "lr": trainer.schedule.get_lr(), "tokens_per_s": tokens / max(elapsed, 1e-9),
           "loss_scale": trainer.precision.loss_scale, "skipped_steps": trainer.precision.skipped_steps,
           "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if is_main(env):
        metrics.write(row)
        bar.set_postfix(loss=f"{loss:.3f}", lr=f"{row['lr']:.2e}", tok_s=f"{row['tokens_per_s']:.0f}")
    window.update(loss=0.0, n=0, tokens=0, t0=time.perf_counter())


def _end_of_epoch(trainer, model_config, env, metrics, paths, epoch):
    val_loss = trainer.evaluate()
    if val_loss is None:
        return
    row = {"step": trainer.progress.iteration, "epoch": epoch, "val_loss": val_loss,
           "val_ppl": math.exp(min(val_loss, 50)), "val_bpc": val_loss / LN2}
    trainer.progress.evaluations.append(row)
    improved = val_loss < trainer.progress.best_val_loss
    if improved:
        trainer.progress.best_val_loss = val_loss
    if is_main(env):
        metrics.write(row)
        log.info("epoch %d: validation loss %.4f, perplexity %.2f, %.4f bits per token%s", epoch, val_loss,
                 row["val_ppl"], row["val_bpc"], " (best so far)" if improved else "")
    if improved:
        save(trainer, model_config, paths["best"], env)


def resume_path(resume, save):
    """--resume PATH, or 'auto': this run's --save when it exists (else start fresh)."""
    if resume is None:
        return None
    if resume == "auto":
        return save if os.path.exists(save) else None
    return resume


def load_resume(path):
    return load_checkpoint(path, expect_kind="lm")


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


class _Stopper:
    """A GracefulExit whose decision is taken by all ranks together."""

    def __init__(self, graceful):
        self.graceful = graceful

    def should_stop_all(self):
        return any_rank(self.graceful.should_stop)


def check_output_paths(save, load, data_paths):
    """--save and the files beside it (_best, metrics, loss curve) can be written and overwrite no input
    (--load, --data, --valid, --test; a --resume checkpoint is this run's own output and may be --save)."""
    inputs = [("--load", load), *zip(("--data", "--valid", "--test"), data_paths)]
    check_outputs([("--save", path) for path in checkpoint_paths(save).values()], inputs)


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
    resume = resume_path(training.resume, training.save)
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
    paths = checkpoint_paths(training.save)
    tensorboard = open_tensorboard(training.tensorboard, enabled=is_main(env))
    metrics = MetricsLog(paths["metrics"], enabled=is_main(env), mirror=tensorboard)
    with GracefulExit() as graceful:
        outcome = run_training(trainer, model_config, options, total, env, _Stopper(graceful), metrics)
    summary = _finish(trainer, outcome, test, env, metrics, paths)
    metrics.close()
    shutdown(env, trainer.ddp_model)
    return summary


def _finish(trainer, outcome, test, env, metrics, paths):
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
            _plot_curve(paths)
        metrics.image("loss_curve", paths["curve"], trainer.progress.iteration)
        if outcome == "stopped":
            log.info("stopped by a signal at iteration %d; checkpoint saved to %s (continue with --resume auto)",
                     trainer.progress.iteration, paths["last"])
        else:
            log.info("done: %s", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in summary.items()))
    return summary


def _plot_curve(paths):
    from ..visualize.plots import loss_curve
    rows = read_metrics(paths["metrics"])
    if rows:
        loss_curve(rows, paths["curve"])
