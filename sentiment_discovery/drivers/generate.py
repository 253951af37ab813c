"""The run behind generate.py: load a model, then sample text (optionally steered by a neuron) and draw
neuron heatmaps, or draw one heatmap per row of a data file.

Outputs beside --save (default generated.txt):
- the samples themselves (--save; also printed);
- with --visualize: `<stem>_heatmap.png` and `.html` (`<stem>_heatmap_<i>.*` for several samples) and
  `<stem>_heatmap.json` (the neuron, and each sample's text with one value per character);
- with --data: `<stem>_heatmaps/row_<i>.png` / `.html` for the first --max-rows rows, and
  `<stem>_heatmaps/neuron_values.json`;
- with --tensorboard DIR: the samples as text (`sample/<i>`) and every heatmap PNG as an image
  (`heatmap/sample_<i>`, `heatmap/row_<i>`), all at step 0.
Shown values are the neuron's raw value × polarity (the drawing clips them to [-1, 1]); with --overwrite V
they are the values the model computed before the neuron was set to V (title and colour bar say so).

Text: the --text prompt is fed as given (as the original's generate did); --data rows go through the
model's process function (what its checkpoint records), as transfer and run_classifier read them. An
explicit --process-fn applies to both.
"""
import json
import logging
import os

import torch
from tqdm import tqdm

from ..atomic import atomic_open
from ..data.preprocess import get_process_fn, resolve_process_fn
from ..data.formats.readers import read_dataset
from ..errors import UserError
from ..models.kinds import max_positions, model_kind
from ..models.loading import load_language_model
from ..output_paths import check_output_folder, check_outputs, reported_write
from ..runtime import choose_device, set_threads
from ..checkpoint import check_checkpoint, is_checkpoint_payload, read_torch_file
from ..training.tensorboard_log import check_tensorboard, open_tensorboard
from ..generation.alignment import token_text
from ..generation.decoding import Steering, generate
from ..generation.neuron import resolve_neuron
from ..generation.sampling import SamplingOptions

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------
# inputs


def classifier_neurons(path):
    """(neurons {"indices", "signs"} or None, feature options) stored in a classifier checkpoint at `path`."""
    if os.path.isdir(path):
        return None, {}
    contents = read_torch_file(path)
    if not is_checkpoint_payload(contents) or contents.get("kind") != "classifier":
        return None, {}
    payload = check_checkpoint(contents, path)
    neurons = payload["neurons"]
    if neurons is not None and not (isinstance(neurons, dict) and isinstance(neurons.get("indices"), list)):
        raise UserError(f"{path}: the stored 'neurons' entry is not {{'indices': [...], 'signs': [...]}}")
    return neurons, dict(payload["classifier_config"]["features"])


def start_ids(tokenizer):
    """Token(s) an empty prompt starts from: a newline for characters, the BOS piece for sentencepiece."""
    if tokenizer.kind == "char":
        return tokenizer.encode("\n")
    bos = tokenizer.processor.bos_id()
    if bos < 0:
        raise UserError("--text is empty and the sentencepiece model has no BOS piece to start from; "
                        "give a prompt with --text")
    return [bos + 1]


def prompt_ids(tokenizer, text):
    """(prompt token ids, how many leading ids are an implicit start token not shown in the output)."""
    ids = tokenizer.encode(text)
    if ids:
        return ids, 0
    start = start_ids(tokenizer)
    return start, len(start)


def sampling_options(options):
    return SamplingOptions(temperature=options.temperature, top_k=options.top_k, top_p=options.top_p)


def steering_options(options):
    if options.overwrite_prefix and options.overwrite is None:
        raise UserError("--overwrite-prefix needs --overwrite V")
    return Steering(options.overwrite, options.overwrite_prefix)


def neuron_for(options, model, needed):
    """The NeuronSpec of the flags (and the checkpoint's classifier), or None when nothing needs one."""
    if not needed:
        return None
    neurons, feature_options = (None, {}) if options.neuron is not None else classifier_neurons(options.load)
    return resolve_neuron(model.config, neuron=options.neuron, layer=options.layer, get_hidden=options.get_hidden,
                          negate=options.negate, checkpoint_neurons=neurons, feature_options=feature_options)


