"""The sentiment-neuron heatmap: text drawn character by character, each character's background
coloured by a neuron's value after reading it (red = negative, yellow = neutral, green = positive), as in
Radford et al., "Learning to Generate Reviews and Discovering Sentiment" (arXiv 1704.01444), Fig. 3, and
the original repository's visualisation tool.

Values are clipped to [-1, 1] for colouring. Rows hold a fixed number of characters; a newline is drawn
as a `\\n` glyph in its own cell and then starts a new row (a tab as `\\t`). Written as PNG (monospace
grid) or as HTML (one span per character, escaped). Both explain themselves: the PNG has a colour bar
under the grid (ticks -1, 0, +1, labelled with which colour is positive and the text's own value
range), the HTML a legend strip (-1 / 0 / +1) with the same words, and each character's span shows its
value on hover (title attribute, the value before clipping).
"""
from __future__ import annotations

import html
import textwrap
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

from ..atomic import atomic_open, atomic_path
from ..errors import UserError

COLORMAP = "RdYlGn"
CELL_WIDTH_IN, CELL_HEIGHT_IN = 0.14, 0.26
FONT_SIZE = 10
DPI = 150
GLYPHS = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
SCALE_BAND_ROWS = 2.2   # height of the PNG's colour-bar band under the grid (one caption line), in cell rows
CAPTION_LINE_ROWS = 0.5  # each further caption line (narrow figures wrap it), in cell rows
CAPTION_CHARS_PER_IN = 17  # caption characters per inch of figure width at SCALE_FONT_SIZE
SCALE_FONT_SIZE = 7
BAR_HEIGHT_IN = 0.11
DEFAULT_QUANTITY = "neuron value"


def scale_caption(raw_values, quantity: str = DEFAULT_QUANTITY) -> str:
    """What the colours mean, with the text's own value range, e.g. 'neuron value: green = positive,
    red = negative (colours clipped to [-1, 1]; this text -0.42 to 0.87)'."""
    raw_values = np.asarray(raw_values, dtype=np.float64)
    lo, hi = (float(raw_values.min()), float(raw_values.max())) if raw_values.size else (0.0, 0.0)
    return (f"{quantity}: green = positive, yellow = 0, red = negative "
            f"(colours clipped to [-1, 1]; this text {lo:.2f} to {hi:.2f})")


def checked_values(text: str, values) -> np.ndarray:
    """One finite value per character (as given: the colour map clips them to [-1, 1])."""
    if not isinstance(text, str):
        raise UserError(f"heatmap text must be a string, got {type(text).__name__}")
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.shape[0] != len(text):
        raise UserError(f"heatmap needs one value per character: {len(text)} characters but "
                        f"{values.shape[0]} values")
    if not np.isfinite(values).all():
        raise UserError("heatmap values contain NaN or infinity")
    return values


def layout_rows(text: str, values: np.ndarray, chars_per_row: int) -> list[list[tuple[str, float]]]:
    """Rows of (shown glyph, value) cells: at most chars_per_row cells, a newline ends its row."""
    if chars_per_row < 1:
        raise UserError(f"chars_per_row must be at least 1, got {chars_per_row}")
    rows, row = [], []
    for char, value in zip(text, values):
        if len(row) == chars_per_row:
            rows.append(row)
            row = []
        row.append((GLYPHS.get(char, char), float(value)))
        if char == "\n":
            rows.append(row)
            row = []
    if row:
        rows.append(row)
    return rows


def cell_colors(values) -> np.ndarray:
    """RGBA colours (…, 4) on the red-yellow-green map, values beyond [-1, 1] in the end colours."""
    return plt.get_cmap(COLORMAP)(mcolors.Normalize(-1.0, 1.0)(np.asarray(values)))


def ink_for(rgba) -> str:
    """Black text on light cells, white on dark ones."""
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def wrapped_caption(caption: str, width_in: float) -> list[str]:
    """The caption's lines at the figure's width."""
    return textwrap.wrap(caption, width=max(20, int(width_in * CAPTION_CHARS_PER_IN)))


def scale_band_rows(n_caption_lines: int) -> float:
    """Height of the colour-bar band, in cell rows, for a caption of that many lines."""
    return SCALE_BAND_ROWS + CAPTION_LINE_ROWS * (max(n_caption_lines, 1) - 1)


def add_colour_bar(fig, band_in: float, height_in: float, caption: str):
    """A horizontal colour bar (-1 .. +1 on the heatmap's map) in the bottom `band_in` inches of the figure."""
    bar_bottom = (band_in - BAR_HEIGHT_IN - 0.06) / height_in
    bar_ax = fig.add_axes((0.12, bar_bottom, 0.76, BAR_HEIGHT_IN / height_in))
    mappable = plt.cm.ScalarMappable(norm=mcolors.Normalize(-1.0, 1.0), cmap=plt.get_cmap(COLORMAP))
    bar = fig.colorbar(mappable, cax=bar_ax, orientation="horizontal", ticks=[-1.0, 0.0, 1.0])
    bar.ax.set_xticklabels(["-1", "0", "+1"])
    bar.ax.tick_params(labelsize=SCALE_FONT_SIZE, length=2, pad=1)
    bar.set_label(caption, fontsize=SCALE_FONT_SIZE, labelpad=2)
    return bar


