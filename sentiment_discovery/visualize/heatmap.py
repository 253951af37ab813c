"""The sentiment-neuron heatmap: text drawn character by character, each character's background
coloured by a neuron's value after reading it (red = negative, yellow = neutral, green = positive), as in
Radford et al., "Learning to Generate Reviews and Discovering Sentiment" (arXiv 1704.01444), Fig. 3, and
the original repository's visualisation tool.

Values are clipped to [-1, 1]. Rows hold a fixed number of characters; a newline is drawn as a `\\n`
glyph in its own cell and then starts a new row (a tab as `\\t`). Written as PNG (monospace grid) or as
HTML (one span per character, escaped).
"""
from __future__ import annotations

import html
import os
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib import colors as mcolors

from ..errors import UserError

COLORMAP = "RdYlGn"
CELL_WIDTH_IN, CELL_HEIGHT_IN = 0.14, 0.26
FONT_SIZE = 10
DPI = 150
GLYPHS = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def checked_values(text: str, values) -> np.ndarray:
    """One finite value per character, clipped to [-1, 1]."""
    if not isinstance(text, str):
        raise UserError(f"heatmap text must be a string, got {type(text).__name__}")
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.shape[0] != len(text):
        raise UserError(f"heatmap needs one value per character: {len(text)} characters but "
                        f"{values.shape[0]} values")
    if not np.isfinite(values).all():
        raise UserError("heatmap values contain NaN or infinity")
    return np.clip(values, -1.0, 1.0)


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
    """RGBA colours (…, 4) for values in [-1, 1] on the red-yellow-green map."""
    return plt.get_cmap(COLORMAP)(mcolors.Normalize(-1.0, 1.0)(np.asarray(values)))


def ink_for(rgba) -> str:
    """Black text on light cells, white on dark ones."""
    red, green, blue = rgba[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def text_heatmap_png(text: str, values, path: str, chars_per_row: int = 60, title: str | None = None) -> int:
    """Draw the coloured character grid to a PNG; returns the number of character rows drawn."""
    values = checked_values(text, values)
    rows = layout_rows(text, values, chars_per_row)
    title_rows = 1.6 if title else 0.0  # height of the title band, in cell rows
    height_rows = max(len(rows), 1) + title_rows
    margin_in = 0.1
    fig = plt.figure(figsize=(chars_per_row * CELL_WIDTH_IN + 2 * margin_in,
                              height_rows * CELL_HEIGHT_IN + 2 * margin_in))
    ax = fig.add_axes((0.0, 0.0, 1.0, 1.0))
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
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return len(rows)


def hex_color(rgba) -> str:
    return mcolors.to_hex(rgba[:3])


def text_heatmap_html(text: str, values, path: str, title: str | None = None) -> str:
    """Write the heatmap as an HTML page (one escaped span per character); returns the HTML."""
    values = checked_values(text, values)
    spans = []
    for char, colour in zip(text, cell_colors(values)):
        shown = html.escape(GLYPHS.get(char, char), quote=True)
        spans.append(f'<span style="background-color:{hex_color(colour)};color:{ink_for(colour)}">{shown}</span>')
        if char == "\n":
            spans.append("<br>")
    heading = f"<h3>{html.escape(title)}</h3>\n" if title else ""
    page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>"
            f"{html.escape(title or 'neuron heatmap')}</title></head>\n<body>\n{heading}"
            '<div style="font-family:monospace;white-space:pre-wrap;line-height:1.5">'
            f"{''.join(spans)}</div>\n</body></html>\n")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(page)
    return page
