"""Collection: the members' week from the X API, at the full rate-limit budget of every key.

``step.collect`` is the pipeline step; ``scheduler`` hands pages to key workers
(``worker``) running in a ``pool`` (Ray actors or threads); ``state`` keeps the
checkpoints that make runs resumable; ``keys`` locates keys without moving them.
"""