# ---------------------------------------------------------------------------------------------
# outputs


def output_stem(save):
    return os.path.splitext(save)[0]


def describe(neuron, steering):
    """The heatmap's title: which unit, and when steering sets it."""
    state = {"c": "cell state c", "h": "hidden state h"}[neuron.state_key]
    words = f"neuron {neuron.index} (layer {neuron.layer}, {state})"
    if neuron.polarity < 0:
        words += ", negated"
    if steering.active:
        words += f", set to {steering.value:g} after every {'token' if steering.prefix else 'generated token'}"
    return words


def draw_heatmap(tokenizer, ids, raw_values, neuron, steering, stem):
    """PNG + HTML heatmap of one token sequence; returns its record (text, per-character values, character
    rows, files). With steering the colours are the values the model computed before the neuron was set."""
    from ..visualize.heatmap import DEFAULT_QUANTITY, text_heatmap_html, text_heatmap_png  # loaded only to draw
    text, values = token_text(tokenizer, ids, (raw_values * neuron.polarity).tolist())
    title = describe(neuron, steering)
    quantity = (f"neuron value as the model computed it, before being set to {steering.value:g}"
                if steering.active else DEFAULT_QUANTITY)
    with reported_write(stem + ".png", "--save"):
        rows = text_heatmap_png(text, values, stem + ".png", title=title, quantity=quantity)
        text_heatmap_html(text, values, stem + ".html", title=title, quantity=quantity)
    return {"text": text, "values": values, "rows": rows, "png": stem + ".png", "html": stem + ".html"}


def write_json(path, data):
    with reported_write(path, "--save"), atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, ensure_ascii=False, indent=1)


def write_samples(path, texts):
    """The samples to `path` (separated by headers when there are several); returns what was written."""
    if len(texts) == 1:
        body = texts[0] + "\n"
    else:
        body = "".join(f"----- sample {i + 1} -----\n{text}\n" for i, text in enumerate(texts))
    with reported_write(path, "--save"), atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(body)
    return body


# ---------------------------------------------------------------------------------------------
# the two modes


def run_sampling(options, model, tokenizer, device, seed):
    """Sample --num-samples texts; write them (and heatmaps with --visualize). Returns a summary dict."""
    needed = options.visualize or options.overwrite is not None or options.overwrite_prefix
    neuron = neuron_for(options, model, needed)
    steering = steering_options(options) if neuron is not None else Steering()
    prompt = options.text if options.process_fn is None else (get_process_fn(options.process_fn) or str)(options.text)
    ids, hidden = prompt_ids(tokenizer, prompt)
    generator = torch.Generator(device=device).manual_seed(seed)
    result = generate(model, ids, options.gen_length, sampling_options(options), generator, options.num_samples,
                      neuron, steering, record=options.visualize, progress=True)
    shown = result.tokens[:, hidden:].cpu()  # (B, P - hidden + G)
    texts = [tokenizer.decode(row.tolist()) for row in shown]
    print(write_samples(options.save, texts), end="")
    summary = {"samples": texts, "save": options.save}
    if options.visualize:
        summary["heatmaps"] = draw_sample_heatmaps(tokenizer, shown, result.values[:, hidden:].cpu(), neuron,
                                                   steering, options.save)
    return summary


def draw_sample_heatmaps(tokenizer, shown, values, neuron, steering, save):
    stem = output_stem(save) + "_heatmap"
    records = []
    for index, (ids, row_values) in enumerate(zip(shown, values)):
        path_stem = stem if len(shown) == 1 else f"{stem}_{index + 1}"
        records.append(draw_heatmap(tokenizer, ids.tolist(), row_values, neuron, steering, path_stem))
    write_json(stem + ".json", {"neuron": neuron_record(neuron, steering), "samples": records})
    log.info("heatmaps written to %s", ", ".join(record["png"] for record in records))
    return records


def neuron_record(neuron, steering):
    return {"index": neuron.index, "layer": neuron.layer, "state": neuron.state_key,
            "polarity": neuron.polarity, "overwrite": steering.value, "overwrite_prefix": steering.prefix}


