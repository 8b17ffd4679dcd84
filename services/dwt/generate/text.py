"""Words, hashtags, names and the vectorised text assembly.

Texts are built from token ids: every tweet is a run of indices into one vocabulary array
(words, ``#tags``, ``@usernames``), and Arrow joins all runs in a single
``binary_join`` call. No per-tweet Python is involved, and the same token runs give the
``mentions`` and ``hashtags`` columns in text order, so text and entities cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

#: Hand-written themes: (name, hashtags, topic words). Communities draw distinct themes;
#: past the list, syllable-made topics are invented (still unique).
# fmt: off
THEMES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("networks", ("networks", "infomap", "graphs", "netsci", "complexity", "modularity"),
     ("flow", "clusters", "edges", "nodes", "random", "walk", "community", "structure",
      "entropy", "layers", "hubs", "paths")),
    ("climate", ("climate", "energy", "netzero", "solar", "heatwave", "emissions"),
     ("carbon", "warming", "grid", "wind", "policy", "storage", "ocean", "ice", "forecast",
      "targets", "panels", "drought")),
    ("football", ("football", "premierleague", "ucl", "transfers", "matchday", "var"),
     ("goal", "striker", "keeper", "derby", "table", "penalty", "lineup", "coach", "pitch",
      "fans", "league", "tactics")),
    ("jazz", ("jazz", "bebop", "vinyl", "livemusic", "saxophone", "newrelease"),
     ("groove", "trio", "album", "solo", "chords", "swing", "record", "session", "stage",
      "rhythm", "tenor", "ballad")),
    ("python", ("python", "numpy", "pandas", "opensource", "pytest", "packaging"),
     ("release", "typing", "library", "wheel", "bug", "refactor", "arrays", "docs",
      "profiler", "async", "module", "speedup")),
    ("gardening", ("gardening", "compost", "seedlings", "permaculture", "houseplants",
                   "allotment"),
     ("soil", "tomatoes", "roots", "harvest", "mulch", "weeds", "seeds", "greenhouse",
      "pruning", "bulbs", "bees", "rain")),
    ("space", ("space", "astronomy", "nasa", "exoplanets", "launch", "jwst"),
     ("orbit", "rocket", "galaxy", "telescope", "nebula", "moon", "mars", "booster", "comet",
      "spectra", "satellite", "eclipse")),
    ("cooking", ("cooking", "recipes", "baking", "sourdough", "foodie", "vegan"),
     ("flour", "oven", "garlic", "spices", "dough", "broth", "noodles", "crust", "sauce",
      "kitchen", "butter", "roast")),
    ("crypto", ("crypto", "bitcoin", "ethereum", "defi", "web3", "stablecoins"),
     ("wallet", "chain", "tokens", "halving", "miners", "ledger", "fees", "bridge", "yield",
      "custody", "exchange", "protocol")),
    ("publichealth", ("publichealth", "epidemiology", "vaccines", "globalhealth", "outbreak",
                      "medtwitter"),
     ("cases", "trial", "cohort", "incidence", "clinics", "dose", "study", "variant",
      "surveillance", "nurses", "equity", "data")),
    ("urbanism", ("urbanism", "transit", "cycling", "housing", "zoning", "walkable"),
     ("trams", "streets", "density", "bikes", "rents", "buses", "plaza", "commute",
      "lanes", "parking", "blocks", "councils")),
    ("gaming", ("gaming", "indiegames", "speedrun", "esports", "retrogaming", "gamedev"),
     ("level", "boss", "patch", "controller", "pixel", "quest", "stream", "speedrunner",
      "console", "demo", "mods", "tournament")),
)
GENERAL_TAGS = ("news", "thread", "monday", "weekend", "tbt", "goodmorning")
FILLER_WORDS = (
    "this", "new", "great", "thread", "today", "really", "about", "the", "and", "some",
    "notes", "read", "week", "thoughts", "why", "how", "big", "small", "again", "finally",
    "honestly", "good", "bad", "interesting", "quick", "take", "more", "less", "look",
    "here", "best", "worst",
)
SYLLABLES = (
    "ka", "lo", "mi", "ra", "ven", "tor", "li", "sa", "dru", "fen", "bel", "mo", "ri", "ta",
    "zan", "ko", "el", "nor", "pa", "qui", "sel", "thi", "vo", "wen", "ya", "ju", "mar",
    "os", "den", "fa", "gri", "hal", "is", "lum", "ne", "or", "pe", "rud", "sto", "ul",
    "vi", "xa", "bo", "cla", "di", "em", "far", "gu", "ho", "kel", "lan", "mei", "nu",
    "ob", "pri", "rin", "shi", "tam", "ur", "zo",
)
OUTSIDER_SUFFIXES = ("News", "Daily", "HQ", "Official", "Media", "Lab", "Live", "Report")
# fmt: on
TAGS_PER_TOPIC = 6
WORDS_PER_TOPIC = 12
MAX_USERNAME = 15


@dataclass(frozen=True)
class Topics:
    """Topic vocabularies: rows 0..K-1 are the communities', row K the general one."""

    names: list[str]
    tags: list[list[str]]  # K + 1 rows of TAGS_PER_TOPIC tags (no '#')
    words: list[list[str]]  # K + 1 rows of WORDS_PER_TOPIC words

    @property
    def flat_tags(self) -> list[str]:
        return [tag for row in self.tags for tag in row]

    @property
    def flat_words(self) -> list[str]:
        return [word for row in self.words for word in row]


