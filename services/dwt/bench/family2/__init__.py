"""Family 2: a second independent source whose assumptions break the product's (issue 27).

Written apart from :mod:`dwt.generate` and :mod:`dwt.bench.independent` (nothing shared
but the dataset format the emulator reads). Where the product assumes members interact
along follow edges, members who never tweet are not talked to, replies stay inside a
community, every member has one community, bursts are clean and a community is the same
from one week to the next, this family has interactions with unfollowed accounts, silent
members who are mentioned, *arguers* who reply across more than inside, *bridges* in two
communities, bots that mention most members, noise bursts that should not trend beside
true ones, and a second week in which one community grows and two merge
(:mod:`.world`, :mod:`.week`).

**The product is never tuned on this family**: no default may be chosen by looking at its
figures, and its seeds start at :data:`~.world.FIRST_SEED` (101; lower ones are refused) so
that no tuning run reuses them by accident. Figures are reported, never optimised.

The product runs on it as a user runs it (:mod:`.product`: emulator → ``members add`` →
collect → default pipeline, both weeks in one store) and is scored from the store against
the truth and against Infomap / Leiden on the true relation graph (:mod:`.scoring`)::

    from dwt.bench.family2 import run, score
    score(members=800, communities=8, mixing=0.35, seed=101)  # one seed: a dict
    run(seeds=(101, 102, 103), mixing=0.35)  # {"mean": ..., "worst": ..., "seeds": [...]}
    summary(grid())  # the JSON keys, per aimed mixing (0.2, 0.35, 0.5, 0.63)
"""

from dwt.bench.family2.scoring import MIXINGS, SEEDS, grid, run, score, summary
from dwt.bench.family2.world import FIRST_SEED, Family2Config

__all__ = ["FIRST_SEED", "MIXINGS", "SEEDS", "Family2Config", "grid", "run", "score", "summary"]
