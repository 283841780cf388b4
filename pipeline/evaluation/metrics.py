"""Metrics: pure functions with known answers on simple inputs (tests/test_metrics.py), and
the registry that says, for each, what it measures, on which samples, following which
protocol, when it applies and which direction is better. Evaluation and the report ask
the registry; nothing else lists metric names.

Keys: `<split>/<name>` for metrics of the model and its codes (`eval/recon_mse`), and
`<split>/<sampler>/<name>` for metrics of the samples one sampler drew (`eval/prior/modes`);
split `eval` is the test split, `val` the validation split.
"""
from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Any, Callable

import numpy as np
import torch
from scipy.spatial import cKDTree
from scipy.special import digamma, logsumexp
from torch import nn

# --------------------------------------------------------------------------- codes

DEAD_FRACTION = 0.1  # a unit is dead below this share of its code's scale (Burda et al. 2016's 0.01 variance on N(0, 1))


def unit_std(codes: np.ndarray) -> np.ndarray:
    return np.asarray(codes, dtype=np.float64).std(0)


def dead_units(codes: np.ndarray, scale: float | None) -> np.ndarray:
    """Boolean mask of the units whose std over the examples is below DEAD_FRACTION of the
    code's scale: the prior's std for codes matched to a prior (1 for N(0, 1): Burda et al.'s
    active-unit criterion), 0.5 for sigmoid units (the largest std a unit in (0, 1) can
    have), and the largest unit's std when the code has no scale (a plain autoencoder)."""
    std = unit_std(codes)
    reference = scale if scale is not None else float(std.max(initial=0.0))
    return std < max(DEAD_FRACTION * reference, 1e-12)


def total_correlation_gaussian(codes: np.ndarray, ridge: float = 1e-6) -> float:
    """Total correlation KL(q(c) || prod_i q(c_i)) of a Gaussian fitted to the codes:
    0.5 * (sum_i log var_i - log det Cov), in nats. 0 for independent units; blind to
    dependence that is not linear correlation. `ridge` keeps a constant unit finite."""
    c = np.asarray(codes, dtype=np.float64)
    if c.shape[1] < 2:
        return 0.0
    cov = np.atleast_2d(np.cov(c, rowvar=False)) + ridge * np.eye(c.shape[1])
    _, logdet = np.linalg.slogdet(cov)
    return float(0.5 * (np.log(np.diag(cov)).sum() - logdet))


def total_correlation_knn(codes: np.ndarray, k: int = 3) -> float:
    """Non-parametric total correlation (multi-information) by k nearest neighbours: the
    Kraskov-Stögbauer-Grassberger estimator (2004) in the form of Gao et al. (2017, "Estimating
    mutual information for discrete-continuous mixtures"; their code, wgao9/mixed_KSG), extended
    to m variables:
        mean_i [ psi(k_i) + (m - 1) log N - sum_j psi(n_ij) ],
    where rho_i is the distance (max-norm, joint space) to the k-th neighbour of point i and
    n_ij counts the points (i itself included) strictly within rho_i of point i in unit j alone;
    when rho_i = 0 (point i repeats), k_i and n_ij count the points tied with i, jointly and in
    unit j. Codes that repeat exactly (a deterministic encoder on discrete data such as bars)
    are handled by the ties rule, where plain KSG diverges. Sees nonlinear dependence ((u, u^2)
    scores high); units are standardised first."""
    c = np.asarray(codes, dtype=np.float64)
    n, m = c.shape
    if m < 2:
        return 0.0
    std = c.std(0)
    c = (c - c.mean(0)) / np.where(std > 0, std, 1.0)
    tree = cKDTree(c)
    rho = tree.query(c, k=k + 1, p=np.inf)[0][:, k]  # the k-th neighbour, the point itself excluded
    tied = rho == 0
    k_i = np.where(tied, tree.query_ball_point(c, r=0.0, p=np.inf, return_length=True), k)
    marginal = np.zeros(n)
    for j in range(m):
        v = np.sort(c[:, j])
        strictly = np.searchsorted(v, c[:, j] + rho, side="left") - np.searchsorted(v, c[:, j] - rho, side="right")
        ties = np.searchsorted(v, c[:, j], side="right") - np.searchsorted(v, c[:, j], side="left")
        marginal += digamma(np.where(tied, ties, strictly))
    return float(np.mean(digamma(k_i) + (m - 1) * math.log(n) - marginal))


