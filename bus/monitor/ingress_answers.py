"""The ingress's answers as the dashboard shows them, read from each ingress's `/metrics`.

    watch = IngressWatch(["http://10.0.0.5:8080"], window_s=300)
    answers = await watch.scrape()        # every scan: counts per status class and per system

The ingress is another process (often several): each counts `bus_ingress_answers_total
{system, status_class}` and serves it at `GET /metrics`. The monitor reads those counters the
way Prometheus does and keeps the growth over the last `window_s` seconds. An ingress that
cannot be read is listed with its error class, never its message.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bus.monitor.window import CounterWindow

__all__ = ["IngressAnswers", "IngressWatch"]

_COUNTER = "bus_ingress_answers"
Series = tuple[str, str]  # (system, status class)


@dataclass(frozen=True)
class IngressAnswers:
    """Ingress answers over the window, summed over every ingress read."""

    window_s: float
    sources: tuple[str, ...] = ()
    unreachable: tuple[tuple[str, str], ...] = ()  # (url, error class)
    counts: dict[Series, int] = field(default_factory=dict)

    def by_class(self) -> dict[str, int]:
        """Answers per status class (`2xx`, `4xx`, `5xx`, ...)."""
        totals: dict[str, int] = {}
        for (_, status_class), n in self.counts.items():
            totals[status_class] = totals.get(status_class, 0) + n
        return totals

    def of_system(self, system: str) -> dict[str, int]:
        """Answers to one system per status class."""
        return {c: n for (s, c), n in self.counts.items() if s == system}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields for the dashboard."""
        return {
            "window_s": self.window_s,
            "sources": list(self.sources),
            "unreachable": [{"url": u, "error_class": e} for u, e in self.unreachable],
            "by_class": dict(sorted(self.by_class().items())),
        }


class IngressWatch:
    """Reads the answer counters of the ingress processes at `urls` on every `scrape()`."""

    def __init__(self, urls: list[str], *, window_s: float = 300.0, timeout_s: float = 3.0) -> None:
        self.urls = [url.rstrip("/") for url in urls]
        self.window_s = window_s
        self._timeout_s = timeout_s
        self._windows = {url: CounterWindow[Series](window_s, absent_is_zero=True) for url in urls}

    async def scrape(self) -> IngressAnswers:
        """Read every ingress once; the answers of the window so far."""
        reached, unreachable = [], []
        async with httpx.AsyncClient(timeout=self._timeout_s) as http:
            for url in self.urls:
                try:
                    response = await http.get(f"{url}/metrics")
                    response.raise_for_status()
                    totals = _answers(response.text)
                except (httpx.HTTPError, ValueError) as exc:
                    unreachable.append((url, type(exc).__name__))
                    continue
                self._windows[url.rstrip("/")].observe(time.time(), totals)
                reached.append(url)
        counts: dict[Series, int] = {}
        for window in self._windows.values():
            for series in window.series():
                grown = int(window.increase(series))
                if grown:
                    counts[series] = counts.get(series, 0) + grown
        return IngressAnswers(self.window_s, tuple(reached), tuple(unreachable), counts)


def _answers(text: str) -> dict[Series, float]:
    """`bus_ingress_answers_total` samples of a Prometheus exposition, per (system, class)."""
    totals: dict[Series, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != _COUNTER:
            continue
        for sample in family.samples:
            if sample.name == f"{_COUNTER}_total":
                key = (sample.labels["system"], sample.labels["status_class"])
                totals[key] = sample.value
    return totals
