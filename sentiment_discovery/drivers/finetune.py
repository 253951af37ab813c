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

import numpy as np
import torch

from ..data.preprocess import LEGACY_DEFAULT, NONE, apply_process_fn, resolve_process_fn
from ..data.tokenizers.builtin import make_tokenizer
from ..errors import UserError
from ..models.classifier import build_classifier, classifier_config
from ..models.kinds import max_positions, model_kind
from ..models.language_model import build_language_model
from ..models.loading import classifier_from_checkpoint, load_text_encoder
from ..output_paths import check_output_folder, check_outputs, reported_write
from ..runtime import choose_device, load_splits, set_runtime_options, set_threads
from ..checkpoint import classifier_payload, load_checkpoint, save_checkpoint
from ..training.collective import all_reduce_sum
from ..training.distributed import init_distributed, is_main, shutdown, unwrap_model
from ..training.loop import Reporter, drive, resume_path, written_files
from ..training.signals import GracefulExit
from ..training.tensorboard_log import check_tensorboard
from ..inference import effective_max_len
from ..finetune.batching import drop_tokenless, encode_split, epoch_steps
from ..finetune.checkpoints import (
    epoch_path,
    load_resume,
    output_paths,
)
from ..finetune.evaluation import selection_value, split_outputs
from ..finetune.losses import balanced_class_weights, prior_logits
from ..finetune.reports import (
    draw_plots,
    epoch_message,
    epoch_row,
    labelled_report,
    mirror_confusion,
    print_summary,
    selection_words,
    write_report,
)
from ..finetune.tasks import task_spec
from ..finetune.thresholding import DEFAULT_THRESHOLD, ThresholdOptions, tune_thresholds
from ..finetune.trainer import FinetuneTrainer, LossOptions

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


# ---------------------------------------------------------------------------------------------
# the data of a run


class RunData:
    """Token lists, loss targets and metric labels of the splits (texts through `process_fn`)."""

    def __init__(self, spec, tokenizer, max_len, train, valid, test, process_fn=NONE):
        self.process_fn = process_fn
        self.train_tokens, self.train_targets = drop_tokenless(
            encode_split(train, tokenizer, max_len, "train", process_fn), spec.targets(train), "train")
        self.valid = self._eval_split(spec, tokenizer, max_len, valid, "validation")
        self.test = self._eval_split(spec, tokenizer, max_len, test, "test")

    def _eval_split(self, spec, tokenizer, max_len, split, what):
        if split is None:
            return None
        return {"tokens": encode_split(split, tokenizer, max_len, what, self.process_fn), "truth": spec.truth(split)}


def model_max_len(config, model):
    return effective_max_len(config.features.max_seq_len, max_positions(model.encoder))


def warmup_iterations(config, steps_per_epoch, total):
    warmup, warmup_epochs = config.training.warmup, config.finetune.warmup_epochs
    if warmup_epochs:
        return int(warmup_epochs * steps_per_epoch)
    return int(warmup * total) if 0 < warmup < 1 else int(warmup)


def threshold_options(config):
    f = config.finetune
    return ThresholdOptions(automatic=f.automatic_thresholding, metric=f.threshold_metric, micro=f.micro,
                            double=f.double_thresh, global_tweaks=f.global_tweaks, dual=f.dual_thresh,
                            seed=config.run.seed)


# ---------------------------------------------------------------------------------------------
# the run