def energy_distance(x: torch.Tensor, y: torch.Tensor) -> float:
    """Energy distance 2 E|x - y| - E|x - x'| - E|y - y'| (Székely & Rizzo 2004), i.e. the squared
    MMD under the distance-induced kernel (Sejdinovic et al. 2013): no bandwidth, and a kernel
    no family trains on. 0 for one distribution; unbiased within-sample terms."""
    x, y = x.double(), y.double()
    n, m = len(x), len(y)
    xx, yy, xy = torch.cdist(x, x), torch.cdist(y, y), torch.cdist(x, y)
    return float(2 * xy.mean() - xx.sum() / (n * (n - 1)) - yy.sum() / (m * (m - 1)))


# --------------------------------------------------------------------------- codes against known factors


def _discretize(values: np.ndarray, bins: int = 20, keep_distinct: bool = False) -> np.ndarray:
    """Each column to `bins` equal-width bins. `keep_distinct`: a column with at most `bins`
    distinct values keeps them (the known factors). Codes are always binned: on discrete data a
    deterministic encoder gives each input one exact value, and keeping those values would tell
    every unit all the inputs apart (MIG 0 for a perfectly factorial code)."""
    out = np.empty(values.shape, dtype=np.int64)
    for j in range(values.shape[1]):
        column = values[:, j]
        distinct = np.unique(column)
        if keep_distinct and len(distinct) <= bins:
            out[:, j] = np.searchsorted(distinct, column)
        else:
            edges = np.linspace(column.min(), column.max(), bins + 1)[1:-1]
            out[:, j] = np.digitize(column, edges)
    return out


def dead_as_constant(codes: np.ndarray, dead: np.ndarray) -> np.ndarray:
    """The codes with the dead units held constant: binning is scale-free, so a dead unit's
    tiny variation (1e-3 of the code's scale) would otherwise count as a whole factor."""
    out = np.array(codes, float, copy=True)
    out[:, dead] = 0.0
    return out


