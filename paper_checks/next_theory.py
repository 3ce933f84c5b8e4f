"""What a PFT user asks next — how much a client's fine-tuning costs the others, which block to personalise, whether
federated LoRA averages correctly, when transfer beats training from scratch — every claim written through the
plug-in interface (:mod:`paper_checks.plugin`), one topic file each:

* :mod:`paper_checks.claims_forgetting` — Evron et al. 2022; Goldfarb, Evron et al. 2024;
* :mod:`paper_checks.claims_surgical` — Lee et al. 2023 (surgical fine-tuning);
* :mod:`paper_checks.claims_fedlora` — federated LoRA averaging, FFA-LoRA (Sun et al. 2024), RoLoRA (Chen et al. 2025);
* :mod:`paper_checks.claims_transfer` — Tahir, Ganguli, Rotskoff 2025 ("Features are fate"), against Chen et al.
"""
from . import claims_fedlora, claims_forgetting, claims_surgical, claims_transfer

SRC = "Evron et al. 2022; Goldfarb et al. 2024; Lee et al. 2023; Sun et al. 2024; Chen et al. 2025; Tahir et al. 2025"
TITLE = ("Forgetting, which block to tune, federated LoRA, when transfer helps — Evron et al. 2022, Goldfarb et al. "
         "2024, Lee et al. 2023, FFA-LoRA 2024, RoLoRA 2025, Tahir et al. 2025")
CHECKS = claims_forgetting.CHECKS + claims_surgical.CHECKS + claims_fedlora.CHECKS + claims_transfer.CHECKS
