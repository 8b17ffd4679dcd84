"""The synthetic community generator behind ``dwt generate`` and the local X API emulator.

It plants what the pipeline must find (sub-communities, hot outsiders, topics, trending
bursts) into a realistic week of tweets and follows, and records that truth in the
dataset's ``meta`` and truth columns, so every stage can be tested against it.
"""

from dwt.generate.generator import (
    DEFAULT_NOW,
    GENERATOR_VERSION,
    GenerateError,
    generate_community,
)

__all__ = ["DEFAULT_NOW", "GENERATOR_VERSION", "GenerateError", "generate_community"]