def mutual_information_matrix(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> np.ndarray:
    """MI(c_j; v_k) in nats between discretised code units and factors: (units, factors)."""
    from sklearn.metrics import mutual_info_score

    c, v = _discretize(np.asarray(codes, float), bins), _discretize(np.asarray(factors, float), bins, keep_distinct=True)
    return np.array([[mutual_info_score(c[:, j], v[:, k]) for k in range(v.shape[1])] for j in range(c.shape[1])])


def mig(codes: np.ndarray, factors: np.ndarray, bins: int = 20) -> float:
    """Mutual information gap (Chen et al. 2018, "Isolating sources of disentanglement"): per
    factor, (largest - second largest MI with a code unit) / the factor's entropy, averaged.
    1: each factor lives in one unit alone; 0: in none, or spread over several."""
    mi = mutual_information_matrix(codes, factors, bins)
    v = _discretize(np.asarray(factors, float), bins, keep_distinct=True)
    gaps = []
    for k in range(v.shape[1]):
        p = np.bincount(v[:, k]) / len(v)
        entropy = -(p[p > 0] * np.log(p[p > 0])).sum()
        if entropy > 0 and mi.shape[0] > 1:
            top = np.sort(mi[:, k])[::-1]
            gaps.append((top[0] - top[1]) / entropy)
    return float(np.mean(gaps)) if gaps else float("nan")


def dci(codes: np.ndarray, factors: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Disentanglement, completeness and informativeness (Eastwood & Williams 2018): a random
    forest per factor predicts it from the code (fit on the first half, R^2 on the second);
    its feature importances form R (units x factors). Disentanglement: 1 - entropy (base K) of
    each unit's importance over factors, weighted by the unit's share; completeness: 1 -
    entropy (base d) of each factor's importance over units; informativeness: mean R^2."""
    from sklearn.ensemble import RandomForestRegressor

    c, v = np.asarray(codes, float), np.asarray(factors, float)
    half = len(c) // 2
    d, k = c.shape[1], v.shape[1]
    importance, r2 = np.zeros((d, k)), []
    for j in range(k):
        forest = RandomForestRegressor(n_estimators=30, max_depth=8, random_state=seed).fit(c[:half], v[:half, j])
        importance[:, j] = forest.feature_importances_
        r2.append(forest.score(c[half:], v[half:, j]) if v[half:, j].std() > 0 else float("nan"))

    def one_minus_entropy(p: np.ndarray, base: int) -> np.ndarray:
        p = p / np.clip(p.sum(axis=-1, keepdims=True), 1e-12, None)
        h = -(np.where(p > 0, p * np.log(np.clip(p, 1e-12, None)), 0)).sum(-1) / math.log(base)
        return 1 - h

    weights = importance.sum(1) / max(importance.sum(), 1e-12)
    disentanglement = float((weights * one_minus_entropy(importance, max(k, 2))).sum())
    completeness = float(one_minus_entropy(importance.T, max(d, 2)).mean())
    return {"dci_disentanglement": disentanglement, "dci_completeness": completeness,
            "dci_informativeness": float(np.nanmean(r2))}


def amari_distance(unmixing: np.ndarray, mixing: np.ndarray) -> float:
    """Amari et al. (1996)'s distance between an estimated unmixing W and the true mixing A:
    with P = W A, the mean excess of each row and column over its largest entry, in [0, 1];
    0 when W inverts A up to a permutation and scaling of the sources."""
    p = np.abs(np.asarray(unmixing, float) @ np.asarray(mixing, float))
    n = p.shape[0]
    rows = (p.sum(1) / p.max(1) - 1).sum()
    cols = (p.sum(0) / p.max(0) - 1).sum()
    return float((rows + cols) / (2 * n * (n - 1)))


def linear_unmixing(x: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The linear map W (units x features) that best predicts the codes from the data, by least
    squares on centred values: what an encoder has learned, as an unmixing matrix."""
    x, c = np.asarray(x, float), np.asarray(codes, float)
    solution, *_ = np.linalg.lstsq(x - x.mean(0), c - c.mean(0), rcond=None)
    return solution.T


def predictability_r2(codes: np.ndarray, seed: int = 0) -> float:
    """PM's own criterion after training: how well a fresh predictor guesses each unit from the
    others (10-nearest-neighbour regression on standardised units, fit on the first half of the
    codes, R^2 on the second half), averaged over units. 0: unpredictable (factorial); 1: a
    function of the others."""
    from sklearn.neighbors import KNeighborsRegressor

    c = np.asarray(codes, float)
    if c.shape[1] < 2:
        return 0.0
    c = (c - c.mean(0)) / np.where(c.std(0) > 0, c.std(0), 1.0)
    half, scores = len(c) // 2, []
    for j in range(c.shape[1]):
        others = np.delete(c, j, axis=1)
        model = KNeighborsRegressor(n_neighbors=10).fit(others[:half], c[:half, j])
        scores.append(model.score(others[half:], c[half:, j]) if c[half:, j].std() > 0 else 0.0)
    return float(np.mean(scores))


def ks_to_prior(codes: np.ndarray, prior: np.ndarray) -> float:
    """Mean over units of the two-sample Kolmogorov-Smirnov statistic between a unit's codes
    and the same unit of prior draws: 0 when every marginal matches the prior's."""
    from scipy.stats import ks_2samp

    c, p = np.asarray(codes, float), np.asarray(prior, float)
    return float(np.mean([ks_2samp(c[:, j], p[:, j]).statistic for j in range(c.shape[1])]))


def linear_probe_accuracy(train_codes, train_labels, test_codes, test_labels) -> float:
    """Test accuracy of a logistic regression fit on the training codes (standardised)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return float(model.fit(train_codes, train_labels).score(test_codes, test_labels))


def nearest_neighbour_accuracy(train_codes, train_labels, test_codes, test_labels) -> float:
    """1-NN accuracy, Euclidean distance, the training codes as the reference (BiGAN's protocol)."""
    from sklearn.neighbors import KNeighborsClassifier

    return float(KNeighborsClassifier(n_neighbors=1).fit(train_codes, train_labels).score(test_codes, test_labels))


def clustering_accuracy(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of cluster ids against labels under the best one-to-one matching of clusters to
    labels (Hungarian algorithm): 1 for a perfect clustering whatever its numbering."""
    from scipy.optimize import linear_sum_assignment

    clusters, labels = np.asarray(clusters), np.asarray(labels)
    size = int(max(clusters.max(), labels.max())) + 1
    counts = np.zeros((size, size))
    np.add.at(counts, (clusters, labels), 1)
    rows, cols = linear_sum_assignment(-counts)
    return float(counts[rows, cols].sum() / len(labels))


def mean_pairwise_cosine(codes: np.ndarray) -> float:
    """Mean cosine similarity between the codes of different samples: 1 when every sample gets
    the same code direction (what EBGAN's pull-away term pushes down)."""
    c = np.asarray(codes, float)
    unit = c / np.clip(np.linalg.norm(c, axis=1, keepdims=True), 1e-12, None)
    n = len(unit)
    similarity = unit @ unit.T
    return float((similarity.sum() - np.trace(similarity)) / (n * (n - 1)))


BINARY_TOLERANCE = 0.05  # Schmidhuber 1992: a unit is binary within 0.05 of its bounds on every pattern


def factorial_code_criteria(codes: np.ndarray, probs: np.ndarray) -> dict[str, float]:
    """The 1992 paper's criterion on its pattern ensembles: `codes` (patterns, units) of each
    distinct input pattern, `probs` their probabilities. A run succeeds when every unit is
    binary (within 0.05 of 0 or 1 on every pattern), the binary codes are distinct (the code
    is invertible) and they are factorial (the code distribution is the product of its
    marginals). V_C (of the rounded code, with the optimal predictors: conditional means)
    = 1/2 sum_p n_p sum_i (E[y_i | y_-i] - y_i)^2 over one epoch of
    n_p = probability x epoch presentations (4 for the uniform ensemble, 9 for 1/9..4/9):
    2 for a factorial binary code on either ensemble, 19/10 for the paper's code B."""
    y, probs = np.asarray(codes, float), np.asarray(probs, float)
    bits = np.round(y)
    binary = bool(np.all(np.abs(y - bits) <= BINARY_TOLERANCE))
    distinct = len({tuple(b) for b in bits})
    joint: dict[tuple, float] = {}
    for b, p in zip(bits, probs):
        joint[tuple(b)] = joint.get(tuple(b), 0.0) + p
    marginal = [{v: sum(p for b, p in joint.items() if b[i] == v) for v in (0.0, 1.0)} for i in range(y.shape[1])]
    gap = max(abs(p - math.prod(marginal[i][b[i]] for i in range(len(b))))
              for b, p in _all_binary(y.shape[1], joint))
    epoch = round(1 / probs.min())
    v_c = 0.0
    for i in range(bits.shape[1]):  # the optimal predictor of unit i: its conditional mean given the others
        others = np.delete(bits, i, axis=1)
        for r in range(len(bits)):
            same = np.all(others == others[r], axis=1)
            mean = (probs[same] * bits[same, i]).sum() / probs[same].sum()
            v_c += 0.5 * epoch * probs[r] * (mean - bits[r, i]) ** 2
    factorial = gap < 1e-6
    return {"binary": float(binary), "distinct_codes": float(distinct), "factorial": float(factorial),
            "success": float(binary and factorial and distinct == len(y)), "v_c": float(v_c)}


def _all_binary(units: int, joint: dict[tuple, float]):
    for combo in itertools.product((0.0, 1.0), repeat=units):
        yield combo, joint.get(combo, 0.0)


# --------------------------------------------------------------------------- 2-D mode metrics


HIGH_QUALITY_STDS = 3.0  # PacGAN's `dis_thre`: a sample is high quality within 3 std of its nearest mode


def mode_metrics(samples: np.ndarray, centres: np.ndarray, std: float) -> dict[str, float]:
    """The 2-D toys' metrics as PacGAN's code computes them (fjxmlzn/PacGAN,
    synthetic_data_experiments/PacGAN/pacgan/extensions.py):
    - a sample is high quality when its per-axis standardised distance to the nearest mode,
      sqrt(sum_axis (x - mu)^2 / std^2), is below 3 (strictly);
    - a mode is captured when at least one high-quality sample is nearest to it;
    - reverse KL = KL(q || uniform) over the modes, q the histogram of the high-quality
      samples only (= ln K - the entropy PacGAN logs), in nats; NaN when no sample is high
      quality. Low-quality samples do not enter it, so noise can score well on this column
      alone: read it beside `high_quality` and `sample_loglik`.
    VEEGAN (Srivastava et al. 2017) states the same definitions; the two papers differ in data,
    nets, budget and trials, not in these formulas."""
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    d = np.sqrt((((x[:, None, :] - c[None]) / std) ** 2).sum(2))  # (n, modes)
    nearest, closest = d.argmin(1), d.min(1)
    good = closest < HIGH_QUALITY_STDS
    counts = np.bincount(nearest[good], minlength=len(c))
    if counts.sum():
        q = counts[counts > 0] / counts.sum()
        reverse_kl = float(math.log(len(c)) + (q * np.log(q)).sum())
    else:
        reverse_kl = float("nan")
    return {"modes": float((counts >= 1).sum()), "high_quality": float(good.mean()), "reverse_kl": reverse_kl}


def mixture_log_likelihood(samples: np.ndarray, centres: np.ndarray, std: float) -> float:
    """Mean log-density of the samples under the true mixture, (1/K) sum_j N(x; mu_j, std^2 I),
    in nats per sample. Noise between the modes scores far below any generator that holds
    even one mode. (PacGAN's code logs a 'loglikelihood' with the variance passed as the
    scale and no 1/K weight; this is the quantity it meant.)"""
    x = np.asarray(samples, dtype=np.float64)
    c = np.asarray(centres, dtype=np.float64)
    d2 = ((x[:, None, :] - c[None]) ** 2).sum(2)
    dim = x.shape[1]
    log_p = logsumexp(-0.5 * d2 / std**2, axis=1) - math.log(len(c)) - dim * math.log(std * math.sqrt(2 * math.pi))
    return float(log_p.mean())


# --------------------------------------------------------------------------- Parzen window


PARZEN_SIGMAS = tuple(np.logspace(-1, 0, 10))  # parzen_ll.py: logspace(sigma_start=-1, sigma_end=0, cross_val=10)
PARZEN_VALIDATION = 1000  # parzen_ll.py's get_valid: the first 1,000 validation images choose sigma


def _parzen_from_distances(d2: torch.Tensor, n: int, d: int, sigma: float) -> torch.Tensor:
    return torch.logsumexp(-0.5 * d2 / sigma**2, 1) - math.log(n) - d * math.log(sigma * math.sqrt(2 * math.pi))


def _squared_distances(x: torch.Tensor, samples: torch.Tensor, chunk: int = 256):
    for part in x.split(chunk):  # a 10,000 x 10,000 distance matrix at once would take 800 MB
        yield torch.cdist(part, samples).pow(2)


def parzen_log_likelihoods(samples: torch.Tensor, x: torch.Tensor, sigma: float) -> torch.Tensor:
    """log p(x) of each row of x under a Gaussian Parzen window of width `sigma` on `samples`:
    log mean_j exp(-|x - s_j|^2 / (2 sigma^2)) - d log(sigma sqrt(2 pi)), in nats (the GAN
    paper's estimator, goodfeli/adversarial parzen_ll.py)."""
    s, x = samples.flatten(1).double(), x.flatten(1).double()
    return torch.cat([_parzen_from_distances(d2, len(s), s.shape[1], sigma) for d2 in _squared_distances(x, s)])


def parzen_estimate(samples: torch.Tensor, val: torch.Tensor, test: torch.Tensor,
                    sigmas: tuple[float, ...] = PARZEN_SIGMAS) -> dict[str, float]:
    """The GAN paper's Parzen protocol: sigma is the grid value with the highest mean
    log-likelihood of the first 1,000 validation images; the result is the mean over the test
    images and its standard error (std with ddof 0 over sqrt(N), as parzen_ll.py prints it)."""
    s = samples.flatten(1).double()
    val_d2 = torch.cat(list(_squared_distances(val[:PARZEN_VALIDATION].flatten(1).double(), s)))  # once for all sigmas
    scores = [float(_parzen_from_distances(val_d2, len(s), s.shape[1], sigma).mean()) for sigma in sigmas]
    sigma = float(sigmas[int(np.argmax(scores))])
    ll = parzen_log_likelihoods(s, test, sigma).cpu().numpy()
    return {"parzen_ll": float(ll.mean()), "parzen_se": float(ll.std() / math.sqrt(len(ll))), "parzen_sigma": sigma}


# --------------------------------------------------------------------------- images


class FeatureExtractor(nn.Module):
    """Wraps a classifier's penultimate layer for torchmetrics' Fréchet distance."""

    def __init__(self, classifier: nn.Module):
        super().__init__()
        self.classifier = classifier
        self.num_features = classifier.num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier.features(x)


def frechet_distance(real: torch.Tensor, fake: torch.Tensor, classifier: nn.Module) -> float:
    """Fréchet distance between real and generated images in the features of a classifier
    trained on the dataset (FID with the dataset's own net in place of Inception),
    computed by torchmetrics."""
    from torchmetrics.image.fid import FrechetInceptionDistance

    fid = FrechetInceptionDistance(feature=FeatureExtractor(classifier), normalize=True).to(real.device)
    fid.update(real, real=True)
    fid.update(fake, real=False)
    return float(fid.compute())


def class_histogram_kl(fake: torch.Tensor, classifier: nn.Module, real_labels: np.ndarray) -> float:
    """KL(real label histogram || predicted-class histogram of the samples): large when the
    generator drops classes (mode collapse in label space). Smoothed by one count per class."""
    with torch.no_grad():
        predicted = classifier(fake).argmax(1).cpu().numpy()
    classes = int(max(real_labels.max(), predicted.max())) + 1
    p = np.bincount(real_labels, minlength=classes) + 1.0
    q = np.bincount(predicted, minlength=classes) + 1.0
    p, q = p / p.sum(), q / q.sum()
    return float((p * np.log(p / q)).sum())


# --------------------------------------------------------------------------- the registry


@dataclasses.dataclass(frozen=True)
class Metric:
    """A group of metrics computed together (the mode metrics come from one pass).

    `applies(probe)` says whether the group belongs to a trial's dataset at all (absent if
    not); `available(probe)` whether the family can feed it (None, "not applicable", if not).
    `compute(probe)` gets a Probe (pipeline/evaluation/evaluate.py) and, for `on_samples` groups, the
    samples of one sampler; it returns {name: value}."""

    names: tuple[str, ...]
    what: dict[str, str]  # name -> what it measures, on which samples, following which protocol
    better: dict[str, str]  # name -> 'lower' | 'higher' | 'none' (a count, a diagnostic)
    applies: Callable[[Any], bool]
    available: Callable[[Any], bool]
    compute: Callable[..., dict[str, float]]
    on_samples: bool = False
    progress: tuple[str, ...] = ()  # names tracked on validation data during training
    change: dict[str, tuple[float, bool]] = dataclasses.field(default_factory=dict)  # name -> (least change that counts, relative?)
    # Every metric is computed on the validation split too (at each snapshot: the verdicts'
    # trajectories, pipeline/studies/trajectory.py) except Parzen's, which chooses its kernel
    # width on the validation images and so cannot also be scored on them.
    splits: tuple[str, ...] = ("test", "val")


def _always(probe) -> bool:
    return True


def _codes_metrics(probe) -> dict[str, float | None]:
    live = ~probe.dead
    codes = probe.code_samples[:, live]
    # On discrete data a code takes finitely many values and each unit generically tells them
    # all apart: its total correlation is then (m - 1) H(x) whatever the code's structure
    # (42-44 nats on bars for every deterministic encoder). Not a measure of dependence there.
    knn = None if probe.ds.meta.get("discrete") else total_correlation_knn(codes)
    return {"dead_units": float(probe.dead.sum()), "total_correlation": total_correlation_gaussian(codes),
            "total_correlation_knn": knn}


def _toy(probe) -> bool:
    return probe.ds.kind == "toy2d"


def _labelled_images(probe) -> bool:
    return probe.ds.kind == "image" and probe.classifier is not None


def _labelled_image_data(probe) -> bool:
    return probe.ds.kind == "image" and probe.labels is not None


METRICS: tuple[Metric, ...] = (
    Metric(("recon_mse",),
           {"recon_mse": "squared error per example, summed over features, of the reconstruction of each test example"},
           {"recon_mse": "lower"}, _always, lambda p: p.can("reconstruct"),
           lambda p: {"recon_mse": p.recon_mse()}, progress=("recon_mse",), change={"recon_mse": (0.05, True)}),
    Metric(("dead_units", "total_correlation", "total_correlation_knn"),
           {"dead_units": "code units whose std over the test codes (at most 2,500 examples, as for every code "
                          "metric) is below 10% of the code's scale (the prior's std; 0.5 for sigmoid units; the largest "
                          "unit's std without a scale)",
            "total_correlation": "KL(q(c) || prod q(c_i)) of a Gaussian fitted to the live units of the test codes "
                                 "(nats); sees only linear correlation",
            "total_correlation_knn": "the same by a k-nearest-neighbour estimator (KSG in Gao et al. 2017's form for "
                                     "codes that repeat, k = 3, nats): sees nonlinear dependence; n/a on discrete data "
                                     "(bars, pm92), where it measures only that each unit tells the inputs apart"},
           {"dead_units": "lower", "total_correlation": "lower", "total_correlation_knn": "lower"},
           _always, lambda p: p.can("encode"), _codes_metrics),
    Metric(("mmd_prior",),
           {"mmd_prior": "energy distance (MMD² under the distance kernel, which no family trains on) between the "
                         "test codes and as many prior draws"},
           {"mmd_prior": "lower"}, _always, lambda p: p.can("encode") and p.prior is not None,
           lambda p: {"mmd_prior": energy_distance(torch.from_numpy(p.code_samples), p.prior)}),
    Metric(("modes", "high_quality", "reverse_kl", "sample_loglik"),
           {"modes": "modes with at least one high-quality sample (PacGAN's code; VEEGAN's definition)",
            "high_quality": "share of samples within 3 std (per-axis) of their nearest mode (PacGAN's code)",
            "reverse_kl": "KL(mode histogram of the high-quality samples || uniform), nats (PacGAN's code; "
                          "low-quality samples do not enter it)",
            "sample_loglik": "mean log-density of the samples under the true mixture, nats (noise cannot score well)"},
           {"modes": "higher", "high_quality": "higher", "reverse_kl": "lower", "sample_loglik": "higher"},
           _toy, _always,
           lambda p, s: {**mode_metrics(s, p.ds.meta["centres"], p.ds.meta["std"]),
                         "sample_loglik": mixture_log_likelihood(s, p.ds.meta["centres"], p.ds.meta["std"])},
           on_samples=True, progress=("modes", "high_quality"),
           change={"modes": (1.0, False), "high_quality": (0.1, True)}),
    Metric(("frechet", "class_kl"),
           {"frechet": "Fréchet distance between test images and samples in the features of the dataset's own "
                       "classifier (evalnet stage; torchmetrics)",
            "class_kl": "KL(test label histogram || the classifier's class histogram of the samples), nats"},
           {"frechet": "lower", "class_kl": "lower"}, _labelled_images, _always,
           lambda p, s: {"frechet": frechet_distance(p.x, torch.from_numpy(s).to(p.x.device), p.classifier),
                         "class_kl": class_histogram_kl(torch.from_numpy(s).to(p.x.device), p.classifier, p.labels)},
           on_samples=True, progress=("frechet",), change={"frechet": (0.05, True)}),
    Metric(("parzen_ll", "parzen_se", "parzen_sigma"),
           {"parzen_ll": "Parzen-window log-likelihood of the test images under the samples, nats per image (the GAN "
                         "paper's parzen_ll.py: Gaussian kernel, sigma chosen on 1,000 validation images from "
                         "logspace(-1, 0, 10)); on all samples drawn (10,000 in the reference profile)",
            "parzen_se": "its standard error over the test images (std / sqrt(N), as the GAN paper's ± 2)",
            "parzen_sigma": "the kernel width the validation images chose"},
           {"parzen_ll": "higher", "parzen_se": "none", "parzen_sigma": "none"},
           lambda p: p.ds.kind == "image", _always,
           lambda p, s: parzen_estimate(torch.from_numpy(s).to(p.x.device), p.val_x, p.x),
           on_samples=True, splits=("test",)),  # sigma is chosen on the validation images
    Metric(("mig",),
           {"mig": "mutual information gap of the test codes (posterior means, 20 equal-width bins per unit) against "
                   "the known factors (Chen et al. 2018), dead units held constant; 1: each factor in one unit alone"},
           {"mig": "higher"}, lambda p: p.ds.factors is not None, lambda p: p.can("encode"),
           lambda p: {"mig": mig(dead_as_constant(p.codes, p.dead), p.factors)}),
    Metric(("dci_disentanglement", "dci_completeness", "dci_informativeness"),
           {"dci_disentanglement": "DCI disentanglement (Eastwood & Williams 2018), importances of a random forest per "
                                   "factor; 1: each unit informs one factor; n/a on discrete data, where the forest "
                                   "reads the inputs off the exact code values",
            "dci_completeness": "DCI completeness: 1 when each factor is captured by one unit",
            "dci_informativeness": "DCI informativeness: mean held-out R^2 of the factors from the code"},
           {"dci_disentanglement": "higher", "dci_completeness": "higher", "dci_informativeness": "higher"},
           lambda p: p.ds.factors is not None, lambda p: p.can("encode"),
           lambda p: dict.fromkeys(("dci_disentanglement", "dci_completeness", "dci_informativeness"))
           if p.ds.meta.get("discrete") else dci(p.codes, p.factors)),
    Metric(("amari",),
           {"amari": "Amari distance between the linear unmixing that best maps the data to the test codes (least "
                     "squares) and the true mixing; 0 = the sources recovered up to order and scale"},
           {"amari": "lower"}, lambda p: "mixing" in p.ds.meta, lambda p: p.can("encode"),
           lambda p: {"amari": amari_distance(linear_unmixing(p.x[:len(p.codes)].cpu().numpy(), p.codes),
                                              np.array(p.ds.meta["mixing"]))}),
    Metric(("predictability_r2",),
           {"predictability_r2": "PM's criterion after training: mean R^2 of a fresh predictor (10-NN regression, fit "
                                 "on half the test codes, scored on the other half) of each live unit from the others; n/a on "
                                 "discrete data, where the exact code values give the inputs away"},
           {"predictability_r2": "lower"}, _always, lambda p: p.can("encode"),
           lambda p: {"predictability_r2": None if p.ds.meta.get("discrete")
                      else predictability_r2(p.code_samples[:, ~p.dead])}),
    Metric(("ks_prior",),
           {"ks_prior": "mean over units of the two-sample Kolmogorov-Smirnov statistic between the unit's test codes "
                        "and the prior's draws for that unit"},
           {"ks_prior": "lower"}, _always, lambda p: p.can("encode") and p.prior is not None,
           lambda p: {"ks_prior": ks_to_prior(p.code_samples, p.prior.numpy())}),
    Metric(("linear_probe", "knn_accuracy"),
           {"linear_probe": "test accuracy of a logistic regression on the codes of the training split (posterior means)",
            "knn_accuracy": "test accuracy of 1-nearest-neighbour classification of the codes, Euclidean, the training "
                            "split's codes as the reference (BiGAN's protocol)"},
           {"linear_probe": "higher", "knn_accuracy": "higher"}, _labelled_image_data, lambda p: p.can("encode"),
           lambda p: {"linear_probe": linear_probe_accuracy(p.train_codes, p.train_labels, p.codes, p.labels[:len(p.codes)]),
                      "knn_accuracy": nearest_neighbour_accuracy(p.train_codes, p.train_labels, p.codes,
                                                                 p.labels[:len(p.codes)])}),
    Metric(("penultimate_knn",),
           {"penultimate_knn": "1-nearest-neighbour test accuracy, as knn_accuracy, on the encoder's penultimate layer "
                               "(its activations before the linear layer that makes the code): BiGAN's second protocol"},
           {"penultimate_knn": "higher"}, _labelled_image_data, lambda p: p.can("encode"),
           lambda p: {"penultimate_knn": nearest_neighbour_accuracy(p.train_features, p.train_labels, p.features,
                                                                    p.labels[:len(p.features)])}),
    Metric(("cluster_accuracy", "cont_recon"),
           {"cluster_accuracy": "accuracy of Q's categorical code on real test images against the labels, under the "
                                "best one-to-one matching of categories to classes (Hungarian)",
            "cont_recon": "squared error of Q's reconstruction of the continuous codes of fresh samples, summed over "
                          "units (a U(-1, 1) unit guessed by 0 scores 1/3)"},
           {"cluster_accuracy": "higher", "cont_recon": "lower"},
           lambda p: _labelled_image_data(p) and p.can("infer_code"), _always,
           lambda p: {"cluster_accuracy": clustering_accuracy(p.model.infer_code(p.x)[0].argmax(1).cpu().numpy(), p.labels),
                      "cont_recon": p.model.cont_code_error(len(p.x), p.gen)}),
    Metric(("code_cosine",),
           {"code_cosine": "mean cosine similarity between the critic's codes of different samples (EBGAN's "
                           "discriminator encoder): what the pull-away term pushes down"},
           {"code_cosine": "lower"}, lambda p: p.can("critic_codes"), _always,
           lambda p, s: {"code_cosine": mean_pairwise_cosine(p.model.critic_codes(torch.from_numpy(s).to(p.x.device)))},
           on_samples=True),
    Metric(("success", "binary", "factorial", "distinct_codes", "v_c"),
           {"success": "the 1992 paper's criterion: every unit binary (within 0.05 of 0 or 1 on every pattern), the codes "
                       "distinct and factorial",
            "binary": "1 when every unit is within 0.05 of 0 or 1 on every pattern",
            "factorial": "1 when the rounded code's distribution is the product of its marginals",
            "distinct_codes": "distinct rounded codes over the ensemble's patterns",
            "v_c": "the paper's objective V_C of the rounded code with optimal predictors, per epoch (2 for a factorial "
                   "code; 19/10 for the paper's code B)"},
           {"success": "higher", "binary": "higher", "factorial": "higher", "distinct_codes": "higher", "v_c": "higher"},
           lambda p: "patterns" in p.ds.meta, lambda p: p.can("encode"), lambda p: p.pattern_criteria()),
)

# Everything a results table may show, in the order a reader wants it.
DESCRIPTIONS: dict[str, str] = {name: m.what[name] for m in METRICS for name in m.names}
BETTER: dict[str, str] = {name: m.better[name] for m in METRICS for name in m.names}


EARLY = 0.1  # "the first steps": this share of the training budget


def early_mean(curve: list[tuple[int, float]], steps: int) -> float | None:
    """Mean of a curve's points within the first EARLY share of `steps` (None if it has none)."""
    points = [v for s, v in curve if s <= EARLY * steps]
    return float(np.mean(points)) if points else None


# Metrics read from a trial's training curves after training (not from the model): name ->
# (curve, what it measures, which direction is better).
CURVE_METRICS: dict[str, tuple[str, str, str]] = {
    "gen_grad_early": ("grad/gen", "mean norm of the generator's gradient over the first 10% of training (logged every "
                       "log_every steps): near 0 when its cost saturates", "none"),
}


def still_improving(curve: list[tuple[int, float]], better: str, change: tuple[float, bool]) -> bool:
    """True when the last evaluation beats every evaluation of the first three quarters of
    training by at least `change` (relative to that best value when change[1]): the model
    had not stopped improving, so its number is a lower bound, not a result."""
    if len(curve) < 3 or better not in ("lower", "higher"):
        return False
    last_step = curve[-1][0]
    earlier = [v for s, v in curve if s <= 0.75 * last_step and math.isfinite(v)]
    final = curve[-1][1]
    if not earlier or not math.isfinite(final):
        return False
    best = min(earlier) if better == "lower" else max(earlier)
    least, relative = change
    margin = least * abs(best) if relative else least
    return final < best - margin if better == "lower" else final > best + margin


DESCRIPTIONS.update({name: what for name, (_, what, _) in CURVE_METRICS.items()})
BETTER.update({name: better for name, (_, _, better) in CURVE_METRICS.items()})
