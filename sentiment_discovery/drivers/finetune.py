"""The finetuning run behind finetune_classifier.py: data and task from the flags, the classifier (a language
model from --load plus a new head, a classifier to keep training with --load-finetuned, or the state of a
run to resume), then epochs of training, each ended by a validation pass that tunes thresholds and picks
the best classifier, and at the end the report on validation and test.

Text: the splits are read raw and each text goes through the encoder's process function as it is
tokenized: --process-fn when given, else what the --load / --load-finetuned / resume checkpoint records
(a fresh model without --load: process_str, the original's default). Every classifier checkpoint written
records it, so run_classifier.py applies the same one.

Outputs beside --save: see finetune/checkpoints.py (classifier, resume checkpoint, per-epoch classifiers) and
finetune/reports.py (`<stem>.metrics.jsonl`, `<stem>_report.txt/.json`, `<stem>_curves.png`, `<stem>_confusion.png`).
"""
import logging
import os

import numpy as np
import torch

from ..data.preprocess import LEGACY_DEFAULT, apply_process_fn, resolve_process_fn
from ..data.tokenizers.builtin import make_tokenizer
from ..errors import UserError
from ..models.classifier import build_classifier, classifier_config
from ..models.kinds import max_positions, model_kind
from ..models.kinds import build_language_model
from ..models.loading import classifier_from_checkpoint, load_text_encoder
from ..output_paths import check_output_folder, check_outputs, check_unused_folder, reported_write
from ..runtime import choose_device, load_splits, set_runtime_options, set_threads
from ..checkpoint import load_checkpoint
from ..training.checkpoint_files import resume_path, written_files
from ..training.distributed import broadcast_object, init_distributed, is_main, shutdown, wrap_ddp
from ..training.loop import LoopOptions, Progress, Trainer, train
from ..training.optim import build_optimizer, layer_decayed_groups
from ..training.precision import Precision
from ..training.loop import Reporter
from ..training.schedules import build_schedule
from ..training.signals import GracefulExit
from ..training.tensorboard_log import check_tensorboard
from ..inference import effective_max_len
from ..finetune.checkpoints import epoch_path, finetune_files, load_resume
from ..finetune.classifier_task import ClassifierTask, FinetuneData, FinetuneSettings
from ..finetune.losses import balanced_class_weights, prior_logits
from ..finetune.reports import draw_plots, labelled_report, print_summary, selection_words, write_report
from ..finetune.outputs import output_spec
from ..finetune.validation import DEFAULT_THRESHOLD, ThresholdOptions

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# flags, task and model


def check_flags(config):
    """Flag combinations of a `config.FinetuneConfig` that cannot work, refused before any data is read."""
    training, head, f = config.training, config.classifier, config.finetune
    if training.epochs < 1:
        raise UserError(f"--epochs must be at least 1, got {training.epochs}")
    if config.data.batch_size < 1:
        raise UserError(f"--batch-size must be at least 1, got {config.data.batch_size}")
    if training.grad_accum < 1:
        raise UserError(f"--grad-accum must be at least 1, got {training.grad_accum}")
    if head.heads_per_class < 1:
        raise UserError(f"--heads-per-class must be at least 1, got {head.heads_per_class}")
    if training.warmup and f.warmup_epochs:
        raise UserError("use either --warmup-epochs or --warmup, not both")
    if head.neurons:
        raise UserError("--neurons selects transfer.py's top neurons; finetuning trains the head on all features")
    if f.load_finetuned and not config.model.load:
        raise UserError("--load-finetuned needs --load CLASSIFIER")
    if f.aux_lm_loss and not model_kind(config.model).generates:
        raise UserError("--aux-lm-loss needs a language model; a pretrained hf encoder (--model hf) has no LM head")
    if head.classifier_hidden_layers and min(head.classifier_hidden_layers) < 1:
        raise UserError(f"--classifier-hidden-layers sizes must be >= 1, got {head.classifier_hidden_layers}")
    if f.aux_lm_loss and f.freeze_lm:
        log.warning("--aux-lm-loss has no effect with --freeze-lm (the language model is not trained)")
    if f.aux_head_variance_loss_weight and head.heads_per_class < 2:
        log.warning("--aux-head-variance-loss-weight has no effect with one head per class")


def labelled(split):
    return split if split is not None and split.labels is not None else None


def set_output_bias(model, logits):
    """Set the head's output bias to `logits` (C,), the same for each of a class's heads."""
    last = model.head.linear if hasattr(model.head, "linear") else model.head.layers[-1]
    bias = torch.as_tensor(logits, dtype=last.bias.dtype).repeat_interleave(model.heads_per_class)  # (C*K,)
    with torch.no_grad():
        last.bias.copy_(bias)


