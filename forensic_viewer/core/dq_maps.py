"""Per-block double-JPEG likelihood maps, after Bianchi & Piva 2012 ("Image forgery localization
via block-grained analysis of JPEG artifacts", IEEE TIFS 7(3)).

Aligned (A-DJPG). For each low-frequency DCT mode the histogram h(x) of the file's quantized values
x (step Q2) is modelled as a mixture ``a * p1(x; Q1) + (1 - a) * p0(x)``:

- p0, a single compression with Q2: the coefficients of the *calibrated* image (the decoded
  luminance re-transformed on a grid shifted by 4 pixels, which removes the lattice of the current
  and of any aligned earlier compression) quantized with Q2;
- p1, a double compression: the calibrated coefficients quantized with Q1, plus the Gaussian
  rounding error of the first decompression (variance 1/12, the transform being orthonormal),
  re-quantized with Q2.

Q1 is the candidate (1..Q1_MAX) with the largest likelihood after EM on ``a``; a mode whose best Q1
explains the histogram no better than p0 carries no evidence. A block's likelihood ratio is the
product over modes of p1(x)/p0(x); its probability of double compression uses, as prior, the share
of double-compressed blocks fitted by EM over the block ratios (the paper uses equal priors; the
fitted prior makes a singly compressed image read near 0 instead of 0.5, and leaves the ranking of
blocks within one image unchanged).

Non-aligned (NA-DJPG), simplified: the paper estimates the grid shift from integer periodicity
maps and models every mode. Here the shift (r, c) is the one whose block DC values cluster most
around multiples of some step (circular statistic on a sample of blocks), Q1 per mode is fitted by
EM for a comb ``Q1 * wrapped_normal(y mod Q1; sigma)`` against a locally uniform H0, with sigma from
the second quantization's error; AC values within Q1/2 of zero are skipped (there H0 is peaked,
not uniform). The shifted blocks are drawn on the nearest cell of the current grid (within 4 px).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from .jpeg_dct import ZIGZAG, LumaCoefficients, block_dct

# The first decompression's error on a coefficient: rounding the luminance (1/12), and, because
# files are decoded to RGB and re-encoded from it, rounding R, G and B (0.447/12) and Y again
# (1/12); libjpeg's integer IDCT adds a little more. Clipping at 0/255 adds rare large errors,
# which OUTLIER_SHARE absorbs (p1 mixes in that much of p0).
ROUNDING_SIGMA = float(np.sqrt(2.45 / 12.0))
OUTLIER_SHARE = 0.05
Q1_MAX = 24
# A mode's best Q1 must gain this much over p0 (nats, at least MIN_GAIN_PER_BLOCK per block) to
# count as evidence: the calibrated p0 is never exact, and a mixture absorbs part of the mismatch
# (single q90 saves gain 10-50 nats over 6000 blocks; a q60 -> q90 double save gains thousands).
MIN_GAIN = 10.0
MIN_GAIN_PER_BLOCK = 0.02
LOG_CLIP = 30.0
NA_WINDOW = 16  # blocks: the neighbourhood (128 px) a pasted grid is looked for in
FLAT_STD = 1.5  # pixel std under which a block is flat (no usable DC phase)
NA_Q_MAX = 24
NA_SEARCH_Q = 16  # DC steps looked for in the grid search (a JPEG at quality >= 50 has DC <= 16)
# The strongest local DC periodicity (z, see local_periodicity) that counts as another grid. Set
# on the generator's web-donor splices of seed 0 (first 16 photos): without another grid the
# maximum over 63 shifts, 23 steps and every window reached 8.4; pasted JPEGs gave 10-13.
NA_MIN_Z = 9.0
NA_MIN_RATIO = 1.2  # ... and at least this much stronger than the next shift (one was 9.87 / 9.86)


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF (Abramowitz & Stegun 7.1.26 erf, |error| < 1.5e-7); no SciPy here."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


@dataclass
class ModeFit:
    mode: tuple[int, int]
    q2: int
    q1: int
    share: float  # EM mixture weight of the double-compressed model
    gain: float  # log-likelihood gain over p0, nats
    informative: bool
    lo: int = 0
    log_lr: np.ndarray = field(default_factory=lambda: np.zeros(1))  # per value x - lo

    def as_dict(self) -> dict:
        return {
            "mode": list(self.mode),
            "q2": self.q2,
            "q1": self.q1,
            "share": round(self.share, 4),
            "gain": round(self.gain, 2),
            "informative": self.informative,
        }


def _mixture_em(h: np.ndarray, p1: np.ndarray, p0: np.ndarray, iterations: int = 40):
    """EM for the weight a of p1 in a*p1 + (1-a)*p0 given counts h; returns (a, gain in nats)."""
    total = h.sum()
    a = 0.5
    for _ in range(iterations):
        mix = a * p1 + (1 - a) * p0
        a = float((h * (a * p1 / mix)).sum() / total)
        a = min(max(a, 1e-4), 1 - 1e-4)
    gain = float((h * (np.log(a * p1 + (1 - a) * p0) - np.log(p0))).sum())
    return a, gain


def double_quantized(calibrated: np.ndarray, q1: int, q2: int, lo: int, size: int) -> np.ndarray:
    """Counts of x when ``calibrated`` is quantized with q1, decoded with rounding noise, then
    quantized with q2 (x = lo .. lo + size - 1)."""
    k_values, k_counts = np.unique(np.rint(calibrated / q1).astype(np.int64), return_counts=True)
    centre = k_values * q1
    out = np.zeros(size)
    base = np.rint(centre / q2).astype(np.int64)
    for offset in (-2, -1, 0, 1, 2):
        x = base + offset
        upper = normal_cdf(((x + 0.5) * q2 - centre) / ROUNDING_SIGMA)
        lower = normal_cdf(((x - 0.5) * q2 - centre) / ROUNDING_SIGMA)
        inside = (x >= lo) & (x < lo + size)
        np.add.at(out, x[inside] - lo, (k_counts * (upper - lower))[inside])
    return out


def fit_aligned_mode(
    observed: np.ndarray, calibrated: np.ndarray, q2: int, mode: tuple[int, int]
) -> ModeFit:
    """Estimate Q1 for one mode and tabulate its log likelihood ratio log p1(x)/p0(x)."""
    single = np.rint(calibrated / q2).astype(np.int64)
    lo = int(min(observed.min(), single.min())) - 2
    size = int(max(observed.max(), single.max())) + 3 - lo
    h = np.bincount(observed - lo, minlength=size).astype(np.float64)
    smooth = 0.5  # additive smoothing: a value never seen in calibration is rare, not impossible
    p0_counts = np.bincount(single - lo, minlength=size).astype(np.float64)
    p0 = (p0_counts + smooth) / (p0_counts.sum() + smooth * size)
    best = ModeFit(mode, q2, q2, 0.0, 0.0, False, lo, np.zeros(size))
    for q1 in range(2, Q1_MAX + 1):
        if q2 % q1 == 0:  # Q1 dividing Q2 (Q1 = Q2 included) leaves p1 equal to p0
            continue
        counts = double_quantized(calibrated, q1, q2, lo, size)
        p1 = (counts + smooth) / (counts.sum() + smooth * size)
        p1 = (1 - OUTLIER_SHARE) * p1 + OUTLIER_SHARE * p0
        share, gain = _mixture_em(h, p1, p0)
        if gain > best.gain:
            best = ModeFit(mode, q2, q1, share, gain, False, lo, np.log(p1) - np.log(p0))
    best.informative = best.gain >= max(MIN_GAIN, MIN_GAIN_PER_BLOCK * observed.size)
    if not best.informative:
        best.log_lr = np.zeros(size)
    return best


def calibrated_coefficients(plane: np.ndarray) -> np.ndarray:
    """Block DCT of the decoded luminance on a grid shifted by 4 pixels both ways."""
    return block_dct(plane[4:, 4:])


def fitted_prior(log_lr: np.ndarray, iterations: int = 60) -> float:
    """The share a of double-compressed blocks maximising prod(a*L + 1 - a) (EM)."""
    ratio = np.exp(np.clip(log_lr, -LOG_CLIP, LOG_CLIP)).ravel()
    if not np.any(log_lr):
        return 0.0
    a = 0.5
    for _ in range(iterations):
        a = float(np.mean(a * ratio / (a * ratio + 1 - a)))
        a = min(max(a, 1e-4), 1 - 1e-4)
    return a


def posterior(log_lr: np.ndarray, prior: float) -> np.ndarray:
    """P(double compressed | block) from its log likelihood ratio and the prior share."""
    if prior <= 0:
        return np.zeros(log_lr.shape, dtype=np.float32)
    logit = np.clip(log_lr, -LOG_CLIP, LOG_CLIP) + np.log(prior / (1 - prior))
    return (1.0 / (1.0 + np.exp(-logit))).astype(np.float32)


@dataclass
class AlignedMap:
    probability: np.ndarray  # blocks_y x blocks_x float32, P(aligned double compression)
    log_lr: np.ndarray
    prior: float
    modes: list[ModeFit]


def clipped_blocks(pixels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Blocks (on the 8x8 grid, ``shape`` blocks) holding an R, G or B value of 0 or 255.

    There the decoder clipped, so the error of the first decompression is far larger than the
    rounding the models assume (measured: every wrongly dark block of a q60 -> q90 photo held one).
    Such blocks carry no evidence either way.
    """
    clipped = ((pixels == 0) | (pixels == 255)).any(axis=2)
    rows, cols = shape
    padded = np.zeros((rows * 8, cols * 8), bool)
    h, w = min(clipped.shape[0], rows * 8), min(clipped.shape[1], cols * 8)
    padded[:h, :w] = clipped[:h, :w]
    return padded.reshape(rows, 8, cols, 8).any(axis=(1, 3))


