"""The statistics of an ablation table, from scipy, each a function a test checks by hand.

- An arm's interval: the 95% t-interval of the mean over seeds (t_{0.975, n-1} * s / sqrt(n)), or its
  standard deviation with --interval std. None for n < 2: one seed has no spread.
- A comparison of two arms: when they share at least two seeds, the paired mean difference over the
  shared seeds, its 95% t-interval and the paired t-test p (paired seeds see the same data order,
  augmentation and initial weights, so pairing removes that noise); otherwise Welch's unequal-variance
  t-test on all their seeds, marked as such. Too few seeds for either: the difference on the one seed
  both ran (paired, untested), else the difference of the means (untested).
- Holm-Bonferroni adjusted p-values across the comparisons of one table.
- P(A > B): over paired seeds, the fraction where A beat B (ties count half); unpaired, the
  probability that a random seed of A beats one of B (Mann-Whitney U / (n_A n_B)).
- The smallest resolvable difference: the true difference this design would detect with 80% power at
  the table's corrected level, given the observed spread: (t_{1 - alpha/2m, df} + t_{0.80, df}) * SE,
  with the SE and df of the test above and m the table's tested comparisons. Holm's correction rejects
  every p below alpha/m whatever the other p-values (a p at rank k is tested at alpha/(m - k + 1), and
  every p before it is smaller), so a difference this large is resolved by the table as published; at
  the unadjusted alpha it would promise what the Holm-adjusted verdicts cannot keep. A "no effect"
  smaller than it only means too few seeds.
"""

from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass

from scipy import stats

from resnet.summary import noiseless

ALPHA = 0.05
POWER = 0.80


def mean(values: list[float]) -> float:
    return sum(values) / len(values)


def half_width(values: list[float], kind: str = "ci95") -> float | None:
    """Half the width of the 95% t-interval of the mean ('ci95'), or the sample standard deviation ('std')."""
    n = len(values)
    if n < 2:
        return None
    sd = statistics.stdev(values)
    return sd if kind == "std" else float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))


@dataclass(frozen=True)
class Comparison:
    kind: str  # "paired", "welch"; no test: "single" (the one seed both ran), "none" (no seed shared)
    diff: float  # mean of a minus mean of b (paired: mean of the differences)
    n: int  # paired: shared seeds; otherwise the smaller arm's n
    low: float | None = None
    high: float | None = None
    p: float | None = None
    p_superior: float | None = None
    se: float | None = None  # of the difference; None without spread
    df: float | None = None

    @property
    def tested(self) -> bool:
        """Paired or Welch: a test, with an interval (kinds 'single' and 'none' have neither)."""
        return self.low is not None and self.high is not None

    @property
    def no_spread(self) -> bool:
        """Every seed gave the same difference: its interval has zero width and there is nothing to test."""
        return self.low is not None and self.low == self.high


def resolvable_difference(test: Comparison, comparisons: int) -> float | None:
    """The smallest true difference `test` detects with 80% power when the table corrects for
    `comparisons` tests (module docstring); None without a test."""
    if test.se is None or test.df is None or comparisons < 1:
        return None
    level = 1 - ALPHA / (2 * comparisons)
    return float((stats.t.ppf(level, test.df) + stats.t.ppf(POWER, test.df)) * test.se)


def compare(a: dict[int, float], b: dict[int, float]) -> Comparison | None:
    """Arm a against arm b, each {seed: value}; None when either has no value."""
    if not a or not b:
        return None
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        return paired([a[s] for s in shared], [b[s] for s in shared])
    if len(a) >= 2 and len(b) >= 2:
        return welch(list(a.values()), list(b.values()))
    if shared:  # the seed both ran: the difference of the means would add the other arm's other seeds
        return Comparison("single", noiseless(a[shared[0]] - b[shared[0]]), 1)
    return Comparison("none", mean(list(a.values())) - mean(list(b.values())), min(len(a), len(b)))


def paired(a: list[float], b: list[float]) -> Comparison:
    diffs = [noiseless(x - y) for x, y in zip(a, b, strict=True)]
    n, d = len(diffs), mean(diffs)
    se = statistics.stdev(diffs) / math.sqrt(n)
    superior = (sum(x > 0 for x in diffs) + 0.5 * sum(x == 0 for x in diffs)) / n
    if se == 0:  # identical differences (a coarse test set): no spread to test against
        return Comparison("paired", d, n, d, d, None, superior)
    t975 = float(stats.t.ppf(1 - ALPHA / 2, n - 1))
    p = _quiet(lambda: float(stats.ttest_1samp(diffs, 0.0).pvalue))  # = ttest_rel(a, b), on the rounded diffs
    return Comparison("paired", d, n, d - t975 * se, d + t975 * se, p, superior, se, n - 1)


def welch(a: list[float], b: list[float]) -> Comparison:
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    d, se = mean(a) - mean(b), math.sqrt(va + vb)
    superior = _quiet(
        lambda: float(stats.mannwhitneyu(a, b, alternative="two-sided").statistic / (len(a) * len(b)))
    )
    if se == 0:
        return Comparison("welch", d, min(len(a), len(b)), d, d, None, superior)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    t975 = float(stats.t.ppf(1 - ALPHA / 2, df))
    p = _quiet(lambda: float(stats.ttest_ind(a, b, equal_var=False).pvalue))
    return Comparison("welch", d, min(len(a), len(b)), d - t975 * se, d + t975 * se, p, superior, se, df)


def _quiet(compute):
    """scipy warns about precision when values are nearly identical; the result is still the right one."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return compute()


def holm(pvalues: list[float | None]) -> list[float | None]:
    """Holm-Bonferroni: the k-th smallest of m p-values times (m - k + 1), made monotone, capped at 1.
    None (no test) stays None and does not count towards m."""
    tested = sorted((p, i) for i, p in enumerate(pvalues) if p is not None)
    m = len(tested)
    adjusted: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, (p, i) in enumerate(tested):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[i] = running
    return adjusted
