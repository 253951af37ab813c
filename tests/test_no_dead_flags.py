"""No flag is dead: every option of every script's parser is accounted for.

Each option is either
- in EFFECT_TESTS: a test (file::function) that gives it and checks something observable (output files,
  model config, printed or logged lines); the named test must exist and its file must use the flag; or
- in CONFIG_ONLY: no end-to-end test yet; the reason names the library code that reads it; or
- in COMPAT: accepted for old command lines only, and checked here to be reported when given.
A new flag in none of them fails `test_every_flag_is_accounted_for`.

Two mechanical checks back the tables for every flag of every script: giving the flag changes the typed
config the library receives (`test_every_flag_reaches_the_config`), and every config field the flags
fill is read somewhere in the library (`test_every_config_field_is_read`).
"""
import argparse
import ast
import re
from dataclasses import fields
from pathlib import Path

import pytest

from sentiment_discovery import config
from sentiment_discovery.arguments import script_flags, sections
from sentiment_discovery.config import SCRIPT_CONFIGS

REPO = Path(__file__).resolve().parent.parent
LIBRARY = REPO / "sentiment_discovery"

EFFECT_TESTS = {
    "--all-metrics": "test_finetune_cli.py::test_five_classes_beat_the_majority_baseline",
    "--amp": "test_pretrain.py::test_modes_run",
    "--apply": "test_threshold_cli.py::test_thresholds_tuned_on_validation_are_applied_to_test",
    "--automatic-thresholding": "test_finetune_modes.py::test_joint_binary_training_with_dual_and_double_thresholds",
    "--aux-head-variance-loss-weight": "test_finetune_cli.py::multilabel_run",
    "--aux-lm-loss": "test_finetune_modes.py::test_language_models_from_scratch_with_aux_lm_loss",
    "--batch-size": "test_finetune_distributed.py::test_two_gloo_processes_match_one",
    "--bf16": "test_run_classifier.py::test_lower_precision_stays_close",
    "--binarize-sent": "test_data_formats.py::write_formats",
    "--class-names": "test_hf_encoder.py::test_transfer_with_an_hf_encoder",
    "--class-weights": "test_finetune_cli.py::test_five_classes_beat_the_majority_baseline",
    "--classifier-dropout": "test_finetune_resume.py::run_flags",
    "--classifier-hidden-layers": "test_finetune_resume.py::test_hidden_layers_must_end_in_the_number_of_labels",
    "--clip": "test_pretrain.py::test_two_gloo_processes_match_one",
    "--concat-max": "test_hf_encoder.py::test_transfer_with_an_hf_encoder",
    "--data": "test_run_classifier.py::classify",
    "--data-format": "test_data_formats.py::write_formats",
    "--decay-style": "test_pretrain.py::test_resume_equivalence",
    "--decoder-attention-heads": "test_pretrain.py::test_transformer_trains",
    "--decoder-embed-dim": "test_pretrain.py::test_transformer_trains",
    "--decoder-ffn-embed-dim": "test_pretrain.py::test_transformer_trains",
    "--decoder-layers": "test_pretrain.py::test_transformer_trains",
    "--double-thresh": "test_finetune_modes.py::test_joint_binary_training_with_dual_and_double_thresholds",
    "--drop-neurons": "test_transfer_cli.py::first_run",
    "--dual-thresh": "test_finetune_modes.py::test_joint_binary_training_with_dual_and_double_thresholds",
    "--dynamic-loss-scale": "test_pretrain.py::test_modes_run",
    "--emsize": "test_transfer_cli.py::test_output_dir_says_where_results_go_and_overridden_sizes_are_explained",
    "--epochs": "test_finetune_cli.py::multilabel_run",
    "--fp16": "test_pretrain.py::test_modes_run",
    "--freeze-lm": "test_finetune_resume.py::test_load_finetuned_keeps_training_a_classifier",
    "--gen-length": "test_generate.py::test_greedy_generation_is_argmax_stepping_of_the_model",
    "--global-tweaks": "test_threshold_cli.py::test_binary_thresholds_beat_one_half",
    "--grad-accum": "test_finetune_modes.py::test_precision_and_step_modes",
    "--heads-per-class": "test_finetune_cli.py::multilabel_run",
    "--hf-model": "test_hf_encoder.py::test_transfer_with_an_hf_encoder",
    "--hf-pooling": "test_hf_encoder.py::test_transfer_with_an_hf_encoder",
    "--joint-binary-train": "test_finetune_modes.py::test_joint_binary_training_with_dual_and_double_thresholds",
    "--labels-file": "test_threshold_cli.py::test_binary_thresholds_beat_one_half",
    "--layer": "test_generate.py::test_visualize_writes_png_html_and_json_with_the_expected_rows",
    "--lazy": "test_pretrain.py::test_lazy_loose_json",
    "--load": "test_finetune_cli.py::test_run_classifier_reproduces_the_test_scores",
    "--load-finetuned": "test_finetune_resume.py::test_load_finetuned_keeps_training_a_classifier",
    "--log-interval": "test_finetune_cli.py::test_log_interval_writes_training_loss_lines",
    "--loose-json": "test_run_classifier.py::test_lazy_chunks_give_the_same_outputs",
    "--no-loose-json": "test_arguments.py::test_booleans_that_default_on_can_be_turned_off",
    "--loss-scale": "test_pretrain.py::test_modes_run",
    "--lr": "test_finetune_cli.py::finetune_argv",
    "--max-rows": "test_generate.py::test_data_mode_draws_one_heatmap_per_row",
    "--max-seq-len": "test_run_classifier.py::test_long_texts_are_truncated_and_counted",
    "--metric": "test_threshold_cli.py::test_scalar_finds_a_negatively_aligned_score",
    "--micro": "test_threshold_cli.py::test_binary_thresholds_beat_one_half",
    "--model": "test_pretrain.py::test_transformer_trains",
    "--model-version-name": "test_finetune_modes.py::test_joint_binary_training_with_dual_and_double_thresholds",
    "--negate": "test_generate.py::test_the_heatmap_shows_the_classifiers_top_neuron_times_its_sign",
    "--neuron": "test_generate.py::test_data_mode_draws_one_heatmap_per_row",
    "--neurons": "test_transfer_cli.py::test_too_many_neurons",
    "--nhid": "test_transfer_cli.py::test_output_dir_says_where_results_go_and_overridden_sizes_are_explained",
    "--no-test-eval": "test_finetune_resume.py::test_binary_label_outside_zero_one",
    "--no-weight-norm": "test_arguments.py::test_model_config_from_flags",
    "--non-binary-cols": "test_finetune_cli.py::test_run_classifier_reproduces_the_test_scores",
    "--num-samples": "test_generate.py::test_sampling_repeats_with_a_seed_and_changes_without_it",
    "--output-dir": "test_transfer_cli.py::test_output_dir_says_where_results_go_and_overridden_sizes_are_explained",
    "--overwrite": "test_generate.py::test_overwrite_changes_the_neurons_values_and_the_sampled_text",
    "--overwrite-prefix": "test_generate.py::test_data_mode_draws_one_heatmap_per_row",
    "--preds-file": "test_threshold_cli.py::test_binary_thresholds_beat_one_half",
    "--report-metric": "test_finetune_cli.py::test_five_classes_beat_the_majority_baseline",
    "--resume": "test_pretrain.py::test_resume_equivalence",
    "--save": "test_finetune_cli.py::multilabel_run",
    "--save-finetune": "test_finetune_modes.py::test_joint_binary_training_with_dual_and_double_thresholds",
    "--save-probs": "test_run_classifier.py::classify",
    "--save-results": "test_transfer_cli.py::test_output_dir_says_where_results_go_and_overridden_sizes_are_explained",
    "--seed": "test_generate.py::test_sampling_repeats_with_a_seed_and_changes_without_it",
    "--seq-length": "test_pretrain.py::tiny_flags",
    "--split": "test_data_formats.py::test_pretrain_on_a_lazy_plain_text_corpus",
    "--stratified-batches": "test_hf_encoder.py::test_finetune_learns_and_its_checkpoint_alone_classifies",
    "--task": "test_threshold_cli.py::test_auc_per_column_from_run_classifier_csv",
    "--temperature": "test_generate.py::test_greedy_generation_is_argmax_stepping_of_the_model",
    "--tensorboard": "test_tensorboard.py::test_finetuning_scalars_and_confusion_images",
    "--test": "test_transfer_cli.py::test_test_file_without_labels_is_predicted_not_scored",
    "--text": "test_generate.py::test_greedy_generation_is_argmax_stepping_of_the_model",
    "--text-key": "test_hf_encoder.py::test_finetune_learns_and_its_checkpoint_alone_classifies",
    "--threads": "test_arguments.py::test_threads_has_the_old_name_as_an_alias",
    "--tokenizer-path": "test_pretrain.py::test_sentencepiece_end_to_end",
    "--tokenizer-type": "test_pretrain.py::test_sentencepiece_end_to_end",
    "--top-k": "test_generate.py::test_sampling_repeats_with_a_seed_and_changes_without_it",
    "--top-p": "test_generate.py::test_sampling_repeats_with_a_seed_and_changes_without_it",
    "--train-iters": "test_pretrain.py::test_tiny_model_learns",
    "--use-cached": "test_transfer_cli.py::test_use_cached_skips_featurizing",
    "--use-softmax": "test_finetune_cli.py::test_five_classes_beat_the_majority_baseline",
    "--valid": "test_finetune_cli.py::finetune_argv",
    "--version": "test_no_dead_flags.py::test_version_prints_the_version",
    "--visualize": "test_generate.py::test_visualize_writes_png_html_and_json_with_the_expected_rows",
    "--vocab-size": "test_pretrain.py::test_sentencepiece_end_to_end",
    "--process-fn": "test_textpipe.py::test_the_pretrained_pipeline_follows_the_model",
    "--warmup-epochs": "test_finetune_modes.py::test_precision_and_step_modes",
    "--write-results": "test_run_classifier.py::test_multi_head_classifier_writes_std",
}