def neighbourhood(log_lr: np.ndarray, window: int) -> np.ndarray:
    """Sum of the log likelihood ratios over ``window`` x ``window`` blocks around each block.

    Bianchi & Piva decide block by block; a region worth finding spans several blocks, and
    treating its neighbours as independent evidence for the same label (naive Bayes) turns many
    weak single-block ratios into a clear one. window 1 is the paper's map."""
    if window <= 1:
        return log_lr
    return cv2.boxFilter(log_lr.astype(np.float64), -1, (window, window), normalize=False,
                         borderType=cv2.BORDER_REFLECT)  # fmt: skip


def aligned_map(
    luma: LumaCoefficients,
    plane: np.ndarray,
    modes: int,
    unreliable: np.ndarray | None = None,
    cancel=lambda: False,
    window: int = 1,
) -> AlignedMap:
    """The A-DJPG map over the first ``modes`` zigzag modes (DC included); ``unreliable`` blocks
    (e.g. from :func:`clipped_blocks`) get a likelihood ratio of 1."""
    calibrated = calibrated_coefficients(plane)
    coefficients = luma.coefficients
    log_lr = np.zeros(coefficients.shape[:2])
    fits = []
    for r, c in ZIGZAG[:modes]:
        if cancel():
            break
        observed = coefficients[:, :, r, c].astype(np.int64)
        fit = fit_aligned_mode(
            observed.ravel(), calibrated[:, :, r, c].ravel(), int(luma.table[r, c]), (r, c)
        )
        fits.append(fit)
        if fit.informative:
            log_lr += fit.log_lr[observed - fit.lo]
    if unreliable is not None:
        log_lr[unreliable] = 0.0
    log_lr = neighbourhood(log_lr, window)
    prior = fitted_prior(log_lr)
    return AlignedMap(posterior(log_lr, prior), log_lr.astype(np.float32), prior, fits)


