"""An evaluation source independent of ``dwt generate`` (issue 15), and the scoring of the
product *as run* on it.

``dwt generate`` and the stages were tuned together, so scoring the product on that
generator's data flatters it. This package draws weeks another way (:mod:`.world`: a
degree-corrected stochastic block model with noisy, asymmetric follows, heavy-tailed
activity with silent members, interactions aimed at graph neighbours, planted topic and
thread bursts) and keeps the truth in a separate :class:`~.world.Plan`, never in a field the
product reads. :mod:`.product` serves the week from the X API emulator, collects it with
the real collector and runs the default pipeline; :mod:`.score` compares what the store
holds with the plan.
"""

from dwt.bench.independent.world import Plan, WorldConfig, generate_world

__all__ = ["Plan", "WorldConfig", "generate_world"]