# No end-to-end test yet: the flag reaches its config field (checked below) and the code named here reads it.
CONFIG_ONLY = {
    "--all-layers": "FeatureConfig.options() -> models/featurizer.py feature selection",
    "--attention-dropout": "ModelConfig.architecture() -> models/transformer.py",
    "--aux-lm-loss-weight": "finetuning.loss_options -> LossOptions aux weight",
    "--chkpt-grad": "ModelConfig.architecture() -> models/transformer.py activation checkpointing",
    "--compile": "runtime.set_runtime_options -> torch.compile (pretraining)",
    "--concat-mean": "FeatureConfig.options() -> models/featurizer.py pools",
    "--concat-min": "FeatureConfig.options() -> models/featurizer.py pools",
    "--constant-decay": "trainer.build_schedule (training/schedules.py)",
    "--cos-cut-frac": "finetuning: trainer.build_schedule",
    "--decoder-learned-pos": "ModelConfig.architecture() -> models/transformer.py",
    "--decoder-normalize-before": "ModelConfig.architecture() -> models/transformer.py",
    "--delim": "DataConfig.reader_options() -> data/formats/readers.py",
    "--device": "runtime.choose_device (CPU-only CI has one device to choose)",
    "--dropout": "ModelConfig.architecture() -> models/language_model.py",
    "--eval-batch-size": "DataConfig.eval_batch -> LoopOptions / finetune evaluation / transfer featurizing",
    "--eval-iters": "StreamOptions.eval_iters -> training/language_model_task.py evaluate",
    "--eval-seq-length": "StreamOptions.eval_seq_length -> training/language_model_task.py evaluate",
    "--get-hidden": "FeatureConfig.options() / GenerateOptions -> featurizer, generation/neuron.py",
    "--label-key": "DataConfig.reader_options() -> data/formats/readers.py",
    "--max-positions": "ModelConfig.architecture() -> models/transformer.py",
    "--mcc": "transfer_run: sweep metric 'mcc'",
    "--nlayers": "ModelConfig.architecture() -> models/language_model.py",
    "--optim": "TrainingConfig.optimizer() -> training/optim.py build_optimizer",
    "--persist-state": "LoopOptions.persist_state -> data/batches/lm_stream.py",
    "--relu-dropout": "ModelConfig.architecture() -> models/transformer.py",
    "--rnn-impl": "runtime.set_runtime_options -> models/recurrent.py impl (pretrain, transfer, finetune)",
    "--samples-per-shard": "LoopOptions.samples_per_shard -> data/batches/lm_stream.py",
    "--save-iters": "pretraining run_training / FinetuneRun.train periodic checkpoints",
    "--share-decoder-input-output-embed": "ModelConfig.architecture() -> models/transformer.py",
    "--stlr-cut-frac": "trainer.build_schedule (training/schedules.py)",
    "--threshold-metric": "finetuning.threshold_options -> finetune/thresholding.py",
    "--tied": "ModelConfig.architecture() -> models/language_model.py",
    "--tokenizer-model-type": "pretraining.build_tokenizer -> data/tokenizers/builtin.py make_tokenizer",
    "--warmup": "trainer.build_schedule warm-up",
    "--weight-decay": "TrainingConfig.optimizer() -> training/optim.py build_optimizer",
}

