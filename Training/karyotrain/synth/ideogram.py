"""Human chromosome table: relative lengths, centromere positions and fixed G-band patterns.

Relative lengths and centromere indices follow the ISCN averages (chromosome 1 is about 4.4x chromosome 21).
The band patterns are plausible fixed per-chromosome patterns in the spirit of the ISCN 400-band ideogram (pale
telomeric ends, alternating dark and pale bands with about one band pair per 3-4% of the chromosome, the
heterochromatic blocks 1q12, 9q12 and 16q11.2 next to the centromere, stalks and satellites on the acrocentric
short arms); they are not the exact ISCN band coordinates. Each chromosome's pattern is the same in every spread.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# name, relative length (% of the haploid autosome set), centromere index (p / total)
_TABLE = [
    ("1", 8.44, 0.48), ("2", 8.02, 0.39), ("3", 6.83, 0.47), ("4", 6.30, 0.29), ("5", 6.08, 0.29),
    ("6", 5.90, 0.39), ("7", 5.36, 0.39), ("8", 4.93, 0.34), ("9", 4.80, 0.35), ("10", 4.59, 0.32),
    ("11", 4.61, 0.40), ("12", 4.66, 0.27), ("13", 3.74, 0.17), ("14", 3.56, 0.18), ("15", 3.46, 0.19),
    ("16", 3.36, 0.41), ("17", 3.25, 0.34), ("18", 2.93, 0.31), ("19", 2.67, 0.47), ("20", 2.56, 0.45),
    ("21", 1.90, 0.24), ("22", 2.04, 0.26), ("X", 5.12, 0.40), ("Y", 2.15, 0.28),
]
ACROCENTRIC = {"13", "14", "15", "21", "22"}
_HETEROCHROMATIN = {"1": 0.07, "9": 0.08, "16": 0.06}  # q-arm block next to the centromere, fraction of length
PROFILE_SAMPLES = 512  # band profile resolution along the chromosome axis


@dataclass(frozen=True)
class ChromosomeType:
    """One human chromosome: name, relative length (chr1 = 1), centromere index and its stain profile."""

    name: str
    length: float
    centromere: float
    acrocentric: bool
    profile: np.ndarray  # float32 (PROFILE_SAMPLES,), 0 = pale, 1 = darkest G band, p-ter at index 0


def _band_profile(index: int, name: str, rel_length: float, ci: float) -> np.ndarray:
    rng = np.random.default_rng(7919 * (index + 1))
    n_pairs = max(3, int(round(rel_length * 2.6)))
    # band boundaries: alternating pale / dark segments of random width
    widths = rng.uniform(0.5, 1.6, size=2 * n_pairs + 1)
    edges = np.concatenate([[0.0], np.cumsum(widths)])
    edges /= edges[-1]
    stains = np.zeros(len(widths))
    stains[1::2] = rng.uniform(0.5, 1.0, size=n_pairs)  # dark bands
    stains[0::2] = rng.uniform(0.0, 0.14, size=n_pairs + 1)  # pale bands
    x = (np.arange(PROFILE_SAMPLES) + 0.5) / PROFILE_SAMPLES
    seg = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(stains) - 1)
    prof = stains[seg]
    # the first and last segments are pale bands: pale telomeric ends, as in most ISCN ideograms
    # centromere: a modestly stained narrow region
    prof = np.where(np.abs(x - ci) < 0.015, 0.45, prof)
    if name in _HETEROCHROMATIN:
        block = _HETEROCHROMATIN[name]
        prof = np.where((x > ci + 0.01) & (x < ci + 0.01 + block), 0.85, prof)
    if name in ACROCENTRIC:
        # short arm: satellite (dark-ish blob) at the tip, pale stalk, dark-ish proximal p11
        prof = np.where(x < ci * 0.35, 0.55, prof)
        prof = np.where((x >= ci * 0.35) & (x < ci * 0.65), 0.05, prof)
        prof = np.where((x >= ci * 0.65) & (x < ci), 0.5, prof)
    return prof.astype(np.float32)


CHROMOSOMES: dict[str, ChromosomeType] = {}
for _i, (_name, _rel, _ci) in enumerate(_TABLE):
    CHROMOSOMES[_name] = ChromosomeType(
        name=_name, length=_rel / _TABLE[0][1], centromere=_ci, acrocentric=_name in ACROCENTRIC,
        profile=_band_profile(_i, _name, _rel, _ci),
    )

AUTOSOMES = [str(i) for i in range(1, 23)]


def karyotype(count: int, rng: np.random.Generator) -> list[str]:
    """Chromosome names of a cell with `count` chromosomes.

    Diploid 46,XX or 46,XY at 46; whole extra sets for 69 and 92; single gains (trisomies 21, 18, 13 most often)
    or losses for other counts.
    """
    if count < 1:
        raise ValueError(f"a spread needs at least one chromosome, got {count}")
    sex = ["X", "X"] if rng.random() < 0.5 else ["X", "Y"]
    sets = max(1, int(round(count / 23)))
    names: list[str] = []
    for _ in range(max(1, sets // 2)):
        names += [a for a in AUTOSOMES for _ in range(2)] + sex
    if sets % 2 == 1 and sets > 1:
        names += AUTOSOMES + [sex[rng.integers(2)]]
    if sets == 1 and count < 40:
        names = AUTOSOMES + ["X"]
    gain_pool = ["21"] * 4 + ["18"] * 2 + ["13"] * 2 + ["X"] * 2 + AUTOSOMES
    while len(names) < count:
        names.append(gain_pool[rng.integers(len(gain_pool))])
    while len(names) > count:
        names.pop(int(rng.integers(len(names))))
    return names
