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
import os

import numpy as np
import torch

from ..data.preprocess import LEGACY_DEFAULT, recorded_process_fn, resolve_process_fn
from ..data.tokenizers.builtin import make_tokenizer, tokenizer_from_dict
from ..errors import UserError
from ..models.kinds import build_language_model
from ..models.loading import load_language_model
from ..output_paths import check_outputs, reported_write
from ..runtime import choose_device, load_splits, report_ignored_architecture, set_runtime_options, set_threads
from ..checkpoint import load_checkpoint
from ..training.checkpoint_files import resume_path, run_files, written_files
from ..training.distributed import init_distributed, is_main, shutdown, wrap_ddp
from ..training.language_model_task import (LanguageModelTask, StreamOptions, bits_unit, iterations_per_epoch,
                                             nats_row)
from ..training.loop import LoopOptions, Progress, Trainer, train
from ..training.metrics_log import read_metrics
from ..training.optim import build_optimizer
from ..training.precision import Precision
from ..training.loop import Reporter
from ..training.schedules import build_schedule
from ..training.signals import GracefulExit
from ..training.tensorboard_log import check_tensorboard

log = logging.getLogger(__name__)


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


ACTIVATION_BYTES = 100    # bytes kept for backward per (row, step, unit, layer): measured, mLSTM 1024 units
BASE_BYTES = 2**29        # the process itself (torch, the corpus)
SIZE_FLAGS = {"nhid", "emsize", "nlayers", "decoder_layers", "decoder_embed_dim", "decoder_ffn_embed_dim"}
CPU_COMMAND = "--nhid 512 --batch-size 32 --seq-length 64 (README: Train a language model on your corpus)"


def warn_gpu_sized_defaults(config, architecture, device):
    """One line when a CPU run builds the default model size, the paper's GPU model: its size, the memory
    it needs, a CPU-sized command and where it saves."""
    if device.type != "cpu" or config.model.load or SIZE_FLAGS & config.model.given:
        return
    with torch.device("meta"):
        n_params = sum(p.numel() for p in build_language_model(architecture).parameters())
    width = architecture.get("nhid") or architecture.get("decoder_embed_dim")
    layers = architecture.get("nlayers") or architecture.get("decoder_layers", 1)
    rows = config.data.batch_size * config.lm_data.seq_length * width * layers
    gigabytes = (BASE_BYTES + 16 * n_params + ACTIVATION_BYTES * rows) / 2**30   # weights, grads, Adam
    log.warning("the default model is the paper's GPU configuration (%s, %d units, %.0fM parameters, batch %d x %d): "
                "about %.0f GB of memory and minutes per step on a CPU; a CPU-sized run: %s; saving to %s",
                architecture["model"], width, n_params / 1e6, config.data.batch_size, config.lm_data.seq_length,
                gigabytes, CPU_COMMAND, config.training.save)


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


