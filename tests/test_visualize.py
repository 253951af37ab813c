"""Plots and the neuron heatmap write real PNG/HTML files of the expected size and content."""
import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from sentiment_discovery.errors import UserError
from sentiment_discovery.training.metrics_log import read_metrics
from sentiment_discovery.visualize import heatmap as H
from sentiment_discovery.visualize import plots as P


def png_size(path):
    with Image.open(path) as image:
        assert image.format == "PNG"
        return image.size


def test_neuron_histogram_and_weights_plot(tmp_path):
    rng = np.random.default_rng(0)
    features = rng.normal(0, 1, (200, 8))
    labels = (features[:, 3] > 0).astype(int)
    png_size(P.neuron_histogram(features[:, 3], labels, 3, str(tmp_path / "hist.png")))
    weights = np.zeros(64)
    weights[[5, 40]] = [2.0, -3.0]
    png_size(P.weights_plot(weights, str(tmp_path / "sub" / "weights.png"), top=2))
    png_size(P.weights_plot(rng.normal(0, 1, (3, 64)), str(tmp_path / "multi.png"), top=1))
    with pytest.raises(UserError, match="labels"):
        P.neuron_histogram(features[:, 3], labels[:10], 3, str(tmp_path / "bad.png"))


@pytest.mark.slow
def test_loss_and_metric_curves_from_jsonl(tmp_path):
    rows = [{"step": s, "loss": 3.0 / (s + 1), "lr": 1e-3, "loss_scale": 1024.0} for s in range(0, 100, 10)]
    rows += [{"step": 50, "epoch": 1, "val_loss": 0.2}, {"step": 100, "epoch": 2, "val_loss": 0.15}]
    jsonl = tmp_path / "run.metrics.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert P.loss_keys(rows) == ["loss", "val_loss"]
    png_size(P.loss_curve(read_metrics(jsonl), str(tmp_path / "loss.png")))
    png_size(P.metric_curves(rows, str(tmp_path / "metrics.png")))
    with pytest.raises(UserError, match="numeric keys present"):
        P.metric_curves(rows, str(tmp_path / "x.png"), keys=["accuracy"])
    with pytest.raises(UserError, match="no loss"):
        P.loss_curve([{"step": 1, "lr": 0.1}], str(tmp_path / "y.png"))


@pytest.fixture
def figures(monkeypatch):
    """The figures the plot functions draw, kept open to look at (they close each one after saving)."""
    kept = []
    monkeypatch.setattr(P.plt, "close", kept.append)
    yield kept
    monkeypatch.undo()
    for fig in kept:
        plt.close(fig)


def legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_neuron_histogram_names_its_split_clips_outliers_and_shows_the_overlap(tmp_path, figures):
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(500, int), np.ones(500, int)]
    values = np.where(labels == 1, rng.uniform(0.8, 1.3, 1000), rng.uniform(0.4, 0.9, 1000))
    values[7] = 3.3  # one outlier that would squeeze the plot to a tenth of its width
    P.neuron_histogram(values, labels, 12, str(tmp_path / "hist.png"), split="training")
    ax = figures[0].axes[0]
    title = ax.get_title()
    assert "Neuron 12 on the training split (1000 texts), by true label" in title
    low, high = ax.get_xlim()
    assert 0.4 <= low < 0.45 and 1.25 < high <= 1.3  # the 0.5-99.5 percentiles, not 3.3
    assert "0.5-99.5 percentiles: 5 values below" in title and "and 5 above" in title
    assert legend_texts(ax) == ["negative (n=500)", "positive (n=500)", "both (bars overlap)"]
    assert ax.get_legend().get_title().get_text() == "true label"
    overlap = ax.get_legend().legend_handles[2].get_facecolor()[:3]
    assert overlap == pytest.approx(P.overlap_color(P.NEGATIVE_COLOR, P.POSITIVE_COLOR, P.HIST_ALPHA))