def run_row_heatmaps(options, model, tokenizer, process_fn):
    """One heatmap per row of --data (the first --max-rows rows). Returns a summary dict."""
    if options.max_rows < 1:
        raise UserError(f"--max-rows must be >= 1, got {options.max_rows}")
    neuron = neuron_for(options, model, True)
    steering = steering_options(options)
    if steering.active and not steering.prefix:
        raise UserError("with --data nothing is generated; --overwrite steers the rows only with --overwrite-prefix")
    for path in options.data:
        if not os.path.exists(path):
            raise UserError(f"--data file not found: {path}")
    dataset = read_dataset(options.data, text_key=options.text_key, loose_json=options.loose_json,
                           require_labels=False, process_fn=process_fn)
    folder = output_stem(options.save) + "_heatmaps"
    limit = max_positions(model) or float("inf")
    records = []
    for row in tqdm(range(min(options.max_rows, len(dataset.texts))), desc="heatmaps", unit="text"):
        ids = tokenizer.encode(dataset.texts[row])
        if not ids:
            log.warning("row %d is empty; no heatmap drawn", row)
            continue
        if len(ids) > limit:
            log.warning("row %d has %d tokens; the heatmap shows the first %d", row, len(ids), limit)
            ids = ids[:limit]
        result = generate(model, ids, 0, sampling_options(options), None, 1, neuron, steering, record=True)
        path_stem = os.path.join(folder, f"row_{row:04d}")
        drawn = draw_heatmap(tokenizer, ids, result.values[0].cpu(), neuron, steering, path_stem)
        records.append({"row": row, **drawn})
    write_json(os.path.join(folder, "neuron_values.json"), {"neuron": neuron_record(neuron, steering),
                                                            "rows": records})
    log.info("%d heatmaps written to %s", len(records), folder)
    return {"heatmaps": records, "folder": folder}


def mirror_to_tensorboard(directory, summary):
    """The samples (text) and heatmap PNGs (images) of a finished run's summary, into TensorBoard at `directory`."""
    board = open_tensorboard(directory)
    try:
        for index, text in enumerate(summary.get("samples", []), start=1):
            board.text(f"sample/{index}", text)
        for index, record in enumerate(summary.get("heatmaps", []), start=1):
            name = f"row_{record['row']:04d}" if "row" in record else f"sample_{index}"
            board.image(f"heatmap/{name}", record["png"], 0)
    finally:
        board.close()
    log.info("TensorBoard logs written to %s", directory)


def check_output_paths(save, load, data=None, visualize=False):
    """--save and the heatmap files beside it can be written and overwrite no input (--load, --data)."""
    inputs = [("--load", load), ("--data", data)]
    stem = output_stem(save)
    if data:  # one heatmap per row, in a folder named after --save (--save itself is not written)
        check_output_folder("--save", stem + "_heatmaps", inputs)
        return
    heatmaps = [stem + "_heatmap" + ext for ext in (".png", ".html", ".json")] if visualize else []
    check_outputs([("--save", save), *(("--save", path) for path in heatmaps)], inputs)


def run(config):
    """generate.py's work, as a `config.GenerateConfig` says; returns a summary dict."""
    options, run = config.generate, config.run
    check_tensorboard(options.tensorboard)
    check_output_paths(options.save, options.load, options.data, options.visualize)
    set_threads(run.threads)
    device = choose_device(run.device)
    torch.manual_seed(run.seed)
    model, tokenizer, info = load_language_model(options.load, map_location=device)
    if not model_kind(model).generates:
        raise UserError(f"{options.load} holds a pretrained hf encoder, not a language model: it cannot generate "
                        "text or show a neuron over it")
    log.info("loaded %s %s model from %s", info["source"], model.config["model"], options.load)
    if options.data:
        summary = run_row_heatmaps(options, model, tokenizer,
                                   resolve_process_fn(options.process_fn, info["process_fn"]))
    else:
        summary = run_sampling(options, model, tokenizer, device, run.seed)
    if options.tensorboard:
        mirror_to_tensorboard(options.tensorboard, summary)
    return summary