def make_topics(rng: np.random.Generator, communities: int) -> Topics:
    """Give each community its own theme (hashtags + words), all hashtags distinct."""
    order = rng.permutation(len(THEMES))
    names: list[str] = []
    tags: list[list[str]] = []
    words: list[list[str]] = []
    used = set(GENERAL_TAGS)
    for k in range(communities):
        if k < len(THEMES):
            name, theme_tags, theme_words = THEMES[order[k]]
            row_tags = list(theme_tags)
            row_words = list(theme_words)
        else:
            name = _fresh_words(rng, 1, used)[0]
            row_tags = [name, *_fresh_words(rng, TAGS_PER_TOPIC - 1, used)]
            row_words = _syllable_words(rng, WORDS_PER_TOPIC, 2, 3)
        used.update(row_tags)
        names.append(name)
        tags.append(row_tags)
        words.append(row_words)
    names.append("general")
    tags.append(list(GENERAL_TAGS))
    words.append(list(FILLER_WORDS[:WORDS_PER_TOPIC]))
    return Topics(names=names, tags=tags, words=words)


def _syllable_words(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[str]:
    lengths = rng.integers(lo, hi + 1, size=n)
    picks = rng.integers(0, len(SYLLABLES), size=int(lengths.sum()))
    out: list[str] = []
    pos = 0
    for length in lengths:  # a handful of words per invented topic, not per tweet
        out.append("".join(SYLLABLES[i] for i in picks[pos : pos + length]))
        pos += length
    return out


def _fresh_words(rng: np.random.Generator, n: int, used: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        for word in _syllable_words(rng, n - len(out), 3, 4):
            if word not in used and word not in out:
                out.append(word)
    return out


def join_tokens(vocab: pa.Array, tokens: np.ndarray, counts: np.ndarray, sep: str) -> pa.Array:
    """Join runs of vocabulary tokens: row i is ``sep.join(vocab[t] for t in its run)``."""
    offsets = np.zeros(counts.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    values = vocab.take(pa.array(tokens, type=pa.int64()))
    lists = pa.LargeListArray.from_arrays(pa.array(offsets), values)
    return pc.binary_join(lists, sep)


def usernames(rng: np.random.Generator, n: int) -> list[str]:
    """``n`` distinct, readable handles (syllables, sometimes a number), at most 15 chars."""
    vocab = pa.array(SYLLABLES)
    counts = rng.choice([2, 3, 4], p=[0.45, 0.4, 0.15], size=n)
    tokens = rng.integers(0, len(SYLLABLES), size=int(counts.sum()))
    names = np.array(join_tokens(vocab, tokens, counts, "").to_pylist(), dtype=object)
    suffixed = rng.random(n) < 0.3
    numbers = rng.integers(1, 100, size=n).astype(str)
    names[suffixed] = names[suffixed] + numbers[suffixed]
    for _ in range(50):
        _, first, inverse = np.unique(names, return_index=True, return_inverse=True)
        dup = np.flatnonzero(first[inverse] != np.arange(n))
        if dup.size == 0:
            return [str(name) for name in names]
        extra = rng.integers(0, 1000, size=dup.size).astype(str)
        names[dup] = np.array([str(s)[: MAX_USERNAME - 4] for s in names[dup]], dtype=object)
        names[dup] = names[dup] + np.char.add("_", extra).astype(object)
    raise RuntimeError("could not make usernames unique")  # pragma: no cover


def display_names(rng: np.random.Generator, n: int, suffixes: tuple[str, ...] = ()) -> pa.Array:
    """Capitalised syllable names: 'First Last', or 'Word Suffix' for organisations."""
    vocab = pa.array(SYLLABLES)
    first = pc.utf8_capitalize(
        join_tokens(vocab, rng.integers(0, len(SYLLABLES), 2 * n), np.full(n, 2), "")
    )
    if suffixes:
        second = pa.array(suffixes).take(pa.array(rng.integers(0, len(suffixes), n)))
    else:
        counts = rng.integers(2, 4, size=n)
        tokens = rng.integers(0, len(SYLLABLES), int(counts.sum()))
        second = pc.utf8_capitalize(join_tokens(vocab, tokens, counts, ""))
    return pc.binary_join_element_wise(first, second, " ")


def segments(counts: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Row offsets of runs made of consecutive segments, and where each segment starts.

    ``counts[s][i]`` is the length of segment ``s`` in row ``i``; returns the row offsets
    (length rows + 1) and, per segment, the flat position of each of its elements (row
    order, then element order), ready for ``flat[pos] = values``.
    """
    total = np.sum(counts, axis=0)
    offsets = np.zeros(total.shape[0] + 1, dtype=np.int64)
    np.cumsum(total, out=offsets[1:])
    before = offsets[:-1].copy()
    positions = []
    for seg in counts:
        positions.append(expand_positions(before, seg))
        before += seg
    return offsets, positions


def expand_positions(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concat(range(starts[i], starts[i] + counts[i]))`` without a Python loop."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    run_start = np.repeat(np.cumsum(counts) - counts, counts)
    return np.repeat(np.asarray(starts, dtype=np.int64), counts) + (
        np.arange(total, dtype=np.int64) - run_start
    )
