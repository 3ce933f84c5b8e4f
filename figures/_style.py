"""Shared styling and saving: seaborn, a colour-blind-safe palette, one paper column wide."""
from __future__ import annotations

import io
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from lpft_theory.io import to_json, write_bytes_atomic, write_text_atomic  # noqa: E402

COLUMN = 3.4  # inches: one column of a two-column paper
PALETTE = sns.color_palette("colorblind")
#: One colour and marker per method, the same in every figure. Okabe–Ito hues (colour-blind safe); the two
#: blues are given to FT and LP, which never lie on top of each other, and each method also has its own marker.
METHOD_STYLE = {
    "FT": {"color": "#0072B2", "marker": "o"},        # blue
    "Proximal": {"color": "#009E73", "marker": "s"},  # bluish green
    "Soup": {"color": "#E69F00", "marker": "^"},      # orange
    "Sparse": {"color": "#CC79A7", "marker": "D"},    # reddish purple
    "LSS": {"color": "#5C5C5C", "marker": "v"},       # dark grey
    "LP-FT": {"color": "#D55E00", "marker": "P"},     # vermillion
    "LP": {"color": "#56B4E9", "marker": "h"},        # sky blue
    "global model": {"color": "#000000", "marker": "*"},
}
#: The parts of a global-change attribution (exact hybrid models), the same in every figure.
PART_COLORS = {"head": "#E69F00", "feature": "#0072B2", "interaction": "#009E73", "total": "#000000"}


def method_style(name: str) -> dict:
    """Colour and marker of ``name``: a method of :data:`METHOD_STYLE`, or a variant of one written as the
    method followed by its setting (``"FT eta=0.05"``, ``"LP-FT (eta/10)"``, ``"Proximal mu=1"``)."""
    key = name.split(" (")[0].split(" ")[0] if name not in METHOD_STYLE else name
    if key not in METHOD_STYLE:
        raise ValueError(f"method must be one of {list(METHOD_STYLE)} (or one followed by a setting), got {name!r}")
    return dict(METHOD_STYLE[key])
#: Fixed file metadata: no creation date, no matplotlib version, so a rerun gives byte-identical files.
METADATA = {"png": {"Software": "lpft-theory"},
            "pdf": {"Creator": "lpft-theory", "Producer": "lpft-theory", "CreationDate": None},
            "svg": {"Creator": "lpft-theory", "Date": None}}


def setup():
    # No ``savefig.bbox: "tight"``: it costs an extra pass over every artist per saved file to find the box.
    # Constrained layout keeps everything inside the canvas instead: legends outside the axes are (sub)figure
    # legends with ``loc="outside ..."``, and the suptitle wraps to the figure's width (``suptitle``).
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=0.9,
                  rc={"figure.dpi": 100, "savefig.dpi": 200, "axes.titlesize": 8, "legend.fontsize": 6.5,
                      "legend.title_fontsize": 7,
                      "svg.hashsalt": "lpft-theory"})  # fixed SVG element ids (else random per run)


def figure(ncols: int = 1, height: float = 2.4, width: float | None = None):
    setup()
    fig, axes = plt.subplots(1, ncols, figsize=(width or COLUMN * (1 if ncols == 1 else 1.9), height),
                             squeeze=False, constrained_layout=True)
    return fig, axes[0]


def _words(text: str) -> list:
    """``text`` split at the spaces outside ``$...$``: a line break never cuts a formula."""
    words, cur, math = [], "", False
    for i, ch in enumerate(text):
        if ch == "$" and (i == 0 or text[i - 1] != "\\"):
            math = not math
        if ch == " " and not math:
            words.append(cur)
            cur = ""
        else:
            cur += ch
    return words + [cur]


def suptitle(fig, text: str, fontsize: float = 8, pad: float = 0.04):
    """Add ``text`` as the suptitle, wrapped into balanced lines when wider than the figure less ``pad`` inches a side.

    A wrapped title makes the figure taller by its extra lines, so the panels keep their size. The layout engine
    then reserves the title's height: nothing is cut at the edges of the canvas, without a tight bounding box.
    """
    t = fig.suptitle(text, fontsize=fontsize)
    renderer = fig.canvas.get_renderer()
    avail = fig.bbox.width - 2 * pad * fig.dpi
    total = t.get_window_extent(renderer).width
    words = _words(text)
    if total <= avail or len(words) < 2:
        return t

    def width(s):
        t.set_text(s)
        return t.get_window_extent(renderer).width

    prefix = [width(" ".join(words[:i])) for i in range(1, len(words))]  # width up to each possible break
    lines = words  # one word a line, if no balanced split fits (a word wider than the figure)
    for k in range(int(total // avail) + 1, len(words) + 1):
        cuts = sorted({min(range(len(prefix)), key=lambda i: abs(prefix[i] - j * total / k)) + 1 for j in range(1, k)})
        lines = [" ".join(words[a:b]) for a, b in zip([0] + cuts, cuts + [len(words)])]
        if all(width(line) <= avail for line in lines):
            break
    one = t.get_window_extent(renderer).height  # the last line measured: one line's height
    t.set_text("\n".join(lines))
    w, h = fig.get_size_inches()
    fig.set_size_inches(w, h + (t.get_window_extent(renderer).height - one) / fig.dpi)
    return t


def save(fig, out_dir, name: str, data: dict, config: dict, formats=("png",), overwrite: bool = True) -> list:
    """Write ``name.<fmt>`` for each format, ``name.json`` (the plotted numbers) and ``name.config.json``."""
    paths = []
    for fmt in formats:
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, metadata=METADATA[fmt])
        paths.append(write_bytes_atomic(f"{out_dir}/{name}.{fmt}", buf.getvalue(), overwrite))
    plt.close(fig)
    paths.append(write_text_atomic(f"{out_dir}/{name}.json", to_json(data), overwrite))
    paths.append(write_text_atomic(f"{out_dir}/{name}.config.json", json.dumps(config, indent=2, sort_keys=True,
                                                                                 default=str) + "\n", overwrite))
    return paths