def run(config):
    """Run pretraining as a `config.PretrainConfig` says; returns a summary dict (also logged)."""
    run, training = config.run, config.training
    check_tensorboard(training.tensorboard)
    env = init_distributed(choose_device(run.device))
    if is_main(env):
        check_output_paths(training.save, config.model.load, config.data.files())
    set_threads(run.threads)
    torch.manual_seed(run.seed + env.rank)
    files = pretrain_files(training.save)
    resume = resume_path(training.resume, files)
    ckpt = load_checkpoint(resume, expect_kind="lm") if resume else None
    process_fn = resolve_process_fn(config.data.process_fn, recorded_process_fn(ckpt) if ckpt else LEGACY_DEFAULT)
    log.info("text clean-up: %s", process_fn)
    train_docs, valid, test = load_splits(config.data, run.seed, require_labels=False, process_fn=process_fn)
    tokenizer = tokenizer_from_dict(ckpt["tokenizer"]) if ckpt else build_tokenizer(config.tokenizer, train_docs.texts)
    if ckpt is None:
        warn_gpu_sized_defaults(config, config.model.architecture(tokenizer.vocab_size), env.device)
    model, model_config = build_model(config.model, tokenizer, ckpt, resume)
    set_runtime_options(model, config.model.rnn_impl, config.model.compile)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s language model, %.2fM parameters, vocabulary %d, %d training documents, %d processes",
             model_config["model"], n_params / 1e6, tokenizer.vocab_size, len(train_docs.texts), env.world_size)
    precision = Precision.from_flags(device=env.device, **config.precision.flags())
    ddp_model = wrap_ddp(model.to(env.device), env)
    options = StreamOptions.from_config(config)
    steps = iterations_per_epoch(training.train_iters, options, estimate_tokens(train_docs.texts, tokenizer),
                                 env.world_size)
    task = LanguageModelTask(ddp_model, precision, tokenizer, train_docs.texts, valid.texts if valid else None,
                             options, env, model_config, process_fn, steps)
    optimizer = build_optimizer(training.optim, model.parameters(), training.lr, training.weight_decay)
    trainer = Trainer(ddp_model, optimizer, precision, schedule_for(optimizer, training, steps * training.epochs),
                      training.clip, env.world_size)
    progress = Progress()
    if ckpt is not None:
        trainer.load_state_dict(ckpt)
        task.restore(ckpt)
        progress = Progress.from_dict(ckpt["progress"])
        if progress.epoch is None:      # a version-1 checkpoint: every epoch has `steps` iterations
            progress.epoch, progress.step_in_epoch = divmod(progress.iteration, steps)
        log.info("resumed from %s at iteration %d of %d", resume, progress.iteration, steps * training.epochs)
    reporter = Reporter(files["metrics"], is_main(env), training.tensorboard, fresh=ckpt is None)
    loop = LoopOptions(training.epochs, log_interval=max(1, run.log_interval), save_iters=training.save_iters)
    with GracefulExit() as stop:
        outcome = train(task, trainer, progress, reporter, files, stop, loop)
    summary = finish(task, progress, precision, outcome, stop, test, reporter, files)
    reporter.close()
    shutdown(env, ddp_model)
    return summary


def schedule_for(optimizer, training, total_iters):
    """The LambdaLR schedule of a `config.TrainingConfig` over `total_iters` steps (--warmup below 1 is a
    fraction of them)."""
    warmup = training.warmup
    warmup_iters = int(warmup * total_iters) if 0 < warmup < 1 else int(warmup)
    return build_schedule(optimizer, total_iters, start_lr=training.lr, warmup=warmup_iters,
                          decay_style=training.decay_style, constant_decay=training.constant_decay,
                          stlr_cut_frac=training.stlr_cut_frac)


def finish(task, progress, precision, outcome, stop, test, reporter, files):
    """Test loss on a finished run, the loss curve, the summary (also logged)."""
    summary = {"outcome": outcome, "iterations": progress.iteration,
               "best_val_loss": -progress.best_value,
               "checkpoint": files["last"], "skipped_steps": precision.skipped_steps}
    if stop.signum:
        summary["signal"] = stop.signum
    if outcome == "done" and test is not None and len(test.texts) > 0:
        test_row = nats_row("test_", task.mean_loss(test.texts))
        summary.update(test_row)
        reporter.write({"step": progress.iteration, "test_loss": test_row["test_loss"],
                        "test_bpc": test_row["test_bpc"]})
    if reporter.enabled and os.path.exists(files["metrics"]):
        with reported_write(files["curve"], "--save"):
            _plot_curve(files, bits_unit(task.tokenizer))
        reporter.image("loss_curve", files["curve"], progress.iteration)
    if outcome == "interrupted":
        kept = f"{files['last']} is kept" if os.path.exists(files["last"]) else "no checkpoint had been written yet"
        log.warning("stopped by %s during a step at iteration %d: the step was abandoned; %s", stop.signal_name,
                    progress.iteration, kept)
    elif outcome == "stopped":
        log.info("stopped by %s at iteration %d; checkpoint saved to %s (continue with --resume auto)",
                 stop.signal_name, progress.iteration, files["last"])
    else:
        log.info("done: %s", ", ".join(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}"
                                       for k, v in summary.items()))
    return summary


def _plot_curve(paths, unit):
    from ..visualize.plots import loss_curve
    rows = read_metrics(paths["metrics"])
    if rows:
        loss_curve(rows, paths["curve"], unit=unit)
