"""Prometheus metrics of the worker.

Names follow the contract: `distillguard_` prefix, base units, `_total` on
counters, and no label whose values grow with traffic (never an account, IP
or fingerprint; partitions are bounded by the topic's partition count).
Metrics live in the process-wide default registry, created once at import.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from prometheus_client import Counter, Gauge, Histogram, Info

from distillguard.models.compiled import implementation

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
    "Validated events applied to account state, by outcome (counted; late: counted, but beyond "
    "the late tolerance and so kept out of the timing statistics; duplicate: dropped)",
    ["outcome"],
)
EVENT_TIME_LAG = Gauge(
    "distillguard_event_time_lag_seconds",
    "Wall clock minus the event time of the latest event applied (replays show days)",
)
PROCESSING = Histogram(
    "distillguard_batch_duration_seconds",
    "Time to apply one batch of events to account state, alerts included",
    buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
SCORE_TICKS = Counter(
    "distillguard_score_ticks_total", "Account score computations (score ticks)"
)
SCORES = Histogram(
    "distillguard_account_score",
    "Distribution of account scores at score ticks",
    buckets=(0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.99),
)
ALERTS = Counter(
    "distillguard_alerts_total",
    "Alerts sent, by kind, severity and recommended action",
    ["kind", "severity", "action"],
)
TRACKED_ACCOUNTS = Gauge(
    "distillguard_tracked_accounts", "Accounts held in this worker's table partitions"
)
TRACKED_FINGERPRINTS = Gauge(
    "distillguard_tracked_fingerprints", "Fingerprint aggregates held in this worker's partitions"
)
EXPIRED = Counter(
    "distillguard_expired_total",
    "Idle keys deleted from a table (event-time horizon DISTILLGUARD_IDLE_HORIZON), by table",
    ["table"],
)
ACTIVE_CAMPAIGNS = Gauge(
    "distillguard_active_campaigns", "Campaigns in this worker's campaign graph"
)
MODEL_WARM = Gauge(
    "distillguard_model_warm", "1 once the population anomaly model has finished warm-up"
)
CONSUMER_LAG = Gauge(
    "distillguard_consumer_lag_messages",
    "Messages between the consumer position and the high-water mark, per assigned partition",
    ["topic", "partition"],
)
FEEDBACK = Counter(
    "distillguard_feedback_total",
    "Feedback records read, by label (extraction, benign) or rejected (invalid, or with a "
    "feedback key: unsigned or badly signed)",
    ["result"],
)
UNDECODABLE_BATCHES = Counter(
    "distillguard_undecodable_batches_total",
    "Fetched batches the Kafka client could not decode (codec, CRC); their partition stalls",
)
STALLED_PARTITIONS = Gauge(
    "distillguard_stalled_partitions",
    "Partitions stopped at a batch that cannot be decoded, until a restart (see the log)",
)
MISSING_TOPICS = Gauge(
    "distillguard_missing_topics",
    "Topics the worker reads but does not own (input, feedback) that do not exist or that it "
    "may not read; nothing is read from them until they do (/readyz and the log name them)",
)
BUILD = Info("distillguard_build", "Version of the running distillguard, and its hot path: "
             "'compiled' (the Rust extension) or 'python' (its twin; DISTILLGUARD_NATIVE)")

try:
    _version = version("distillguard")
except PackageNotFoundError:  # running from a source tree that was not installed
    _version = "unknown"
BUILD.info({"version": _version, "hot_path": implementation()})


def _precreate() -> None:
    """Create every known label set at zero, so `rate()` sees the first increment too."""
    from distillguard.models.alerts import ACTIONS, SEVERITIES
    from distillguard.models.events import REASONS
    from distillguard.models.feedback import BAD_SIGNATURE

    for result in ("accepted", "rejected"):
        RECORDS.labels(result)
    for reason in (*REASONS, "internal_error", BAD_SIGNATURE):
        DEAD_LETTERS.labels(reason)
    for outcome in ("counted", "late", "duplicate"):
        EVENTS.labels(outcome)
    for result in ("extraction", "benign", "rejected"):
        FEEDBACK.labels(result)
    for kind in ("account", "campaign"):
        for severity, action in zip(SEVERITIES, ACTIONS, strict=True):
            ALERTS.labels(kind, severity, action)
    for table in ("accounts", "fingerprints"):
        EXPIRED.labels(table)


_precreate()