def text_heatmap_png(text: str, values, path: str, chars_per_row: int = 60, title: str | None = None,
                     quantity: str = DEFAULT_QUANTITY) -> int:
    """Draw the coloured character grid, and a colour bar under it, to a PNG; returns the number of
    character rows drawn. `quantity` names what the values are in the colour bar's label."""
    raw = checked_values(text, values)
    rows = layout_rows(text, raw, chars_per_row)
    title_rows = 1.6 if title else 0.0  # height of the title band, in cell rows
    height_rows = max(len(rows), 1) + title_rows
    margin_in = 0.1
    grid_in = height_rows * CELL_HEIGHT_IN + 2 * margin_in
    width_in = chars_per_row * CELL_WIDTH_IN + 2 * margin_in
    caption = wrapped_caption(scale_caption(raw, quantity), width_in)
    band_in = scale_band_rows(len(caption)) * CELL_HEIGHT_IN
    fig = plt.figure(figsize=(width_in, grid_in + band_in))
    ax = fig.add_axes((0.0, band_in / (grid_in + band_in), 1.0, grid_in / (grid_in + band_in)))
    margin_x, margin_y = margin_in / CELL_WIDTH_IN, margin_in / CELL_HEIGHT_IN  # margins in cell units
    ax.set_xlim(-margin_x, chars_per_row + margin_x)
    ax.set_ylim(height_rows + margin_y, -margin_y)  # row 0 at the top
    ax.axis("off")
    if title:
        ax.text(0.0, title_rows / 2, title, ha="left", va="center", fontsize=FONT_SIZE + 2, weight="bold")
    for row_number, row in enumerate(rows):
        top = title_rows + row_number
        for column, ((glyph, _), colour) in enumerate(zip(row, cell_colors([v for _, v in row]))):
            ax.add_patch(plt.Rectangle((column, top), 1.0, 1.0, facecolor=colour, edgecolor="none"))
            size = FONT_SIZE * (0.65 if len(glyph) > 1 else 1.0)
            ax.text(column + 0.5, top + 0.5, glyph, ha="center", va="center", family="monospace",
                    fontsize=size, color=ink_for(colour))
    add_colour_bar(fig, band_in, grid_in + band_in, "\n".join(caption))
    with warnings.catch_warnings(), atomic_path(path) as temp:
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig.savefig(temp, dpi=DPI, format="png")
    plt.close(fig)
    return len(rows)


def hex_color(rgba) -> str:
    return mcolors.to_hex(rgba[:3])


def html_legend(raw_values, quantity: str = DEFAULT_QUANTITY) -> str:
    """The legend strip: the colour map from -1 through 0 to +1 (a CSS gradient), its three labels, and
    the caption saying which colour is positive and the text's value range. No <span>s: those are the
    characters."""
    stops = ", ".join(hex_color(c) for c in cell_colors(np.linspace(-1.0, 1.0, 11)))
    ends = '<div style="display:flex;justify-content:space-between;width:18em;font-size:80%">'
    labels = "".join(f"<div>{label}</div>" for label in ("-1 (negative)", "0", "+1 (positive)"))
    return ('<div class="legend" style="margin:0.5em 0;font-family:sans-serif">'
            f'<div style="width:18em;height:0.9em;background:linear-gradient(to right, {stops})"></div>'
            f"{ends}{labels}</div>"
            f'<div style="font-size:80%">{html.escape(scale_caption(raw_values, quantity))}; '
            "hover over a character to see its value</div></div>\n")


def text_heatmap_html(text: str, values, path: str, title: str | None = None,
                      quantity: str = DEFAULT_QUANTITY) -> str:
    """Write the heatmap as an HTML page (one escaped span per character, its value in the title
    attribute, and a legend strip above the text); returns the HTML."""
    raw = checked_values(text, values)
    spans = []
    for char, value, colour in zip(text, raw, cell_colors(raw)):
        shown = html.escape(GLYPHS.get(char, char), quote=True)
        spans.append(f'<span title="{value:.4f}" style="background-color:{hex_color(colour)};'
                     f'color:{ink_for(colour)}">{shown}</span>')
        if char == "\n":
            spans.append("<br>")
    heading = f"<h3>{html.escape(title)}</h3>\n" if title else ""
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title or 'neuron heatmap')}</title></head>\n<body>\n{heading}{html_legend(raw, quantity)}"
            '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.5">'
            f"{''.join(spans)}</div>\n</body></html>\n")
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return page
