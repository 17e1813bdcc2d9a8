"""Prometheus metrics of the chat server, in a registry of its own (no global state).

- ``xprompt_http_requests_total{path,method,status}`` and
  ``xprompt_http_request_duration_seconds{path}``: every HTTP request;
- ``xprompt_http_requests_in_flight``;
- ``xprompt_replies_total{lang,verdict}``: every delivered choice by reply
  language and the final check's verdict (``on``, ``off``, ``uncertain``,
  ``unchecked``), and ``xprompt_off_target_rate{lang}``, the share of checked
  choices that were delivered off-target;
- ``xprompt_reply_retries_total{lang}``, ``xprompt_reply_pivots_total{lang}``;
- ``xprompt_stream_hold_seconds``: how long streams were held back by the guard;
- ``xprompt_tokens_total{kind}``: prompt and completion tokens;
- ``xprompt_engine_requests``: requests the engine holds (read at scrape time).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class ServerMetrics:
    """Counters, histograms and gauges of one server."""

    def __init__(self, engine_requests: Callable[[], float] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "xprompt_http_requests",
            "HTTP requests by route, method and status",
            ["path", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "xprompt_http_request_duration_seconds",
            "HTTP request latency (until the last byte of the response)",
            ["path"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "xprompt_http_requests_in_flight", "HTTP requests being served", registry=r
        )
        self.replies = Counter(
            "xprompt_replies",
            "Delivered choices by reply language and final language-check verdict",
            ["lang", "verdict"],
            registry=r,
        )
        self.off_rate = Gauge(
            "xprompt_off_target_rate",
            "Share of checked choices delivered off-target, by reply language",
            ["lang"],
            registry=r,
        )
        self.retries = Counter(
            "xprompt_reply_retries", "Retries with a firmer instruction", ["lang"], registry=r
        )
        self.pivots = Counter(
            "xprompt_reply_pivots", "Replies answered through the pivot", ["lang"], registry=r
        )
        self.hold = Histogram(
            "xprompt_stream_hold_seconds",
            "Time a stream was held back by the language guard before its first byte",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "xprompt_tokens",
            "Tokens processed (prompt) and generated (completion)",
            ["kind"],
            registry=r,
        )
        if engine_requests is not None:
            gauge = Gauge(
                "xprompt_engine_requests",
                "Requests the engine holds (queued or running)",
                registry=r,
            )
            gauge.set_function(engine_requests)
        self._checked: dict[str, list[int]] = {}

    def record_http(self, path: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(path, method, str(status)).inc()
        self.latency.labels(path).observe(seconds)

    def record_reply(
        self, lang: str | None, outcome: dict[str, Any], prompt: int, completion: int
    ) -> None:
        """Count one request's choices (the ``xprompt`` outcome) and tokens."""
        label = lang or "und"
        for choice in outcome["choices"]:
            check = choice.get("check")
            verdict = check["verdict"] if check else "unchecked"
            self.replies.labels(label, verdict).inc()
            if choice.get("retries"):
                self.retries.labels(label).inc(choice["retries"])
            if choice.get("pivot"):
                self.pivots.labels(label).inc()
            if check:
                counts = self._checked.setdefault(label, [0, 0])
                counts[0] += verdict == "off"
                counts[1] += 1
                self.off_rate.labels(label).set(counts[0] / counts[1])
        self.tokens.labels("prompt").inc(prompt)
        self.tokens.labels("completion").inc(completion)

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)