def new_classifier(run_config, spec, train):
    """(model, tokenizer, process function): the language model of --load (or a fresh one from the flags)
    and a new head whose output bias starts at the training label frequencies (a few steps then need not
    learn the base rates)."""
    model_config, head = run_config.model, run_config.classifier
    process_flag = run_config.data.process_fn
    if model_config.load or model_kind(model_config).pretrained_only:
        encoder, tokenizer, process_fn = load_text_encoder(model_config, process_flag)
        for line in run_config.tokenizer.ignored_by(model_config.load or model_config.hf_model):
            log.warning(line)
    else:
        log.warning("no --load: finetuning a randomly initialised %s language model", model_config.model)
        process_fn = resolve_process_fn(process_flag, LEGACY_DEFAULT)
        t = run_config.tokenizer
        tokenizer = make_tokenizer(t.tokenizer_type, t.tokenizer_path, t.tokenizer_model_type, t.vocab_size,
                                   texts=apply_process_fn(train.texts, process_fn))
        encoder = build_language_model(model_config.architecture(tokenizer.vocab_size))
    hidden = list(head.classifier_hidden_layers or [])
    config = classifier_config(encoder.config, spec.n_outputs, head="mlp" if len(hidden) > 1 else "linear",
                               hidden_layers=hidden[:-1], dropout=head.classifier_dropout,
                               heads_per_class=head.heads_per_class, use_softmax=spec.use_softmax,
                               **run_config.features.options())
    model = build_classifier(config, encoder=encoder)
    set_output_bias(model, prior_logits(spec.targets(train), spec.use_softmax, spec.n_outputs))
    return model, tokenizer, process_fn


def stored_classifier(ckpt, path, spec, process_flag=None):
    """(model, tokenizer, process function) rebuilt from a classifier checkpoint trained for the same
    outputs; the process function is `process_flag` (--process-fn) when given, else the checkpoint's."""
    config = ckpt["classifier_config"]
    if config["n_outputs"] != spec.n_outputs or bool(config.get("use_softmax")) != spec.use_softmax:
        raise UserError(f"{path} has {config['n_outputs']} {'softmax' if config.get('use_softmax') else 'sigmoid'} "
                        f"outputs, this task needs {spec.n_outputs} "
                        f"{'softmax' if spec.use_softmax else 'sigmoid'} outputs ({', '.join(spec.names)})")
    model, tokenizer, recorded = classifier_from_checkpoint(ckpt, path)
    return model, tokenizer, resolve_process_fn(process_flag, recorded)


def build_model(config, spec, train, resume_ckpt):
    """(model, tokenizer, process function) from the resume checkpoint, a finetuned classifier, or an LM +
    new head; --rnn-impl applied to its encoder."""
    process_flag = config.data.process_fn
    if resume_ckpt is not None:
        model, tokenizer, process_fn = stored_classifier(resume_ckpt, "the resume checkpoint", spec, process_flag)
    elif config.finetune.load_finetuned:
        load = config.model.load
        model, tokenizer, process_fn = stored_classifier(load_checkpoint(load, expect_kind="classifier"), load,
                                                         spec, process_flag)
    else:
        model, tokenizer, process_fn = new_classifier(config, spec, train)
    if resume_ckpt is not None or config.finetune.load_finetuned:
        for line in config.model.ignored_by(model.encoder.config, "the stored classifier's encoder"):
            log.warning(line)
    set_runtime_options(model.encoder, config.model.rnn_impl)
    return model, tokenizer, process_fn


def warmup_iterations(config, steps_per_epoch, total):
    warmup, warmup_epochs = config.training.warmup, config.finetune.warmup_epochs
    if warmup_epochs:
        return int(warmup_epochs * steps_per_epoch)
    return int(warmup * total) if 0 < warmup < 1 else int(warmup)


def threshold_options(config):
    """The threshold tuning the flags ask for."""
    f = config.finetune
    return ThresholdOptions(automatic=f.automatic_thresholding, metric=f.threshold_metric, micro=f.micro,
                            double=f.double_thresh, global_tweaks=f.global_tweaks, dual=f.dual_thresh,
                            seed=config.run.seed)


