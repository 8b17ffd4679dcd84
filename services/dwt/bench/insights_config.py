"""The sizes and goals of ``dwt bench insights`` (:mod:`dwt.bench.insights`), apart so that
every section's module can take a :class:`Config`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from dwt.bench import family2
from dwt.bench.follow_modes import WEEKLY_CHURN
from dwt.bench.independent import grid as independent_grid

Echo = Callable[[str], None]

GOAL_SPEEDUP = 500.0
GOAL_SCALE_S = 120.0
GOAL_STORE_SHARE = 0.5
GOAL_RSS_MB = 4096.0
GOAL_ARI = 0.99
GOAL_LFR_NMI = 0.95
GOAL_LFR_MU = 0.5
# Issue 15, on the independent source with the default spec.
GOAL_INDEPENDENT_NMI = {0.35: 0.95, 0.5: 0.85}  # NMI at mixing <= key
GOAL_CLUSTER_RATIO = 1.5
# Issue 27: product NMI / Infomap-on-the-true-graph NMI, at aimed mixing <= key.
GOAL_VS_ORACLE = {0.5: 0.98}
GOAL_VS_ORACLE_STRONG = (0.63, 0.9)  # (aimed mixing, goal) on family 2
GOAL_BURSTS = 0.9  # burst precision and recall, thread and topic bursts together


@dataclass(frozen=True)
class Config:
    """Sizes of every case; :meth:`quick` is the CI-sized variant, tests go smaller still."""

    speed_members: tuple[int, ...] = (1_000, 3_000)
    speed_communities: int = 8
    tweets_per_member: float = 100.0
    original_budget_s: float = 25.0  # prototype time per size before extrapolating
    timing_repeats: int = 3  # the stage's time is the median of this many runs
    use_ray: bool = True
    # Members write ~97.7% of generated tweets: 103 a member gives >= 10^6 member tweets.
    scale_members: int | None = 10_000
    scale_communities: int = 12
    scale_tweets_per_member: float = 103.0
    pipeline_members: tuple[int, ...] = (1_000, 10_000)  # on the embedded store
    wire_members: tuple[int, ...] = (30,)  # DWT_BENCH_WIRE_URL; FerretDB 1.24 writes: quadratic
    quality_seeds: tuple[int, ...] = (0, 1, 2)
    quality_members: int = 300  # generate_community()'s defaults otherwise
    quality_communities: int = 6
    lfr_n: int = 1_000
    lfr_mus: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    lfr_graphs: int = 3  # LFR realisations per μ
    lfr_average_degree: float = 20.0
    lfr_max_degree: int = 50
    lfr_tau1: float = 2.0
    lfr_tau2: float = 1.1  # networkx needs tau2 > 1
    lfr_min_community: int = 10
    lfr_max_community: int = 50
    independent_mixings: tuple[float, ...] = independent_grid.MIXINGS
    independent_seeds: tuple[int, ...] = independent_grid.REPORTED_SEEDS
    independent_members: int = 400
    # (noise, activity) cases run at the middle mixing besides the base ones, on fewer seeds
    independent_variants: tuple[tuple[float, float], ...] = independent_grid.VARIANTS
    independent_variant_seeds: tuple[int, ...] = independent_grid.REPORTED_SEEDS[:2]
    # Old or missing follow lists (dwt.bench.follow_modes), in-process stages: ~5 s a week.
    follow_mode_mixings: tuple[float, ...] = (0.2, 0.35, 0.5)
    follow_mode_seeds: tuple[int, ...] = independent_grid.REPORTED_SEEDS
    follow_mode_members: int = 400
    follow_churn: float = WEEKLY_CHURN  # its docstring says why this rate
    # Family 2 (dwt.bench.family2), run as a user runs the product: ~45 s a seed and mixing.
    family2_mixings: tuple[float, ...] = family2.MIXINGS
    family2_seeds: tuple[int, ...] = family2.SEEDS
    family2_members: int = 800
    family2_communities: int = 8
    seed: int = 1
    quick: bool = False

    @classmethod
    def quick_config(cls, seeds: int = 3) -> Config:
        """For CI: no 3,000-member comparison, a 1,000-member scale row, fewer LFR runs,
        one seed of family 2."""
        return cls(
            speed_members=(1_000,),
            original_budget_s=8.0,
            use_ray=False,
            scale_members=1_000,
            scale_communities=8,
            scale_tweets_per_member=100.0,
            pipeline_members=(1_000,),
            quality_seeds=tuple(range(seeds)),
            lfr_mus=(0.1, 0.3, 0.5, 0.7),
            lfr_graphs=1,
            independent_seeds=(1,),
            independent_variants=(),
            follow_mode_mixings=(0.35,),
            follow_mode_seeds=independent_grid.REPORTED_SEEDS[:1],
            family2_seeds=family2.SEEDS[:1],
            quick=True,
        )


def configure(
    quick: bool = False, seeds: int = 3, use_ray: bool | None = None, **overrides: Any
) -> Config:
    """The CLI's configuration: full or quick, ``seeds`` quality seeds, then overrides
    (any :class:`Config` field; tests use them to run every section in seconds)."""
    config = Config.quick_config(seeds) if quick else Config(quality_seeds=tuple(range(seeds)))
    if use_ray is not None:
        overrides["use_ray"] = use_ray
    return replace(config, **overrides)