class FinetuneRun:
    """Everything one run needs between its steps: its config, task, data, trainer, outputs."""

    def __init__(self, run_config, env, spec, data, trainer, tokenizer, paths, resumed):
        self.run_config, self.env, self.spec, self.data = run_config, env, spec, data
        self.options = run_config.finetune
        self.trainer, self.tokenizer, self.paths = trainer, tokenizer, paths
        self.reporter = Reporter(paths["metrics"], is_main(env), run_config.training.tensorboard,
                                 list_names=spec.report_names(), fresh=not resumed)
        self.metrics = self.reporter.metrics
        self.config = unwrap_model(trainer.ddp_model).config
        self.best_state = None      # the best epoch's model state, while this process has it
        self.confusion = None       # (matrix, split name) for the multi-class plot
        self.eval_batch = run_config.data.eval_batch
        self._steps = (None, None)   # (epoch, its step batches)

    @property
    def model(self):
        return unwrap_model(self.trainer.ddp_model)

    def steps(self, epoch):
        """The step batches of `epoch` (each a list of `grad_accum` global batches of row indices)."""
        if self._steps[0] != epoch:
            self._steps = (epoch, self._epoch_steps(epoch))
        return self._steps[1]

    def _epoch_steps(self, epoch):
        c = self.run_config
        return epoch_steps(self.data.train_tokens, self.data.train_targets, c.data.batch_size * self.env.world_size,
                           epoch, c.run.seed, c.finetune.stratified_batches, c.training.grad_accum,
                           self.env.world_size, c.training.train_iters)

    # --- saving ------------------------------------------------------------------------------------
    def payload(self, model_state, thresholds):
        return classifier_payload(dict(self.config, aux_lm=False), model_state, self.tokenizer, self.spec.names,
                                  thresholds, self.data.process_fn, "finetune", class_names=self.spec.class_names)

    def current_thresholds(self):
        progress = self.trainer.progress
        return progress.best_thresholds or [DEFAULT_THRESHOLD] * self.spec.n_outputs

    def save_resume(self):
        if not is_main(self.env):
            return
        payload = self.payload(self.trainer.model_state(), self.current_thresholds())
        payload.update(self.trainer.training_state(), task=self.spec.to_dict())
        with reported_write(self.paths["last"], "--save"):
            save_checkpoint(self.paths["last"], payload)

    # --- evaluation --------------------------------------------------------------------------------
    def evaluate(self, split, thresholds=None, desc="validate"):
        """Outputs of a split; thresholds tuned on it unless given."""
        spec = self.spec
        if thresholds is not None:
            choose = lambda probs: (np.asarray(thresholds, dtype=np.float64), {})
        elif spec.use_softmax:
            choose = lambda probs: (np.full(spec.n_outputs, DEFAULT_THRESHOLD), {})
        else:
            options = threshold_options(self.run_config)
            choose = lambda probs: tune_thresholds(probs, split["truth"], options)
        return split_outputs(self.model, split["tokens"], split["truth"], spec, choose, self.eval_batch,
                             self.env.device, self.trainer.precision.autocast(), self.env, desc)

    def end_of_epoch(self):
        """Validate, log the epoch's JSON line, keep the best classifier (and every epoch's with --save-finetune)."""
        trainer, progress, a = self.trainer, self.trainer.progress, self.options
        epoch = progress.epoch + 1
        n_steps = max(progress.step_in_epoch, 1)
        train_parts = {key: value / n_steps for key, value in progress.running.items()}
        val = self.evaluate(self.data.valid) if self.data.valid is not None else None
        value = selection_value(val["report"], a.report_metric, a.micro) if val else float(epoch)
        thresholds = val["thresholds"] if val else self.current_thresholds()
        row = epoch_row(epoch, progress.iteration, train_parts, trainer.schedule.lr, val, thresholds)
        progress.history.append(row)
        self.metrics.write(row)
        if val:
            mirror_confusion(self.metrics, val["report"], self.spec.names, progress.iteration, "validation")
        if is_main(self.env):
            log.info(epoch_message(row, a.report_metric, a.micro, a.all_metrics, self.spec.kind))
        improved = value > progress.best_value
        state = trainer.model_state() if improved or a.save_finetune else None
        if improved:
            progress.best_value, progress.best_epoch = value, epoch
            progress.best_thresholds = [float(t) for t in thresholds]
            self.best_state = state
            if is_main(self.env):
                with reported_write(self.paths["best"], "--save"):
                    save_checkpoint(self.paths["best"], self.payload(state, thresholds))
        if a.save_finetune and is_main(self.env):
            with reported_write(epoch_path(self.paths, epoch), "--save-finetune"):
                save_checkpoint(epoch_path(self.paths, epoch), self.payload(state, thresholds))

    # --- training (driven by training/loop.py's `drive`) -----------------------------------------------
    @property
    def iteration(self):
        return self.trainer.progress.iteration

    def finished(self):
        return self.trainer.progress.epoch >= self.run_config.training.epochs

    def epoch_pending(self):
        progress = self.trainer.progress
        return not self.finished() and progress.step_in_epoch >= len(self.steps(progress.epoch))

    def step(self):
        trainer, progress, epochs = self.trainer, self.trainer.progress, self.run_config.training.epochs
        steps = self.steps(progress.epoch)
        if self._bar_epoch != progress.epoch:
            self._bar_epoch = progress.epoch
            self.reporter.start_bar(len(steps), progress.step_in_epoch, f"epoch {progress.epoch + 1}/{epochs}", "step")
        parts = trainer.train_step(steps[progress.step_in_epoch])
        keys = sorted(parts)
        progress.add_step(dict(zip(keys, all_reduce_sum([parts[k] for k in keys]))))
        self.reporter.advance(loss=f"{progress.running['loss'] / progress.step_in_epoch:.4f}",
                              lr=f"{trainer.schedule.lr:.2e}")

    def end_epoch(self):
        self.reporter.close_bar()
        self.end_of_epoch()
        self.trainer.progress.next_epoch()

    def save_last(self):
        self.save_resume()

    def train(self, stop):
        """Epochs until --epochs or a stop signal (`stop.should_stop` on any rank): 'done' | 'stopped'."""
        self._bar_epoch = None
        outcome = drive(self, stop, self.run_config.training.save_iters)
        self.reporter.close_bar()
        return outcome

    # --- the end -----------------------------------------------------------------------------------
    def load_best(self):
        state = self.best_state
        if state is None:
            state = load_checkpoint(self.paths["best"], expect_kind="classifier")["model_state"]
        self.model.load_state_dict(state)

    def finish(self, outcome):
        """Report on validation (best epoch) and test; plots; the summary (also returned)."""
        a, progress, spec = self.options, self.trainer.progress, self.spec
        summary = {"outcome": outcome, "task": spec.kind, "outputs": spec.n_outputs, "labels": list(spec.names),
                   "epochs_run": progress.epoch, "iterations": progress.iteration,
                   "best_epoch": progress.best_epoch, "report_metric": a.report_metric,
                   "selected_on": selection_words(spec.kind, a.report_metric, a.micro, spec.report_names())
                   if self.data.valid is not None else None,
                   "selection_value": progress.best_value, "thresholds": self.current_thresholds(),
                   "checkpoint": self.paths["best"]}
        if outcome != "done":
            if is_main(self.env):
                log.info("stopped at step %d; continue with --resume auto (%s)", progress.iteration,
                         self.paths["last"])
            return summary
        self.load_best()
        sections = self.final_sections(summary)
        if is_main(self.env):
            self.write_outputs(summary, sections)
        return summary

    def final_sections(self, summary):
        sections = {}
        splits = [("validation", self.data.valid), ("test", None if self.options.no_test_eval else self.data.test)]
        for name, split in splits:
            if split is None:
                continue
            outputs = self.evaluate(split, thresholds=self.current_thresholds(), desc=name)
            report, table = labelled_report(outputs["report"], split["truth"], self.spec)
            title = f"{name} (best epoch {summary['best_epoch']})" if name == "validation" else name
            sections[title] = (report, table)
            summary[name] = report
            if self.spec.kind == "multiclass":
                self.confusion = (report["confusion_matrix"], name)
        tuned = np.asarray(self.current_thresholds(), dtype=np.float64)
        if self.data.valid is not None and not np.allclose(tuned, DEFAULT_THRESHOLD):
            # what the tuning bought: the same classifier on validation at the plain 0.5 thresholds
            outputs = self.evaluate(self.data.valid, thresholds=np.full_like(tuned, DEFAULT_THRESHOLD),
                                    desc="validation at 0.5")
            report, table = labelled_report(outputs["report"], self.data.valid["truth"], self.spec)
            sections["validation at 0.5 thresholds"] = (report, table)
            summary["validation_at_0.5"] = report
        return sections

    def write_outputs(self, summary, sections):
        paths, a = self.paths, self.options
        written = [paths["best"], paths["metrics"]]
        with reported_write(paths["report_txt"], "--save"):
            if sections:
                write_report(paths, summary, sections)
                written += [paths["report_txt"], paths["report_json"]]
            matrix, split = self.confusion or (None, None)
            written += draw_plots(paths, self.trainer.progress.history, a.report_metric, a.micro, self.spec.kind,
                                  confusion=matrix, label_names=list(self.spec.names), split=split)
        if matrix is not None:
            step = self.trainer.progress.iteration
            self.metrics.image(f"confusion_matrix/{split}_best_epoch", paths["confusion"], step)
        print_summary(summary, sections, written)