def check_output_paths(config, paths, resuming):
    """--save and every file beside it can be written and overwrite no input (--load, --data, --valid,
    --test; a --resume checkpoint is this run's own `_last` output); a fresh run's --save-finetune folder
    holds no earlier run's classifiers."""
    data, valid, test = config.data.files()
    inputs = [("--load", config.model.load), ("--data", data), ("--valid", valid), ("--test", test)]
    check_outputs([("--save", path) for path in written_files(paths)], inputs)
    f = config.finetune
    if f.save_finetune:
        check_output_folder("--save-finetune", paths["epochs"], inputs)
        earlier = sorted(os.listdir(paths["epochs"])) if os.path.isdir(paths["epochs"]) else []
        if not (resuming or f.overwrite_output_dir):
            check_unused_folder(paths["epochs"], [name for name in earlier if name.endswith(".pt")],
                                "--model-version-name NAME")


def run(config):
    """Run finetuning as a `config.FinetuneConfig` says; returns a summary dict."""
    check_flags(config)
    run_options, training, f, head = config.run, config.training, config.finetune, config.classifier
    check_tensorboard(training.tensorboard)
    env = init_distributed(choose_device(run_options.device))
    paths = finetune_files(training.save, f.model_version_name)
    resume = resume_path(training.resume, paths)
    if is_main(env):
        check_output_paths(config, paths, resuming=resume is not None)
    set_threads(run_options.threads)
    torch.manual_seed(run_options.seed + env.rank)
    train_set, valid, test = load_splits(config.data, run_options.seed)
    spec = output_spec([train_set, valid, labelled(test)], head.use_softmax, f.joint_binary_train,
                     head.classifier_hidden_layers, config.data.class_names or train_set.class_names, f.dual_thresh)
    ckpt = load_resume(resume, spec) if resume else None
    model, tokenizer, process_fn = build_model(config, spec, train_set, ckpt)
    log.info("text clean-up: %s", process_fn)
    max_len = effective_max_len(config.features.max_seq_len, max_positions(model.encoder))
    data = FinetuneData(spec, tokenizer, max_len, train_set, valid, labelled(test), process_fn)
    settings = finetune_settings(config, spec, data)
    precision = Precision.from_flags(device=env.device, **config.precision.flags())
    if f.freeze_lm:
        model.encoder.requires_grad_(False)
    model = model.to(env.device)
    ddp_model = wrap_ddp(model, env, find_unused_parameters=not settings.aux_lm_weight and not f.freeze_lm)
    reporter = Reporter(paths["metrics"], is_main(env), training.tensorboard, list_names=spec.report_names(),
                        fresh=ckpt is None)
    task = ClassifierTask(ddp_model, precision, data, spec, settings, env, reporter)
    steps_per_epoch = task.steps_in_epoch(0)
    if steps_per_epoch == 0:
        raise UserError(f"no training batches: {len(data.train_tokens)} rows for {env.world_size} processes")
    total = steps_per_epoch * training.epochs
    groups = layer_decayed_groups(model.named_parameters(), training.lr, f.layer_lr_decay)
    optimizer = build_optimizer(training.optim, groups, training.lr, training.weight_decay)
    schedule = build_schedule(optimizer, total, warmup=warmup_iterations(config, steps_per_epoch, total),
                              decay_style=training.decay_style, constant_decay=training.constant_decay,
                              cos_cut_frac=f.cos_cut_frac, stlr_cut_frac=training.stlr_cut_frac)
    trainer = Trainer(ddp_model, optimizer, precision, schedule, training.clip, env.world_size)
    progress = Progress()
    if ckpt is not None:
        trainer.load_state_dict(ckpt)
        task.restore(ckpt)
        progress = Progress.from_dict(ckpt["progress"])
    log_start(env, spec, data, model, steps_per_epoch, resume, progress)
    loop = LoopOptions(training.epochs, log_interval=run_options.log_interval, save_iters=training.save_iters,
                       epoch_path=(lambda epoch: epoch_path(paths, epoch)) if f.save_finetune else None,
                       patience=f.early_stopping_patience)
    with GracefulExit() as stop:
        outcome = train(task, trainer, progress, reporter, paths, stop, loop)
    summary = finish(task, progress, outcome, stop, config, paths, reporter)
    reporter.close()
    shutdown(env, ddp_model)
    return summary