def test_loss_curve_reads_in_bits_and_tells_single_evaluations_apart(tmp_path, figures):
    rows = [{"step": s, "loss": 5.5 - s / 100} for s in (10, 20, 30, 40)]
    rows += [{"step": 40, "epoch": 1, "val_loss": 5.3769}, {"step": 40, "test_loss": 5.3751}]
    P.loss_curve(rows, str(tmp_path / "loss.png"), unit="bits/char")
    ax = figures[0].axes[0]
    assert ax.get_ylabel() == "loss (nats/token)"
    bits = ax.child_axes[0]  # the secondary y axis
    assert bits.get_ylabel() == "loss (bits/char)"
    assert bits.get_ylim() == pytest.approx(np.asarray(ax.get_ylim()) / np.log(2))
    assert legend_texts(ax) == ["training loss", "validation loss: 5.377 at step 40", "test loss: 5.375 at step 40"]
    _, val, test = ax.lines
    assert val.get_marker() != test.get_marker() and val.get_markersize() > test.get_markersize()
    assert val.get_linestyle() == test.get_linestyle() == "None"


def test_finetune_curves_draw_step_rows_and_visible_evaluations(tmp_path, figures):
    """The metrics log of a one-epoch finetuning run: training rows every 10 steps, one epoch row."""
    from sentiment_discovery.finetune.reports import draw_plots
    epoch = {"epoch": 1, "step": 300, "lr": 0.0, "train_loss": 0.52, "val_loss": 0.47, "val_accuracy": 0.78,
             "val_f1": 0.8, "thresholds": [0.5]}
    step_rows = [{"step": s, "train_loss": 1.0 - s / 600, "lr": 1e-3} for s in range(10, 301, 10)]
    metrics = tmp_path / "clf.metrics.jsonl"
    metrics.write_text("".join(json.dumps(row) + "\n" for row in step_rows + [epoch]))
    paths = {"metrics": str(metrics), "curves": str(tmp_path / "clf_curves.png")}
    assert draw_plots(paths, [epoch], "f1", "binary") == [paths["curves"]]
    loss, accuracy, f1 = figures[0].axes[:3]
    assert [ax.get_title() for ax in (loss, accuracy, f1)] == ["loss", "validation accuracy", "validation f1"]
    assert legend_texts(loss) == ["training loss (logged steps)", "training loss (epoch mean): 0.52 at step 300",
                                  "validation loss: 0.47 at step 300"]
    per_step = loss.lines[0]
    assert list(per_step.get_xdata()) == list(range(10, 301, 10)) and per_step.get_marker() in (None, "None")
    assert legend_texts(accuracy) == ["validation accuracy: 0.78 at step 300"]
    for ax in (loss, accuracy, f1):
        low, high = ax.get_xlim()
        assert low <= 0 and 300 < high < 330  # from the start of training to just past the evaluation
        assert all(line.get_marker() not in (None, "None", "") for line in ax.lines if len(line.get_xdata()) == 1)
    without_steps = {"metrics": str(tmp_path / "none.jsonl"), "curves": str(tmp_path / "c2.png")}
    draw_plots(without_steps, [epoch], "f1", "binary")  # no metrics log (yet): the epoch rows alone
    assert legend_texts(figures[1].axes[0]) == ["training loss (epoch mean): 0.52 at step 300",
                                                 "validation loss: 0.47 at step 300"]


def test_confusion_matrix_plot(tmp_path):
    cm = np.array([[50, 3, 2], [4, 30, 6], [1, 5, 60]])
    png_size(P.confusion_matrix_plot(cm, ["neg", "neu", "pos"], str(tmp_path / "cm.png")))
    with pytest.raises(UserError, match="label names"):
        P.confusion_matrix_plot(cm, ["a", "b"], str(tmp_path / "cm2.png"))


def test_heatmap_rows_wrap_at_width_and_newlines():
    text = "a" * 25 + "\n" + "b" * 5
    rows = H.layout_rows(text, np.zeros(len(text)), chars_per_row=10)
    assert [len(r) for r in rows] == [10, 10, 6, 5]
    assert rows[2][-1][0] == "\\n"