# Accepted for old command lines only; reported when given (checked in test_compat_flags_are_reported).
COMPAT = {
    ("transfer.py", "--log-interval"): "transfer reports once per run",
    ("finetune_classifier.py", "--eval-iters"): "finetuning validates on the whole validation set",
}

# Flags that are only ever aliases of another option string of the same action.
ALIASES = {"--num-workers": "--threads"}


def options(script):
    """(option string, flag) of every spelling of every flag of the script."""
    return [(name, flag) for flag in script_flags(SCRIPT_CONFIGS[script]) for name in flag.option_strings]


@pytest.mark.parametrize("script", sorted(SCRIPT_CONFIGS))
def test_every_flag_is_accounted_for(script):
    missing = [name for name, _ in options(script)
               if name not in EFFECT_TESTS and name not in CONFIG_ONLY and (script, name) not in COMPAT
               and name not in ALIASES]
    assert not missing, (f"{script}: flags with neither a test that shows their effect (EFFECT_TESTS) nor a "
                         f"reason (CONFIG_ONLY / COMPAT): {missing}")


def test_compat_table_is_the_configs_compat_flags():
    defined = {(script, flag.names[0]) for script, script_config in SCRIPT_CONFIGS.items()
               for flag in script_flags(script_config) if flag.option.compat}
    assert defined == set(COMPAT)