def check_output_paths(paths, load, data_paths, save_finetune):
    """--save and every file beside it can be written and overwrite no input (--load, --data, --valid,
    --test; a --resume checkpoint is this run's own `_last` output)."""
    data, valid, test = data_paths
    inputs = [("--load", load), ("--data", data), ("--valid", valid), ("--test", test)]
    check_outputs([("--save", path) for path in written_files(paths)], inputs)
    if save_finetune:
        check_output_folder("--save-finetune", paths["epochs"], inputs)


def finetune(config):
    """Run finetuning as a `config.FinetuneConfig` says; returns a summary dict."""
    check_flags(config)
    run_options, training, f, head = config.run, config.training, config.finetune, config.classifier
    check_tensorboard(training.tensorboard)
    env = init_distributed(choose_device(run_options.device))
    paths = output_paths(training.save, f.model_version_name)
    if is_main(env):
        check_output_paths(paths, config.model.load, config.data.files(), f.save_finetune)
    set_threads(run_options.threads)
    torch.manual_seed(run_options.seed + env.rank)
    train, valid, test = load_splits(config.data, run_options.seed)
    spec = task_spec([train, valid, labelled(test)], head.use_softmax, f.joint_binary_train,
                     head.classifier_hidden_layers, config.data.class_names or train.class_names, f.dual_thresh)
    resume = resume_path(training.resume, paths)
    ckpt = load_resume(resume, spec) if resume else None
    model, tokenizer, process_fn = build_model(config, spec, train, ckpt)
    log.info("text clean-up: %s", process_fn)
    data = RunData(spec, tokenizer, model_max_len(config, model), train, valid, labelled(test), process_fn)
    trainer = FinetuneTrainer(model, data.train_tokens, data.train_targets, env, config.precision.flags(),
                              training.optimizer(), loss_options(f, spec, data), freeze_lm=f.freeze_lm,
                              clip=training.clip)
    run = FinetuneRun(config, env, spec, data, trainer, tokenizer, paths, resumed=ckpt is not None)
    steps_per_epoch = len(run.steps(0))
    if steps_per_epoch == 0:
        raise UserError(f"no training batches: {len(data.train_tokens)} rows for {env.world_size} processes")
    total = steps_per_epoch * training.epochs
    trainer.build_schedule(total, training.lr, training.decay_style, warmup_iterations(config, steps_per_epoch, total),
                           training.constant_decay, f.cos_cut_frac, training.stlr_cut_frac)
    if ckpt is not None:
        trainer.restore(ckpt)
    log_start(env, spec, data, model, steps_per_epoch, resume, trainer)
    with GracefulExit() as graceful:
        outcome = run.train(graceful)
    summary = run.finish(outcome)
    run.reporter.close()
    shutdown(env, trainer.ddp_model)
    return summary


def loss_options(options, spec, data):
    """The losses a `config.FinetuneOptions` asks for."""
    weights = None
    if options.class_weights == "balanced":
        weights = torch.from_numpy(balanced_class_weights(data.train_targets, spec.use_softmax, spec.n_outputs))
    aux = options.aux_lm_loss_weight if options.aux_lm_loss and not options.freeze_lm else 0.0
    return LossOptions(spec.use_softmax, weights, aux, options.aux_head_variance_loss_weight)


def log_start(env, spec, data, model, steps_per_epoch, resume, trainer):
    if not is_main(env):
        return
    n_params = sum(p.numel() for p in model.parameters())
    log.info("%s task, outputs: %s; %d training texts, %d steps per epoch, %.2fM parameters, %d process(es)",
             spec.kind, ", ".join(spec.names), len(data.train_tokens), steps_per_epoch, n_params / 1e6,
             env.world_size)
    if resume:
        log.info("resumed from %s at epoch %d, step %d", resume, trainer.progress.epoch + 1,
                 trainer.progress.step_in_epoch)
