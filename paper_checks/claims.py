"""Every claim, declared before it runs: what kind of statement it is, its primary protocol (fixed by one rule
per kind, :data:`PRIMARY_RULE`), the statistic that decides it, its margin of practical relevance δ and its
multiplicity family. The run (:func:`paper_checks.run_checks`) attaches the declaration to each verdict, makes
the check's headline the primary protocol's status, resolves a holding condition into the paper's or a derived
one, and refuses a condition that restates the conclusion (:func:`finalise`).

A user's own claim is the same value (``paper_checks.plugin``); ``lpft check --list`` prints
:func:`statements` without running anything.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .verdict import HOLDS_UNDER_CONDITION, Verdict

PRIMARY_RULE = {
    "method-comparison": ("matched local", "methods compared on an outcome that trades off against the client's own "
                          "fit (Global): read at equal Local, so a method cannot win by personalizing less"),
    "recipe-comparison": ("fixed recipe", "a comparison the paper makes under its own named recipe (a step count T, a "
                          "flood level b, a split depth, a λ): the paper's recipe, since the recipe is part of the claim"),
    "recipe-behaviour": ("fixed recipe", "what one method or pipeline does (overfitting, a correlation, a "
                         "mechanism): the paper's recipe on the plateau-trained global model"),
    "bound": ("exact instances + adversary", "a 'for all' inequality: exact (population / flow) instances drawn from "
              "the paper's assumptions, then an adversarial search over the same space"),
    "condition": ("exact instances + adversary", "a statement that holds under a condition: the condition's "
                  "prediction against the exact outcome on drawn and adversarial instances"),
    "identity": ("exact instances + adversary", "a closed form or identity: closed form vs simulation to a stated "
                 "tolerance on drawn and adversarial instances"),
    "frontier": ("exact instances + adversary", "an optimality statement: the frontier against every method in its "
                 "stated scope"),
    "table": ("the printed table", "a statement about the paper's own printed numbers"),
    "data": ("—", "a claim about data this package cannot ship"),
}
"""kind → (primary protocol, why). The only place a headline protocol is chosen."""

FOR_ALL = ("bound", "condition", "identity", "frontier")
"""Kinds that are universally quantified: confirmed only after the adversarial search failed to break them."""

FAMILY = "the claim's settings × rivals under its primary protocol (Holm, family-wise α = 0.025 per one-sided test)"


@dataclass(frozen=True)
class Declaration:
    """``condition_by``: for conditional claims, whose condition decides the holding status: ``"paper"`` (the
    paper states it), ``"derived"`` (this package derived it; the paper's statement is false without it) or
    ``"statement"`` (the claim *is* the package's own if-and-only-if statement: holding confirms it).
    ``conclusion``: the quantities the claim's conclusion is about; a condition that uses any of them restates
    the conclusion and is refused."""

    id: str
    kind: str
    statement: str
    statistic: str
    delta: float | None = None
    condition_by: str = ""
    scope: str = ""
    conclusion: tuple = ()

    def __post_init__(self):
        if self.kind not in PRIMARY_RULE:
            raise ValueError(f"{self.id}: kind must be one of {sorted(PRIMARY_RULE)}, got {self.kind!r}")
        if self.condition_by not in ("", "paper", "derived", "statement"):
            raise ValueError(f"{self.id}: condition_by must be '', 'paper', 'derived' or 'statement', "
                             f"got {self.condition_by!r}")
        if self.delta is not None and not self.delta > 0:
            raise ValueError(f"{self.id}: delta must be > 0 or None, got {self.delta!r}")
        if not self.statement.strip() or not self.statistic.strip():
            raise ValueError(f"{self.id}: a claim needs a statement and a statistic")

    @property
    def primary(self) -> str:
        return PRIMARY_RULE[self.kind][0]

    def to_dict(self) -> dict:
        return {**asdict(self), "primary_protocol": self.primary, "primary_rule": PRIMARY_RULE[self.kind][1],
                "family": FAMILY}


REAL_SCOPE = "digits: covariate, concept, label, overlap, longtail shifts x MLP, CNN (quick: concept, label x MLP)"
"""The instance space of every real-image Chen claim (``lpft_theory.empirical.experiment``)."""


def _d(claim_id, kind, statement, statistic, delta=None, condition_by="", **kw) -> Declaration:
    return Declaration(claim_id, kind, statement, statistic, delta, condition_by, **kw)


BUILT_IN = [
    _d('chen-lemma-4.3', 'identity',
       'Lemma 4.3: the j-th row of B_FT after one FT step on client i, in terms of b*_j and (V_0)_j',
       'max relative error of the derived row formula vs the GD engine, drawn instances and adversary', None,
       scope='concept shift (Assumption 4.1, Sigma_i = I), idealised start, any step size, both loss conventions'),
    _d('chen-thm-4.4', 'condition',
       'Theorem 4.4 (concept shift): LP-FT achieves lower global loss than FT',
       'signed (G_FT - G_LPFT)/lambda^2 from the GD engine against the side the condition predicts, per instance and '
       'reading; drawn instances, points within 1e-3 of every boundary, adversary', None, 'derived',
       conclusion=('G_FT - G_LPFT',),
       scope='Assumption 4.1 with overlap omega, Sigma_i = I, idealised start, exact LP then one FT step, '
             'a = eta*beta in (0, 3], both readings of global, both loss conventions'),
    _d('chen-thm-4.5', 'condition',
       "Theorem 4.5 (combined covariate-concept shift): there is lambda* such that for all lambda <= lambda* LP-FT's global loss is at most FT's",
       'signed q_0 = lim (G_FT - G_LPFT)/lambda^2 (plain GD arithmetic) against the side the derived step window '
       'predicts, per instance and reading; and lambda* from the exact quadratic against the engine; drawn, '
       'boundary and adversarial instances', None, 'derived',
       conclusion=('G_FT - G_LPFT', 'q_0', 'D(lambda)', 'lambda*'),
       scope='Assumption 4.1, x_i = e_i + eps z with any shifts e_i, idealised start, exact LP then one FT step, '
             "a' in (0, 3], both readings, both loss conventions"),
    _d('chen-thm-4.5-descent', 'condition',
       "Theorem 4.5 in the descent regime: restricted to steps that lower every client's own loss, there is lambda* such that for all lambda <= lambda* LP-FT's global loss is at most FT's",
       'as chen-thm-4.5, over the instances where every client descends (lambda -> 0); the share of random descent '
       'instances where it holds', None, 'derived',
       conclusion=('G_FT - G_LPFT', 'q_0', 'D(lambda)', 'lambda*'),
       scope="as chen-thm-4.5, restricted to steps that lower every client's own loss"),
    _d('chen-remark-4.6', 'condition',
       'Remark 4.6: LP-FT wins at low heterogeneity; the theory says nothing for lambda > lambda*',
       'as chen-thm-4.5 at low heterogeneity; beyond lambda*, the winner the exact quadratic predicts against the '
       'engine and plain GD arithmetic, adversary over lambda', None, 'derived',
       conclusion=('G_FT - G_LPFT', 'q_0', 'D(lambda)', 'lambda*'),
       scope='as chen-thm-4.5, every lambda > 0'),
    _d('chen-gap-quadratic', 'identity',
       "The package's answer to Remark 4.6: under Theorem 4.5's setting (G_FT - G_LPFT)/lambda^2 = q_0 + q_1 lambda + q_2 lambda^2 exactly, with q in the instance's primitive parameters and q_2 >= 0 (FT can win only on a bounded band of lambda when q_0 > 0)",
       'relative error of the closed form vs plain GD arithmetic at lambda over the roots range, and q_2, drawn '
       'instances and adversary', None, scope='as chen-thm-4.5, every lambda > 0'),
    _d('chen-frontier-gd', 'frontier',
       'G*(l) = lambda^2 (1 - omega^2) + (lambda (1 - omega) - sqrt(l))^2 is the exact local/global Pareto frontier of what client-side gradient methods reach (concept shift)',
       'least (G - G*(L))/lambda^2 over the engine brute force and the adversary over in-scope methods; one FT step '
       'with a <= 1 on it', None,
       scope='concept shift (Assumption 4.1, Sigma_i = I, overlap omega), exact population losses, idealised start; '
             "methods whose updates combine client i's population gradients: GD/FT, LP (exact, partial, head-only "
             'steps) then FT, heavy-ball and Nesterov momentum, any step sizes, decaying schedules and step counts. '
             'Not: Adam, non-isotropic preconditioners, finite samples (they go below it; see chen-frontier-any)'),
    _d('chen-frontier-any', 'frontier',
       'G_any(l) = lambda^2 (1 - |ubar|^2) + (lambda kappa - sqrt(l))^2 bounds the global loss of every predictor at local loss l, whatever method produced it (Adam, preconditioned or finite-sample GD included), and is attained',
       'least (G - G_any(L))/lambda^2 by the adversary over in- and out-of-scope methods; closed form vs the targets; '
       'the minimiser', None,
       scope='concept shift, Sigma_i = I, exact population losses of any predictor in R^d'),
    _d('chen-ft-step-frontier', 'identity',
       'One FT step with a <= 1 lies on the frontier G*; with a > 1 it lies 4 lambda^2 (a - 1)(1 - omega) above it',
       '|G_FT - G*(L_FT) - 4 lambda^2 (a-1)_+ (1-omega)|/lambda^2 from the engine, both readings, drawn, around '
       'a = 1 and 2, adversary', None,
       scope='concept shift, Assumption 4.1 with overlap, exact population losses, idealised start, a in (0, 3]'),
    _d('chen-thm-4.4-matched-local', 'method-comparison',
       'Theorem 4.4 at matched local loss: LP-FT reaches a lower global loss than one FT step at the same local loss',
       "LP-FT's advantage: one FT step's global loss minus LP-FT's least (over LP length, T in 1, 2, 5, eta) at "
       'equal local loss, over lambda^2, exact, per local-loss level; adversary over LP-FT runs', 1e-3,
       scope='concept shift, Assumption 4.1 with overlap, exact population losses, idealised start'),
    _d('chen-ft-descent-frontier-gap', 'bound',
       'After several (T >= 2) descent steps FT sits at most 0.3 % of the global loss above the frontier (at matched local loss)',
       "(G_FT,T(l) - G*(l))/G*(l) with FT's least global loss after T descent steps at local loss l, on the "
       'measured instance and by the adversary', None,
       scope='concept shift, Assumption 4.1 with overlap, exact population losses, idealised start, T in 2..20'),
    _d('chen-table2-average', 'table',
       "Table 2: 'Average' is the average of Local and Global",
       '|Average - (Local + Global)/2| per printed row', None),
    _d('chen-table2-lpft-global', 'table',
       'Table 2 (as printed): LP-FT has the best Global accuracy on every dataset',
       'rank of LP-FT on Global per printed dataset', None),
    _d('chen-fig2-overfitting', 'recipe-behaviour',
       'Sec. 3.3 / Fig. 2: as local steps grow, global performance falls while local performance rises or stays flat (FT at several learning rates, Sparse, Proximal)',
       'global fall and local rise vs the global model, paired over seeds', 0.01),
    _d('chen-fig3a-correlation', 'recipe-behaviour',
       'Sec. 3.5 / Fig. 3a: larger feature distortion goes with a larger drop in global performance',
       'Spearman rho (distortion, global drop), one per seed', 0.1),
    _d('chen-fig3a-lpft-distortion', 'recipe-comparison',
       'Fig. 3a, first part: LP-FT has lower feature distortion than FT (at every number of steps T)',
       'FT - LP-FT of ||B - B_G||_F per step count T, paired over seeds', 0.01),
    _d('chen-fig3a-lpft-global', 'recipe-comparison',
       "Fig. 3a, second part: LP-FT keeps global performance — its global loss rises less than FT's (at every number of steps T)",
       'FT - LP-FT global-loss rise per step count T, paired over seeds', 0.01),
    _d('chen-mechanism-feature-distortion', 'recipe-behaviour',
       "Sec. 3.5: federated feature distortion causes the drop in global performance (the feature part of each client's global-loss change, with its interaction with the head, outweighs the head part)",
       "feature part minus head part of each method's global-loss change, paired over seeds", 0.01),
    _d('chen-fig3b-flooding', 'recipe-comparison',
       'Fig. 3b: with loss flooding at b in {0.1, 0.5, 1.0} (equal local loss), LP-FT still has higher global accuracy than FT',
       'LP-FT - FT global accuracy per flood level b, paired over seeds', 0.01),
    _d('chen-table2-best-global', 'method-comparison',
       'Table 2: LP-FT has the best Global performance (synthetic analogue: the six variants; best = lower Global than every competitor, paired over seeds)',
       "LP-FT minus each rival's Global at matched Local, paired over seeds, per shift", 0.01),
    _d('chen-d3-heterogeneity', 'method-comparison',
       'App. D.3: LP-FT beats FT (lower global loss) at all heterogeneity levels',
       'FT - LP-FT Global at matched Local per heterogeneity level, paired over seeds', 0.01),
    _d('chen-real-overfitting', 'recipe-behaviour',
       'Fig. 2 on real images (digits, every shift, MLP and CNN): FT lowers global accuracy (other clients) while it raises local accuracy',
       'global-accuracy fall and local-accuracy rise of FT vs the global model, paired over seeds, per (shift, model); read only where the positive control (Mix - FT Global) is detected', 0.01,
       scope=REAL_SCOPE),
    _d('chen-real-best-global', 'method-comparison',
       'Table 2 on real images (digits, every shift, MLP and CNN): LP-FT has the best Global accuracy of the six variants',
       "LP-FT minus each rival's Global accuracy at matched Local (interpolated at a common own-validation Local), paired over seeds, per (shift, model); read only where the positive control is detected", 0.01,
       scope=REAL_SCOPE),
    _d('chen-real-flooding', 'recipe-comparison',
       "Fig. 3b on real images: under loss flooding LP-FT keeps higher global accuracy than FT (flood level b a fraction of the global model's training loss)",
       'LP-FT - FT Global accuracy under flooding per level, paired over seeds, per (shift, model); read only where the positive control is detected', 0.01,
       scope=REAL_SCOPE),
    _d('chen-real-distortion', 'recipe-behaviour',
       'Fig. 3a on real images: larger feature distortion (Delta_c on penultimate features) goes with a larger global-accuracy drop (one Spearman rho per seed over the methods)',
       'Spearman rho (Delta_c, global-accuracy drop) over methods, one per seed, per (shift, model); read only where the positive control is detected', 0.1,
       scope=REAL_SCOPE),
    _d('chen-real-mechanism', 'recipe-behaviour',
       "Mechanism on real images: federated feature distortion causes the global drop — the feature part (with the interaction) of each method's global-accuracy drop exceeds the head part (exact hybrid attribution)",
       "feature part minus head part of each method's global-accuracy drop, paired over seeds, per (shift, model); read only where the positive control is detected", 0.01,
       scope=REAL_SCOPE),
    _d('kumar-lemma-A.3', 'identity',
       'Lemma A.3: B_ft(t) u = B_0 u for all u in S-perp and all t',
       'max |B_ft(t) u - B_0 u| over u in S-perp along the flow', None),
    _d('kumar-balancedness', 'identity',
       'Balancedness (Du et al. 2018): v v^T - B B^T is constant during training',
       'max drift of v v^T - B B^T along flow and GD', None, 'paper'),
    _d('kumar-thm-3.1-eps1', 'bound',
       "Theorem 3.1: FT's OOD error is lower-bounded along the whole trajectory (the bound with epsilon (setup))",
       'min over the flow of sqrt(L_ood) / bound', None),
    _d('kumar-thm-3.1-eps2', 'bound',
       "Theorem 3.1: FT's OOD error is lower-bounded along the whole trajectory (the bound with epsilon^2 (as printed))",
       'min over the flow of sqrt(L_ood) / bound', None),
    _d('kumar-thm-3.2', 'bound',
       'Theorem 3.2: L_ood(LP) / L_ood(FT(t)) -> 0 as eps -> 0',
       'slope of log ratio vs log eps, one per seed', None),
    _d('kumar-prop-3.1', 'condition',
       "Proposition 3.1: if w* is not in rowspace(B_0) and FT converges, FT's worst-case ID loss is below LP's",
       'sign of FT - LP worst-case ID loss vs w* not in rowspace(B_0) + S-perp', None, 'derived'),
    _d('kumar-prop-3.2', 'condition',
       'Proposition 3.2: with perfect features B_0 = U B*, LP-FT has zero OOD loss for all t while FT from a random head has positive OOD loss for all t',
       'LP-FT and FT OOD loss along the flow, per instance', None, 'paper'),
    _d('kumar-digits-analogue', 'method-comparison',
       "Kumar et al. 2022's headline on real images (digits analogue of Living-17: a body pretrained on transformed digits, a new head fine-tuned on clean digits (ID), evaluated on transformed digits (OOD)): LP-FT beats FT out of distribution, and FT changes the features more (ID and OOD inputs)",
       'LP-FT - FT OOD accuracy, and FT - LP-FT relative feature change on ID and on OOD test inputs, at matched ID accuracy (interpolated at a common ID validation accuracy), paired over seeds, per model; read only where the positive control (WiSE-FT Mix - FT OOD accuracy) is detected', 0.01,
       scope='digits: MLP and CNN (quick: MLP)'),
    _d('kumar-living17', 'data',
       'Empirical: on Living-17 the penultimate features change by 0.019 (ID) / 0.017 (OOD) after FT, about 20x less after LP-FT',
       'penultimate-feature change ID/OOD after FT and LP-FT on Living-17', None),
    _d('fedpurel-erosion', 'recipe-behaviour',
       "Fine-tuning the global model on long-tailed data erodes the zero-shot model's class balance: global (balanced) accuracy falls below zero-shot",
       'FedAvg minus zero-shot balanced accuracy, paired over seeds', 0.01),
    _d('fedpurel-purification', 'recipe-behaviour',
       'Gradient purification keeps the class balance during global training',
       'purified minus plain FedAvg balanced accuracy, paired over seeds', 0.01, 'derived'),
    _d('fedpurel-residual-tail', 'recipe-comparison',
       'Residual personalization is better on tail classes than usual personalization',
       'residual minus FT tail accuracy from the same purified global model, paired over seeds', 0.01),
    _d('fedpurel-bias-passed-on', 'recipe-behaviour',
       'Usual personalization (FT from the fine-tuned global model) passes the head-class bias on',
       'head minus tail accuracy after FedAvg+FT, paired over seeds', 0.01),
    _d('flexpsfl-alignment', 'recipe-comparison',
       'The alignment term (lambda = 0.25) makes personalized models better on global data than no alignment (lambda = 0)',
       'global-loss gain of lambda = 0.25 over lambda = 0, paired over seeds', 0.005),
    _d('flexpsfl-split-depth', 'recipe-comparison',
       'A larger client-side split s_k (more personal layers, more client compute) personalizes more',
       'local-loss gain of split s = 3 over s = 1, paired over seeds', 0.005),
    _d('collins-local-steps', 'condition',
       'FedAvg with tau > 1 local steps recovers the shared representation rowspace(B*); distributed GD (tau = 1) cannot',
       'sin theta_max(B_r, B*) after R rounds, per (tau, diversity) instance', None, 'derived'),
    _d('collins-reference-setting', 'recipe-comparison',
       'In the reference setting (d=20, k=2, 100 clients, 5-20 samples each, x ~ N(0, I)) FedAvg with tau > 1 ends closer to B* than tau = 1',
       'sin theta_max for tau > 1 vs tau = 1 in the reference setting', None),
    _d('chen-premise-fedavg', 'condition',
       "Premise of Chen et al.'s theorems: FedAvg learns B_0 = B* (sin theta_max < 0.1)",
       'sin theta_max(B_0, B*) of FedAvg under Assumption 4.1', None),
    _d('lpft-one-step-condition', 'condition',
       'Exact one-step condition: LP-FT moves B more than FT after one step iff ||V_LP|| ||g(B_0^T V_LP)|| > ||V_0|| ||g(B_0^T V_0)||',
       'sign of ||B_1^LPFT - B_0|| - ||B_1^FT - B_0|| vs the stated inequality, per instance', None, 'statement'),
    _d('lpft-distortion-bound', 'bound',
       'Multi-step bound with the head norm: ||B_T - B_0||_F <= eta sqrt(2 c lambda_max) sum_{t<T} ||V_t|| sqrt(L_t - L_min)',
       'max over T of ||B_T - B_0||_F / bound', None),
    _d('lpft-distorts-less', 'recipe-comparison',
       'LP-FT changes the features less than FT (||B_T - B_0||_F, T = 30, eta = 0.05, FedAvg global model)',
       'FT - LP-FT of ||B_T - B_0||_F, paired over seeds', 0.01),
    _d('saxe-mode-dynamics', 'identity',
       'Saxe et al. 2014: from a balanced decoupled initialisation each mode follows u(t) = s e^{2st} / (e^{2st} - 1 + s/u_0) (tau = 1)',
       'max error of the closed-form mode vs the flow', None),
    _d('lambda-balanced-dynamics', 'identity',
       'Kunin et al. 2024 / Dominé et al. 2025: with conserved delta = a^2 - b^2 a mode obeys du/dt = sqrt(delta^2 + 4u^2)(s - u); closed form t(u) = F(u) - F(u_0)',
       'max error of t(u) vs the flow', None),
    _d('lambda-balanced-general', 'identity',
       "Dominé et al. 2025: from any lambda-balanced initialisation (W_2^T W_2 - W_1 W_1^T = lambda I, not aligned with the task) QQ^T solves the Riccati equation P' = AP + PA - P^2 exactly: P(t) = e^{At} Q_0 [I + Q_0^T S(t) Q_0]^{-1} Q_0^T e^{At}",
       'max error of the Riccati closed form vs the flow', None),
    _d('kunin-single-neuron', 'identity',
       'Kunin et al. 2024: a single neuron f = a w^T x from any w_0 (not aligned with beta*) follows the exact solution fixed by delta = a^2 - ||w||^2: beta = a w, a^2 and w w^T are the blocks of the Riccati solution with lambda = delta',
       'max error of the closed form vs the flow', None),
    _d('balance-exact', 'identity',
       "Balancedness: under flow BB^T - VV^T is constant (feature Gram change = head Gram change; Kunin's delta = a^2 - ||w||^2); under GD it drifts by exactly eta^2 sum_t (g_B g_B^T - g_V g_V^T); LP shifts it by -(V_LP V_LP^T - V_0 V_0^T)",
       'max error of the balancedness identities (flow, GD drift, LP shift)', None),
    _d('tomihari-one-step-features', 'identity',
       "Linear feature map, cross-entropy: after one GD step phi_1(x) - phi_0(x) = eta sum_i w_i <x, x_i> V_0^T delta_i, delta_i = e_{y_i} - softmax(f_0(x_i)) (w_i = 1/n: the package's mean loss; the paper's summed loss is w_i = 1); zero for x orthogonal to the training inputs",
       'max error of the one-step feature change vs autograd', None),
    _d('tomihari-head-scaling', 'identity',
       'The one-step feature change is linear in the head norm and the logit change it causes quadratic',
       'exponents of the feature and logit change in the head scale', None, 'statement'),
    _d('tomihari-lora-kernel-stated', 'bound',
       "Prop. 4.4 as printed: ||F^LoRA(x, x') - sigma^2 r F^FT(x, x')|| <= c eps ||V_0 V_0^T|| with probability >= 1 - 4 exp(-(eps^2 - eps^3) r/4) for every pair ||x||, ||x'|| <= c (A_2 ~ N(0, sigma^2), 0 < eps < 1)",
       'exact failure probability of the fixed pair vs the allowed one (adversary), and Monte Carlo at the declared settings', None),
    _d('tomihari-lora-kernel-proof', 'bound',
       "Prop. 4.4, the version its proof (Johnson-Lindenstrauss on x +- x', polarisation) gives: ||F^LoRA(x, x') - sigma^2 r F^FT(x, x')|| <= eps sigma^2 r c^2 ||V_0 V_0^T|| with probability >= 1 - 4 exp(-(eps^2 - eps^3) r/4) for every pair ||x||, ||x'|| <= c (A_2 ~ N(0, sigma^2), 0 < eps < 1)",
       'exact failure probability of the fixed pair vs the allowed one (adversary), and Monte Carlo at the declared settings', None),
    _d('ren-energy-monotone', 'recipe-behaviour',
       'Feature change grows with the energy: Euclidean and cosine distance between z_T and z_0 increase with the loss at the start of FT (overparameterised linear regression, head probed tau steps)',
       'Spearman rho (energy, feature distance), one per seed', 0.1),
    _d('ren-similarity-nonmonotone', 'recipe-behaviour',
       'As the energy grows, <z_T, z_0> and ||z_T|| first rise, then fall (rise: tau 512 -> 64; fall: tau 0 -> 4 HP steps, relative changes)',
       'relative change of <z_T, z_0> and ||z_T|| on each side of the peak', None),
]

_REGISTRY: dict = {d.id: d for d in BUILT_IN}


def register(decl: Declaration) -> Declaration:
    """Add a (user's) declaration; an id already declared is refused."""
    if decl.id in _REGISTRY and _REGISTRY[decl.id] != decl:
        raise ValueError(f"claim id {decl.id!r} is already declared; choose another id")
    _REGISTRY[decl.id] = decl
    return decl


def unregister(ids) -> None:
    """Forget declarations added by :func:`register` (a user's claims file, after its run); built-in ones stay."""
    builtin = {d.id for d in BUILT_IN}
    for i in set(ids) - builtin:
        _REGISTRY.pop(i, None)


def declaration(claim_id: str) -> Declaration:
    try:
        return _REGISTRY[claim_id]
    except KeyError:
        raise KeyError(f"claim {claim_id!r} has no declaration in paper_checks.claims") from None


def primary_of(claim_id: str) -> str:
    """The primary protocol of a claim, by :data:`PRIMARY_RULE` (checks read it; they never choose it)."""
    return declaration(claim_id).primary


def statements() -> dict:
    """claim id → its one-line statement, for every declared claim (nothing is run)."""
    return {k: d.statement for k, d in _REGISTRY.items()}


def restates_conclusion(condition_uses, decl: Declaration) -> list:
    """The quantities a condition shares with the claim's conclusion (non-empty: the condition restates it)."""
    return sorted(set(condition_uses) & set(decl.conclusion))


HOLDING = {"paper": "holds-under-paper-condition", "derived": "holds-under-derived-condition", "statement": "confirmed"}
"""``condition_by`` → the status of a claim whose condition held: the paper's and a derived condition never share a
word, and a claim that *is* the package's own if-and-only-if statement is simply confirmed."""


def finalise(v: Verdict, condition_uses=()) -> Verdict:
    """Attach the declaration; resolve a holding condition into the paper's or a derived one; refuse a headline
    that is not the primary protocol's status and a condition that restates the conclusion."""
    decl = declaration(v.id)
    rob = v.evidence.get("protocol_robustness")
    if isinstance(rob, dict) and decl.primary in rob and rob[decl.primary] != v.status:
        raise RuntimeError(f"{v.id}: the headline status {v.status!r} is not the primary protocol's "
                           f"({decl.primary!r}: {rob[decl.primary]!r})")
    status = v.status
    if status == HOLDS_UNDER_CONDITION:
        if not decl.condition_by:
            raise RuntimeError(f"{v.id}: a condition decided it but the declaration says whose condition it is not")
        shared = restates_conclusion(condition_uses, decl)
        if shared:
            raise ValueError(f"{v.id}: the condition {v.condition!r} uses {shared}, the quantities of the claim's "
                             "own conclusion: a condition that restates the conclusion is not a condition")
        status = HOLDING[decl.condition_by]
    evidence = v.evidence
    if isinstance(rob, dict) and HOLDS_UNDER_CONDITION in rob.values():  # the robustness table in the same words
        word = HOLDING[decl.condition_by]
        table = {k: (word if s == HOLDS_UNDER_CONDITION else s) for k, s in rob.items()}
        summary = evidence.get("robustness_summary", "").replace(HOLDS_UNDER_CONDITION, word)
        evidence = {**evidence, "protocol_robustness": table, "robustness_summary": summary}
    return replace(v, status=status, claim=decl.statement, declared=decl.to_dict(), evidence=evidence)
