"""One price table (``dwt.xapi.prices``) and one limits table (``dwt.xapi.endpoints``): the
emulator's defaults, the benchmark's ratios, the spec's defaults, the docs and the comments
that quote a limit or a price must all say what those tables say (issue 25: the limits of
2021–22 recordings had stayed in four places after X changed them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dwt.bench.collect import REAL, scaled_limits
from dwt.pipeline.spec import Collection
from dwt.xapi.emulator import EmulatorConfig
from dwt.xapi.emulator.billing import Billing
from dwt.xapi.endpoints import DEFAULT_LIMITS, ENDPOINTS, LIMITS_AS_OF, LIMITS_SOURCE
from dwt.xapi.prices import (
    MONTHLY_POST_CAP,
    PRICES,
    PRICES_AS_OF,
    PRICES_SOURCE,
    Resource,
    Tariff,
)

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "cost.md"
#: Files whose comments and docs quote limits or prices.
QUOTING = [
    "services/dwt/xapi/endpoints.py",
    "services/dwt/xapi/prices.py",
    "services/dwt/xapi/client.py",
    "services/dwt/pipeline/spec.py",
    "services/dwt/collect/state.py",
    "services/dwt/collect/scheduler.py",
    "services/dwt/pipeline/estimate.py",
    "services/dwt/pipeline/collection.py",
    "services/dwt/bench/collect.py",
    "README.md",
    "docs/cost.md",
    "operator/README.md",
]
#: A sentence naming an older plan or recording may quote its numbers.
LEGACY = re.compile(r"legacy|record|2021|older|Basic|Pro\b|scaled|compress", re.I)


def _markdown_rows(text: str, header: str) -> list[list[str]]:
    """The rows of the markdown table whose header line starts with ``header``."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return rows


def test_the_docs_table_of_prices_is_the_code_table():
    text = DOC.read_text()
    rows = _markdown_rows(text, "| resource |")
    assert {r[0]: float(r[2]) for r in rows} == {r.value: p for r, p in PRICES.items()}
    assert f"{MONTHLY_POST_CAP:,}" in text and PRICES_SOURCE in text
    assert PRICES_AS_OF in text


def test_the_docs_table_of_limits_is_the_code_table():
    text = DOC.read_text()
    rows = _markdown_rows(text, "| endpoint |")
    documented = {r[1]: int(r[2].replace(",", "")) for r in rows}
    assert documented == DEFAULT_LIMITS
    assert {r[1]: r[0].removeprefix("GET ") for r in rows} == {
        name: route for name, (route, _) in ENDPOINTS.items()
    }
    assert LIMITS_SOURCE in text and LIMITS_AS_OF in text


def test_the_emulator_serves_and_bills_the_tables():
    config = EmulatorConfig(tokens=("t",))
    assert {name: config.limit_of(name) for name in ENDPOINTS} == DEFAULT_LIMITS
    assert config.monthly_post_cap == MONTHLY_POST_CAP
    assert Billing().prices == PRICES
    assert Tariff().limits == DEFAULT_LIMITS and Tariff().prices == PRICES


def test_the_benchmark_keeps_the_tables_ratios():
    assert {name: DEFAULT_LIMITS[name] for name in REAL} == REAL
    assert scaled_limits(DEFAULT_LIMITS["following"]) == REAL
    scaled = scaled_limits(5)
    ratio = DEFAULT_LIMITS["user_tweets"] / DEFAULT_LIMITS["following"]
    assert scaled["user_tweets"] == round(5 * ratio)


def test_the_spec_defers_to_the_tables():
    """No price or limit default in the spec: unset means the account's, else X's."""
    collection = Collection()
    assert collection.prices.given() == {} and collection.rate_limits.given() == {}
    assert collection.monthly_post_cap is None


def _sentences(path: Path) -> list[str]:
    text = path.read_text()
    text = re.sub(r"^\s*(#:?|\*|//)\s?", " ", text, flags=re.M)  # comment markers
    text = re.sub(r"\s+", " ", text)
    return re.split(r"(?<=[.;:!?])\s+(?=[A-Z(`\-*])|\"\"\"", text)  # a docstring ends one


def _numbers(sentence: str) -> set[int]:
    """Whole numbers of 10 and more in ``sentence``, but years and the window itself."""
    sentence = re.sub(r"\b15[ -]?min(?:ute)?s?|\b15/15|\b900[ -]?s\b", " ", sentence)
    found = set()
    for match in re.finditer(r"(?<![\w.$/-])(\d{1,3}(?:,\d{3})+|\d+)(?![\w.%-]|,\d)", sentence):
        value = int(match.group(1).replace(",", ""))
        if value >= 10 and not 1990 <= value <= 2100:  # years
            found.add(value)
    return found


def _stale(sentences: list[str]) -> list[str]:
    limits = set(DEFAULT_LIMITS.values())
    prices = {f"{p:.3f}" for p in PRICES.values()} | {f"{p:g}" for p in PRICES.values()}
    stale = []
    for sentence in sentences:
        if LEGACY.search(sentence):
            continue
        window = re.search(r"per 15 min|15-minute|/15 ?min|per 15\s*minutes", sentence)
        if window and re.search(r"request|timeline|following|lookup|limit", sentence, re.I):
            wrong = _numbers(sentence) - limits
            if wrong:
                stale.append(f"limit(s) {sorted(wrong)}: {sentence[:160]}")
        for price in re.findall(r"\$(0\.\d+)\b", sentence):
            if price not in prices:
                stale.append(f"price ${price}: {sentence[:160]}")
    return stale


def test_the_check_finds_stale_numbers():
    """The checker below would have caught what issue 25 found."""
    assert _stale(["The following endpoint allows 15 requests per 15 minutes per key."])
    assert _stale(["User timelines allow 1,500 requests per 15 minutes."])
    assert _stale(["X charges $0.004 per post read."])
    assert not _stale(["Following allows 300 requests per 15 minutes, timelines 10,000."])
    assert not _stale(["A legacy Pro plan allows 15 requests per 15 minutes."])


@pytest.mark.parametrize("name", QUOTING)
def test_comments_and_docs_quote_the_tables(name):
    """Every sentence quoting a per-window limit quotes one of the table's (unless it says
    it is about a legacy plan, a recording or the bench's scaled limits), and every price
    per resource is one of the table's."""
    stale = _stale(_sentences(ROOT / name))
    assert not stale, "\n".join(stale)
    text = (ROOT / name).read_text()
    assert "pricePerRead" not in text and "price_per_read" not in text


def test_every_endpoint_is_priced():
    from dwt.xapi.prices import BILLED_AS

    assert set(BILLED_AS) == set(ENDPOINTS)
    assert set(BILLED_AS.values()) == set(Resource)