def finetune_settings(config, spec, data):
    """The task's settings from the flags."""
    f, training = config.finetune, config.training
    weights = None
    if f.class_weights == "balanced":
        weights = torch.from_numpy(balanced_class_weights(data.train_targets, spec.use_softmax, spec.n_outputs))
    return FinetuneSettings(
        batch_size=config.data.batch_size, eval_batch_size=config.data.eval_batch, seed=config.run.seed,
        grad_accum=training.grad_accum, train_iters=training.train_iters, stratified=f.stratified_batches,
        freeze_lm=f.freeze_lm, class_weights=weights,
        aux_lm_weight=f.aux_lm_loss_weight if f.aux_lm_loss and not f.freeze_lm else 0.0,
        head_variance_weight=f.aux_head_variance_loss_weight, thresholds=threshold_options(config),
        report_metric=f.report_metric, micro=f.micro, all_metrics=f.all_metrics)


def log_start(env, spec, data, model, steps_per_epoch, resume, progress):
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s task, outputs: %s; %d training texts, %d steps per epoch, %.2fM parameters, %d process(es)",
             spec.kind, ", ".join(spec.names), len(data.train_tokens), steps_per_epoch, n_params / 1e6,
             env.world_size)
    if resume:
        log.info("resumed from %s at epoch %d, step %d", resume, progress.epoch + 1, progress.step_in_epoch)


# ---------------------------------------------------------------------------------------------
# the end of a run: the best classifier on validation and test, the report and plots


def finish(task, progress, outcome, stop, config, paths, reporter):
    """Report on validation (best epoch) and test; plots; the summary (also returned)."""
    f, spec = config.finetune, task.spec
    thresholds = progress.best_keep.get("thresholds") or [DEFAULT_THRESHOLD] * spec.n_outputs
    summary = {"outcome": outcome, "task": spec.kind, "outputs": spec.n_outputs, "labels": list(spec.names),
               "epochs_run": progress.epoch, "iterations": progress.iteration,
               "best_epoch": progress.best_epoch, "report_metric": f.report_metric,
               "selected_on": selection_words(spec.kind, f.report_metric, f.micro, spec.report_names())
               if task.data.valid is not None else None,
               "selection_value": progress.best_value, "thresholds": thresholds, "checkpoint": paths["best"]}
    if stop.signum:
        summary["signal"] = stop.signum
    if outcome != "done":
        saved = "the step was abandoned, the last checkpoint is kept" if outcome == "interrupted" else "state saved"
        log.info("stopped by %s at step %d (%s); continue with --resume auto (%s)", stop.signal_name,
                 progress.iteration, saved, paths["last"])
        return summary
    best = load_checkpoint(paths["best"], expect_kind="classifier")["model_state"] if reporter.enabled else None
    task.bare_model.load_state_dict(broadcast_object(best))
    sections, confusion = final_sections(task, thresholds, summary, test=not f.no_test_eval)
    if reporter.enabled:
        write_outputs(paths, summary, sections, confusion, progress, config, spec, reporter)
    return summary


def final_sections(task, thresholds, summary, test=True):
    """The report tables of the best classifier: validation, test, and validation at plain 0.5 thresholds
    when tuning moved them (what the tuning bought)."""
    sections, confusion, data = {}, None, task.data
    tuned = np.asarray(thresholds, dtype=np.float64)
    splits = [("validation", data.valid, tuned), ("test", data.test if test else None, tuned)]
    if data.valid is not None and not np.allclose(tuned, DEFAULT_THRESHOLD):
        splits.append(("validation at 0.5 thresholds", data.valid, np.full_like(tuned, DEFAULT_THRESHOLD)))
    for name, split, split_thresholds in splits:
        if split is None:
            continue
        outputs = task.score(split, thresholds=split_thresholds, desc=name)
        report, table = labelled_report(outputs["report"], split["truth"], task.spec)
        title = f"{name} (best epoch {summary['best_epoch']})" if name == "validation" else name
        sections[title] = (report, table)
        summary["validation_at_0.5" if name.endswith("thresholds") else name] = report
        if task.spec.kind == "multiclass" and not name.endswith("thresholds"):
            confusion = (report["confusion_matrix"], name)
    return sections, confusion


def write_outputs(paths, summary, sections, confusion, progress, config, spec, reporter):
    f = config.finetune
    written = [paths["best"], paths["metrics"]]
    with reported_write(paths["report_txt"], "--save"):
        if sections:
            write_report(paths, summary, sections)
            written += [paths["report_txt"], paths["report_json"]]
        matrix, split = confusion or (None, None)
        written += draw_plots(paths, progress.history, f.report_metric, spec.kind,
                              confusion=matrix, label_names=list(spec.names), split=split)
    if matrix is not None:
        reporter.image(f"confusion_matrix/{split}_best_epoch", paths["confusion"], progress.iteration)
    print_summary(summary, sections, written)
