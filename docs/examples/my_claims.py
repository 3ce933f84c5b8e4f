"""A reviewer's own claims: `lpft check --claims docs/examples/my_claims.py` (see the README)."""
import math

from lpft_theory.adversary import Space
from paper_checks.plugin import compare, for_all

compare("my-lpft-vs-proximal", "LP-FT keeps a lower Global than Proximal at matched Local (concept shift)",
        better="LP-FT", than=("Proximal",), scenario="concept", delta=0.01)

for_all("my-cosine-bound", "|cos(a - b)| <= 1 for all angles a, b",
        space=Space(("a", "b"), (0.0, 0.0), (6.3, 6.3)), margin=lambda p: 1 - abs(math.cos(p["a"] - p["b"])),
        budget=100, tol=1e-12)