def test_heatmap_png_size_grows_with_rows(tmp_path):
    short = "good movie"
    long_text = "a terrible start but a wonderful ending\n" * 4
    rows_short = H.text_heatmap_png(short, np.linspace(-1, 1, len(short)), str(tmp_path / "s.png"),
                                    chars_per_row=20)
    rows_long = H.text_heatmap_png(long_text, np.linspace(-2, 2, len(long_text)), str(tmp_path / "l.png"),
                                   chars_per_row=20, title="neuron 2388")
    assert rows_short == 1 and rows_long == 8
    (width_s, height_s), (width_l, height_l) = png_size(tmp_path / "s.png"), png_size(tmp_path / "l.png")
    assert width_s == width_l  # fixed characters per row
    margin_px = 0.2 * H.DPI
    row_px = H.CELL_HEIGHT_IN * H.DPI
    width_in = 20 * H.CELL_WIDTH_IN + 0.2
    band_rows = [H.scale_band_rows(len(H.wrapped_caption(H.scale_caption(v), width_in)))
                 for v in (np.linspace(-1, 1, len(short)), np.linspace(-2, 2, len(long_text)))]
    assert band_rows[0] > H.SCALE_BAND_ROWS  # a narrow figure wraps the colour bar's caption
    assert height_s == pytest.approx(margin_px + (1 + band_rows[0]) * row_px, abs=2)
    assert height_l == pytest.approx(margin_px + (8 + 1.6 + band_rows[1]) * row_px, abs=2)  # + title band


def test_heatmap_png_has_a_labelled_colour_bar(tmp_path, monkeypatch):
    figures = []
    monkeypatch.setattr(H.plt, "close", figures.append)  # keep the figure to look at it
    H.text_heatmap_png("bad then good", np.linspace(-1.5, 0.8, 13), str(tmp_path / "c.png"), title="neuron 7")
    fig = figures[0]
    assert len(fig.axes) == 2  # the character grid and the colour bar
    bar = fig.axes[1]
    label = bar.get_xlabel()
    assert "green = positive" in label and "red = negative" in label and "-1.50 to 0.80" in label
    assert [t.get_text() for t in bar.get_xticklabels()] == ["-1", "0", "+1"]
    assert bar.get_xlim() == pytest.approx((-1.0, 1.0))
    H.plt.close(fig)


def test_heatmap_html_legend_and_hover_values(tmp_path):
    page = H.text_heatmap_html("ab\n", [0.25, -3.0, 1.0], str(tmp_path / "v.html"))
    assert '<div class="legend"' in page and "linear-gradient(to right, #a50026" in page
    assert "-1 (negative)" in page and ">0<" in page and "+1 (positive)" in page
    assert "green = positive" in page and "this text -3.00 to 1.00" in page
    assert 'title="0.2500"' in page and 'title="-3.0000"' in page and 'title="1.0000"' in page
    assert page.count("<span") == 3  # the legend adds no spans: one per character


def test_heatmap_colours_and_html_escaping(tmp_path):
    red, yellow, green = H.cell_colors([-5.0, 0.0, 1.0])  # -5 is clipped to -1
    assert red[0] > red[1] and green[1] > green[0] and yellow[0] > 0.9 and yellow[1] > 0.9
    page = H.text_heatmap_html('<a href="x">&\n', [0.0] * 14, str(tmp_path / "h.html"), title="t<1>")
    assert "&lt;a href=&quot;x&quot;&gt;" not in page  # one span per character
    assert page.count("<span") == 14 and "&lt;" in page and "&amp;" in page and "&quot;" in page
    assert "\\n</span><br>" in page and "t&lt;1&gt;" in page
    assert (tmp_path / "h.html").read_text(encoding="utf-8") == page
    with pytest.raises(UserError, match="one value per character"):
        H.text_heatmap_png("abc", [0.1, 0.2], str(tmp_path / "bad.png"))
