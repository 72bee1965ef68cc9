"""Distances between two distributions, defined as TFDV's drift comparators define them.

A threshold in drift_thresholds.yaml must mean what it means in a TFDV schema's
drift_comparator, so these follow tensorflow_data_validation/anomalies/metrics.cc:

- numeric: approximate Jensen-Shannon divergence (log base 2, capped at 1) of two
  histograms, after aligning them on the union of their bucket boundaries with mass
  spread uniformly within a bucket; zero-width (point) buckets compared as point
  masses, infinite buckets as mismatching extra buckets (AlignHistograms).
- categorical: L-infinity distance between the two value-frequency vectors, each
  normalized by its own total (LInftyDistance, kSeparateTotal); ties go to the last
  value in sorted order, as std::map iteration with `>=` does.
- PSI (not a TFDV comparator) on the same aligned histograms, for reporting.

Histograms are lists of (low, high, count). Pure functions, no dependencies.
"""

from __future__ import annotations

import math

Bucket = tuple  # (low, high, count)


def _strip(histogram):
  """(finite non-point buckets, {point: mass}, infinite mass)."""
  kept, points, infinite = [], {}, 0.0
  for low, high, count in histogram:
    if not (math.isfinite(low) and math.isfinite(high)):
      infinite += count
    elif low == high:
      points[low] = points.get(low, 0.0) + count
    else:
      kept.append((low, high, count))
  return kept, points, infinite


def _boundaries(histogram) -> set:
  out = set()
  for low, high, _ in histogram:
    out.add(low)
    out.add(high)
  return out


def _rebucket(boundaries: list, histogram) -> list:
  """RebucketHistogram: spreads each bucket over the boundaries it covers."""
  out = []
  last = len(boundaries) - 1
  i = 0
  for low, high, count in histogram:
    while low > boundaries[i]:
      out.append((boundaries[i], boundaries[i + 1], 0.0))
      i += 1
    if low == high and low == boundaries[i]:
      out.append((boundaries[i], boundaries[i + 1], count))
      i += 1
      continue
    covered = []
    while high > boundaries[i]:
      covered.append(boundaries[i])
      i += 1
    covered.append(boundaries[i])
    for a, b in zip(covered, covered[1:]):
      out.append((a, b, (b - a) / (high - low) * count))
  for j in range(i, last):
    out.append((boundaries[j], boundaries[j + 1], 0.0))
  return out


def align_histograms(h1, h2) -> tuple[list, list, list]:
  """AlignHistograms: two count vectors over the same buckets, plus the bucket labels."""
  s1, p1, inf1 = _strip(h1)
  s2, p2, inf2 = _strip(h2)
  b1, b2 = _boundaries(s1), _boundaries(s2)
  if b1 != b2:
    union = sorted(b1 | b2)
    s1, s2 = _rebucket(union, s1), _rebucket(union, s2)
  labels = [(low, high) for low, high, _ in (s1 if len(s1) >= len(s2) else s2)]
  c1, c2 = [c for *_, c in s1], [c for *_, c in s2]
  if not c1:
    c1 = [0.0] * len(c2)
  if not c2:
    c2 = [0.0] * len(c1)
  for point in sorted(set(p1) | set(p2)):
    c1.append(p1.get(point, 0.0))
    c2.append(p2.get(point, 0.0))
    labels.append((point, point))
  if inf1:
    c1.append(inf1)
    c2.append(0.0)
    labels.append((-math.inf, math.inf))
  if inf2:
    c1.append(0.0)
    c2.append(inf2)
    labels.append((-math.inf, math.inf))
  return c1, c2, labels


def _normalize(counts) -> list | None:
  total = sum(counts)
  if total <= 0:
    return None
  return [c / total for c in counts]


def _kl(p, q) -> float:
  return sum(a * math.log2(a / b) for a, b in zip(p, q) if a > 0 and b > 0)


def jensen_shannon_divergence(h1, h2) -> float | None:
  """JSD of two histograms; None when either holds no values (TFDV skips those)."""
  c1, c2, _ = align_histograms(h1, h2)
  p, q = _normalize(c1), _normalize(c2)
  if p is None or q is None:
    return None
  m = [(a + b) / 2 for a, b in zip(p, q)]
  return min((_kl(p, m) + _kl(q, m)) / 2, 1.0)


def l_infinity(counts_a: dict, counts_b: dict) -> tuple[str, float] | None:
  """(value with the largest difference, distance); None when either side is empty."""
  total_a, total_b = sum(counts_a.values()), sum(counts_b.values())
  if total_a <= 0 or total_b <= 0:
    return None
  best_key, best = '', 0.0
  for key in sorted(set(counts_a) | set(counts_b)):
    diff = abs(counts_a.get(key, 0) / total_a - counts_b.get(key, 0) / total_b)
    if diff >= best:
      best_key, best = key, diff
  return best_key, best


def psi(expected, actual, floor: float = 1e-4) -> float | None:
  """Population stability index of two aligned count vectors (natural log)."""
  p, q = _normalize(expected), _normalize(actual)
  if p is None or q is None:
    return None
  total = 0.0
  for a, b in zip(p, q):
    a, b = max(a, floor), max(b, floor)
    total += (b - a) * math.log(b / a)
  return total


def histogram_psi(h1, h2) -> float | None:
  c1, c2, _ = align_histograms(h1, h2)
  return psi(c1, c2)


def frequencies_psi(counts_a: dict, counts_b: dict) -> float | None:
  keys = sorted(set(counts_a) | set(counts_b))
  return psi([counts_a.get(k, 0) for k in keys], [counts_b.get(k, 0) for k in keys])