def test_named_tests_exist_and_use_their_flag():
    for flag, ref in EFFECT_TESTS.items():
        file, function = ref.split("::")
        path = REPO / "tests" / file
        source = path.read_text(encoding="utf-8")
        names = {node.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef)}
        assert function in names, f"{flag}: {ref} does not exist"
        assert f'"{flag}"' in source or f"'{flag}'" in source, f"{flag}: {file} never gives it"


def changed_value(flag):
    """Argument strings that give `flag` a value other than its default."""
    kwargs = flag.argparse_kwargs()
    if kwargs.get("action") is argparse.BooleanOptionalAction:
        return [flag.option_strings[1] if flag.default else flag.option_strings[0]]
    if "action" in kwargs:
        return [flag.names[0]]
    if kwargs.get("choices"):
        value = next(str(c) for c in kwargs["choices"] if c != flag.default)
    elif kwargs.get("type") is int:
        value = str((flag.default or 0) + 2)
    elif kwargs.get("type") is float:
        value = str((flag.default or 0.0) + 0.5)
    else:
        value = "x.csv"
    return [flag.names[0], value]


REQUIRED = {"run_classifier.py": ["--load", "c.pt"], "generate.py": ["--load", "m.pt"],
            "threshold.py": ["--preds-file", "p.npy", "--labels-file", "l.npy"]}


@pytest.mark.parametrize("script", sorted(SCRIPT_CONFIGS))
def test_every_flag_reaches_the_config(script):
    """Giving any flag changes the typed config the library receives (compat flags: its log notes)."""
    base = REQUIRED.get(script, [])
    plain = config.parse(script, base)
    for flag in script_flags(SCRIPT_CONFIGS[script]):
        if flag.name == "version":
            continue
        argv = [*base, *changed_value(flag)]   # a required flag given twice: the last value wins
        assert config.parse(script, argv) != plain, f"{script} {argv[len(base):]} changes nothing in the config"


def test_every_config_field_is_read():
    """Each field of every section of every script's config is read by library code (outside the generator)."""
    sources = "\n".join(path.read_text(encoding="utf-8") for path in LIBRARY.rglob("*.py")
                        if path.name != "arguments.py")
    classes = {type(part) for script_config in SCRIPT_CONFIGS.values()
               for part in [script_config(), *(part for _, part in sections(script_config()))]}
    assert len(classes) >= 20
    unread = [f"{cls.__name__}.{f.name}" for cls in classes for f in fields(cls)
              if is_section_field(cls, f) and not re.search(rf"\.{f.name}\b|\"{f.name}\"", sources)]
    assert not unread, f"config fields no library code reads: {unread}"


def is_section_field(cls, field):
    """Fields that hold values (not the script configs' fields holding sections)."""
    return cls not in SCRIPT_CONFIGS.values() or "option" in field.metadata


@pytest.mark.parametrize("script, flag", sorted(COMPAT))
def test_compat_flags_are_reported(script, flag):
    notes = config.parse(script, [flag, "3"]).run.notes
    assert any(note.startswith(f"{flag} accepted for compatibility") for note in notes), notes


def test_architecture_flags_are_reported_when_the_checkpoint_disagrees():
    """transfer.py and finetuning with --load: every typed size that differs from the model is one line."""
    loaded = {"model": "mLSTM", "vocab_size": 257, "emsize": 8, "nhid": 16, "nlayers": 1, "dropout": 0.0,
              "weight_norm": True, "tied": False}
    for script in ("transfer.py", "finetune_classifier.py"):
        argv = ["--emsize", "9", "--nhid", "17", "--nlayers", "2", "--dropout", "0.5", "--tied", "--no-weight-norm"]
        lines = config.parse(script, argv).model.ignored_by(loaded, "lm.pt")
        assert [line.split()[0] for line in lines] == ["--dropout", "--emsize", "--nhid", "--nlayers",
                                                       "--no-weight-norm", "--tied"], lines
    hf = config.parse("transfer.py", ["--model", "hf", "--hf-model", "x", "--nhid", "3"]).model
    assert hf.ignored_by({"model": "hf"}, "x") == ["--nhid ignored: the hf encoder x brings its own architecture"]


def test_version_prints_the_version(capsys):
    from sentiment_discovery import __version__
    for script in SCRIPT_CONFIGS:
        with pytest.raises(SystemExit):
            config.parse(script, ["--version"])
        assert __version__ in capsys.readouterr().out
