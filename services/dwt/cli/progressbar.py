"""A progress bar for long steps on an interactive terminal (tqdm on stderr)."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm


class StepBars:
    """One tqdm bar per step that reports progress; closed when the step reports done."""

    def __init__(self) -> None:
        self._bars: dict[str, tqdm] = {}

    def __call__(self, step: str, done: int, total: int | None, extra: dict[str, Any]) -> None:
        bar = self._bars.get(step)
        if bar is None:
            bar = self._bars[step] = tqdm(
                total=total,
                desc=step,
                unit="acct",
                file=sys.stderr,
                leave=True,
                dynamic_ncols=True,
            )
        bar.total = total
        bar.n = done
        postfix = {k: extra[k] for k in ("tweets", "requests") if k in extra}
        if extra.get("waiting_s"):
            postfix["wait"] = f"{extra['waiting_s']}s"
        if extra.get("eta_s") is not None:
            postfix["eta"] = f"{extra['eta_s']:.0f}s"
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()
        if total is not None and done >= total:
            bar.close()
            del self._bars[step]

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
        self._bars.clear()
