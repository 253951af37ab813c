"""The pretraining run behind pretrain.py: data, tokenizer and model from the flags (or a checkpoint
to resume), then the training loop with logging, evaluation, checkpoints and a clean stop.

Outputs beside --save (default lang_model.pt): the checkpoint itself (full training state, written
every --save-iters, at the end and on SIGTERM/SIGINT), `<stem>_best.pt` (best validation loss),
`<stem>.metrics.jsonl` (one JSON line per log interval and evaluation) and `<stem>_loss.png`.
"""
import logging
import math
import os
import resource
import time

import numpy as np
import torch
from tqdm import tqdm

from ..arguments import model_config_from_args
from ..data.lm_stream import LMStream  # noqa: F401  (re-exported for scripts and tests)
from ..data.tokenizers import make_tokenizer, tokenizer_from_dict
from ..errors import UserError
from ..models.language_model import build_language_model
from ..models.loading import load_language_model
from ..runtime import choose_device, load_splits, set_threads
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
    payload = trainer.payload(model_config)
    if is_main(env):
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


def build_tokenizer(args, texts):
    return make_tokenizer(args.tokenizer_type, args.tokenizer_path, args.tokenizer_model_type,
                          args.vocab_size, texts=texts)


def build_model(args, tokenizer, ckpt):
    """(model, config): from the resume checkpoint, from --load (warm start), or fresh from the flags."""
    if ckpt is not None:
        model = build_language_model(ckpt["model_config"])
        model.load_state_dict(ckpt["model_state"])
        return model, ckpt["model_config"]
    if args.load:
        model, loaded_tokenizer, _ = load_language_model(args.load)
        if loaded_tokenizer.vocab_size != tokenizer.vocab_size:
            raise UserError(f"--load {args.load} has a vocabulary of {loaded_tokenizer.vocab_size}, "
                            f"the tokenizer has {tokenizer.vocab_size}")
        return model, model.config
    config = model_config_from_args(args, tokenizer.vocab_size)
    return build_language_model(config), config


def set_runtime_options(model, args):
    """Options that change how, not what, the model computes: --rnn-impl, --compile."""
    if getattr(model, "rnn", None) is not None:
        model.rnn.impl = args.rnn_impl
    if args.compile:
        log.warning("--compile: torch.compile takes a while to start and gave no gain on the recurrent "
                    "models measured here (see analysis/)")
        model.forward = torch.compile(model.forward)
    return model


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


def pretrain(args):
    """Run pretraining as the flags say; returns a summary dict (also logged)."""
    check_tensorboard(args.tensorboard)
    device = choose_device(args.device)
    env = init_distributed(device)
    set_threads(args.num_workers)
    torch.manual_seed(args.seed + env.rank)
    train, valid, test = load_splits(args, require_labels=False)
    resume = resume_path(args.resume, args.save)
    ckpt = load_checkpoint(resume, expect_kind="lm") if resume else None
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"]) if ckpt else build_tokenizer(args, train.texts)
    model, config = build_model(args, tokenizer, ckpt)
    set_runtime_options(model, args)
    if is_main(env):
        n_params = sum(p.numel() for p in model.parameters())
        log.info("%s language model, %.2fM parameters, vocabulary %d, %d training documents, %d processes",
                 config["model"], n_params / 1e6, tokenizer.vocab_size, len(train.texts), env.world_size)
    options = LoopOptions.from_args(args)
    trainer = LMTrainer(model, tokenizer, train.texts, valid.texts if valid else None, options, env,
                        _precision_flags(args), {"optim": args.optim, "lr": args.lr,
                                                 "weight_decay": args.weight_decay})
    total = iterations_per_epoch(options, estimate_tokens(train.texts, tokenizer), env.world_size) * args.epochs
    trainer.build_schedule(total, args.lr, args.decay_style, args.warmup, args.constant_decay, args.stlr_cut_frac)
    if ckpt is not None:
        trainer.restore(ckpt)
        if is_main(env):
            log.info("resumed from %s at iteration %d of %d", resume, trainer.progress.iteration, total)
    paths = checkpoint_paths(args.save)
    tensorboard = open_tensorboard(args.tensorboard, enabled=is_main(env))
    metrics = MetricsLog(paths["metrics"], enabled=is_main(env), mirror=tensorboard)
    with GracefulExit() as graceful:
        outcome = run_training(trainer, config, options, total, env, _Stopper(graceful), metrics)
    summary = _finish(trainer, outcome, test, env, metrics, paths)
    metrics.close()
    shutdown(env, trainer.ddp_model)
    return summary


def _precision_flags(args):
    return {"fp16": args.fp16, "amp": args.amp, "bf16": args.bf16,
            "loss_scale": args.loss_scale, "dynamic_loss_scale": args.dynamic_loss_scale}


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