# --- non-aligned -------------------------------------------------------------------------------


def error_sigma(table: np.ndarray, calibrated: np.ndarray) -> float:
    """Std of the second compression's error as seen by an off-grid coefficient: the orthonormal
    transform spreads each mode's error (at most Q^2/12, at most the mode's own variance when it
    is mostly quantized to zero) evenly, plus the decoder's rounding."""
    variance = calibrated.reshape(-1, 64).var(axis=0)
    per_mode = np.minimum(table.reshape(64).astype(np.float64) ** 2 / 12.0, variance)
    return float(np.sqrt(per_mode.mean() + 1.0 / 12.0))


def comb_log_lr(values: np.ndarray, q1: int, sigma: float) -> np.ndarray:
    """log(Q1 * wrapped normal density of values mod Q1): > 0 near multiples of Q1."""
    d = values - q1 * np.rint(values / q1)
    density = sum(np.exp(-0.5 * ((d + t * q1) / sigma) ** 2) for t in (-1, 0, 1)) / (
        sigma * np.sqrt(2 * np.pi)
    )
    return np.log(np.maximum(q1 * density, 1e-12))


def fit_comb(values: np.ndarray, sigma: float, q_max: int) -> tuple[int, float, float]:
    """(Q1, share, gain) of the comb best explaining ``values`` against a uniform phase."""
    best = (1, 0.0, 0.0)
    for q1 in range(2, q_max + 1):
        ratio = np.exp(comb_log_lr(values, q1, sigma))
        a = 0.5
        for _ in range(30):
            a = float(np.mean(a * ratio / (a * ratio + 1 - a)))
            a = min(max(a, 1e-4), 1 - 1e-4)
        gain = float(np.log(a * ratio + 1 - a).sum())
        if gain > best[2]:
            best = (q1, a, gain)
    return best


