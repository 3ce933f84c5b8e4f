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
#: Fixed file metadata: no creation date, no matplotlib version, so a rerun gives byte-identical files.
METADATA = {"png": {"Software": "lpft-theory"},
            "pdf": {"Creator": "lpft-theory", "Producer": "lpft-theory", "CreationDate": None},
            "svg": {"Creator": "lpft-theory", "Date": None}}


def setup():
    sns.set_theme(context="paper", style="whitegrid", palette=PALETTE, font_scale=0.9,
                  rc={"figure.dpi": 100, "savefig.dpi": 200, "axes.titlesize": 8, "legend.fontsize": 6.5,
                      "legend.title_fontsize": 7, "savefig.bbox": "tight",
                      "svg.hashsalt": "lpft-theory"})  # fixed SVG element ids (else random per run)


def figure(ncols: int = 1, height: float = 2.4, width: float | None = None):
    setup()
    fig, axes = plt.subplots(1, ncols, figsize=(width or COLUMN * (1 if ncols == 1 else 1.9), height),
                             squeeze=False, constrained_layout=True)
    return fig, axes[0]


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
