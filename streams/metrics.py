"""Prometheus metrics of the worker.

Names follow the contract: `distillguard_` prefix, base units, `_total` on
counters, and no label whose values grow with traffic (never an account, IP
or fingerprint). Metrics live in the process-wide default registry, created
once at import.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

RECORDS = Counter(
    "distillguard_ingest_records_total",
    "Records read from the input topic, by result (accepted, rejected)",
    ["result"],
)
DEAD_LETTERS = Counter(
    "distillguard_dead_letters_total",
    "Records sent to the dead-letter topic, by reason code",
    ["reason"],
)
EVENTS = Counter(
    "distillguard_events_processed_total",
    "Validated events applied to account state, by outcome (counted, duplicate)",
    ["outcome"],
)
SCORE_TICKS = Counter(
    "distillguard_score_ticks_total", "Account score computations (score ticks)"
)
ALERTS = Counter(
    "distillguard_alerts_total",
    "Alerts sent, by kind, severity and recommended action",
    ["kind", "severity", "action"],
)
MODEL_WARM = Gauge(
    "distillguard_model_warm", "1 once the population anomaly model has finished warm-up"
)