def periodicity(values: np.ndarray, q_max: int) -> float:
    """max over Q in 2..q_max of |mean exp(2 pi i values / Q)| * sqrt(n): about 1 (Rayleigh) for
    values without a lattice, large when they sit near multiples of some Q."""
    steps = np.arange(2, q_max + 1, dtype=np.float32)[:, None]
    phase = (2 * np.pi / steps) * values.astype(np.float32)[None, :]
    magnitude = np.hypot(np.cos(phase).mean(axis=1), np.sin(phase).mean(axis=1))
    return float(magnitude.max() * np.sqrt(values.size))


def local_periodicity(
    dc: np.ndarray, valid: np.ndarray, q_max: int, window: int = NA_WINDOW
) -> tuple[float, tuple[int, int]]:
    """The largest :func:`periodicity` z over every ``window`` x ``window`` block neighbourhood of
    a DC map (box-filtered phase vectors of the ``valid`` blocks): a pasted JPEG covering a few
    percent of the image carries its own grid only there, where a whole-image mean dilutes it."""
    rows, cols = dc.shape
    size = (min(window, cols), min(window, rows))
    weight = valid.astype(np.float32)
    count = cv2.boxFilter(weight, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
    enough = count >= 0.25 * size[0] * size[1]
    if not enough.any():
        return 0.0, (0, 0)
    best, where = 0.0, (0, 0)
    values = dc.astype(np.float32)
    for q in range(2, q_max + 1):
        phase = values * np.float32(2 * np.pi / q)
        cos, sin = cv2.polarToCart(weight, phase)  # weight * (cos, sin), vectorised by OpenCV
        re = cv2.boxFilter(cos, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
        im = cv2.boxFilter(sin, -1, size, normalize=False, borderType=cv2.BORDER_CONSTANT)
        z = np.where(enough, np.sqrt(re * re + im * im) / np.sqrt(np.maximum(count, 1.0)), 0)
        peak = int(np.argmax(z))
        if float(z.flat[peak]) > best:
            best, where = float(z.flat[peak]), divmod(peak, cols)
    return best, where


class BlockSums:
    """Sums and sums of squares of every 8x8 block at any grid shift, from two integral images
    (one pass over the image instead of one per shift)."""

    def __init__(self, plane: np.ndarray):
        values = plane.astype(np.float64)
        self.sums = cv2.integral(values, sdepth=cv2.CV_64F)
        self.squares = cv2.integral(values * values, sdepth=cv2.CV_64F)
        self.height, self.width = plane.shape

    def _blocks(self, table: np.ndarray, r: int, c: int) -> np.ndarray:
        rows, cols = (self.height - r) // 8, (self.width - c) // 8
        ys = r + 8 * np.arange(rows + 1)
        xs = c + 8 * np.arange(cols + 1)
        corner = table[np.ix_(ys, xs)]
        return corner[1:, 1:] - corner[:-1, 1:] - corner[1:, :-1] + corner[:-1, :-1]

    def dc_and_texture(self, r: int, c: int) -> tuple[np.ndarray, np.ndarray]:
        """DC (block sum / 8) of every block on the grid starting at (r, c), and whether the
        block has texture (std >= FLAT_STD): flat blocks share one DC value, which looks periodic
        for any step, so they are left out of the search."""
        total = self._blocks(self.sums, r, c)
        variance = self._blocks(self.squares, r, c) / 64.0 - (total / 64.0) ** 2
        return (total / 8.0).astype(np.float32), variance >= FLAT_STD**2


@dataclass
class NonAlignedMap:
    probability: np.ndarray
    shift: tuple[int, int]
    strength: float  # local periodicity z at the chosen shift
    detected: bool
    modes: list[dict]
    shift_strength: dict[str, float]  # periodicity z of the DC values per shift 'r,c'


def non_aligned_map(
    luma: LumaCoefficients,
    plane: np.ndarray,
    modes: int,
    unreliable: np.ndarray | None = None,
    cancel=lambda: False,
    window: int = 1,
) -> NonAlignedMap:
    """The NA-DJPG map at the grid shift whose DC values show the strongest quantization comb."""
    sigma = error_sigma(luma.table, calibrated_coefficients(plane))
    strength: dict[tuple[int, int], float] = {}
    centres: dict[tuple[int, int], tuple[int, int]] = {}
    sums = BlockSums(plane)
    for r in range(8):
        for c in range(8):
            if (r, c) == (0, 0) or cancel():
                continue
            dc_map, textured = sums.dc_and_texture(r, c)
            strength[(r, c)], centres[(r, c)] = local_periodicity(dc_map, textured, NA_SEARCH_Q)
    shape = luma.coefficients.shape[:2]
    if not strength:
        return NonAlignedMap(np.zeros(shape, np.float32), (0, 0), 0.0, False, [], {})
    ranked = sorted(strength, key=strength.get, reverse=True)
    shift = ranked[0]
    # A real earlier grid is specific to one shift; texture that looks periodic does so at many.
    runner_up = strength[ranked[1]] if len(ranked) > 1 else 0.0
    detected = strength[shift] >= NA_MIN_Z and strength[shift] >= NA_MIN_RATIO * runner_up
    coefficients = block_dct(plane[shift[0] :, shift[1] :])
    # Q1 per mode is fitted where the grid was found (2 windows around the strongest spot): a
    # pasted region's steps, not the background's, whose blocks would outvote it.
    row, col = centres[shift]
    near = np.zeros(coefficients.shape[:2], bool)
    near[max(0, row - NA_WINDOW) : row + NA_WINDOW, max(0, col - NA_WINDOW) : col + NA_WINDOW] = 1
    log_lr = np.zeros(coefficients.shape[:2])
    fits = []
    for index, (r, c) in enumerate(ZIGZAG[:modes]):
        values = coefficients[:, :, r, c]
        usable = np.ones(values.shape, bool) if index == 0 else np.abs(values) >= NA_Q_MAX / 2
        sample = values[usable & near]
        if sample.size < 16:
            continue
        q1, share, gain = fit_comb(sample, sigma, NA_Q_MAX)
        if index > 0:
            usable = np.abs(values) >= q1 / 2
        informative = detected and gain >= MIN_GAIN
        fits.append({"mode": [r, c], "q1": q1, "share": round(share, 4), "gain": round(gain, 2),
                     "informative": informative})  # fmt: skip
        if informative:
            log_lr += np.where(usable, np.clip(comb_log_lr(values, q1, sigma), -4.0, None), 0.0)
    rows, cols = log_lr.shape
    dr, dc_ = int(shift[0] >= 4), int(shift[1] >= 4)
    rows, cols = min(rows, shape[0] - dr), min(cols, shape[1] - dc_)
    on_grid = np.zeros(shape)
    on_grid[dr : dr + rows, dc_ : dc_ + cols] = log_lr[:rows, :cols]
    if unreliable is not None:
        on_grid[unreliable] = 0.0
    on_grid = neighbourhood(on_grid, window)
    prior = fitted_prior(on_grid) if detected else 0.0
    probability = posterior(on_grid, prior)
    return NonAlignedMap(
        probability,
        shift,
        round(strength[shift], 2),
        detected,
        fits,
        {f"{r},{c}": round(g, 2) for (r, c), g in sorted(strength.items())},
    )
