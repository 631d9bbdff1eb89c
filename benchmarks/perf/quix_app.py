"""The Quix Streams peer of row (f), run as a child process by `perf.transport.quix_peer`.

What a team would write instead of distillguard in the Python peer on Kafka: a
StreamingDataFrame over the input topic that keeps, per account (the record key), a
counter, an event-time rate (EWMA of the inverse gap between requests) and a rolling
mean of output tokens, in Quix's own RocksDB state with its changelog topic (at-least-once,
its default). It prints `BENCH-PROGRESS <n>` as it goes and `BENCH-RESULT {"events",
"seconds"}` once `BENCH_N` events are in, timed from the first event processed; the rest
of its configuration is the `BENCH_*` environment.
"""

from __future__ import annotations

import os
import time
from typing import Any

import orjson
from quixstreams import Application
from quixstreams.state import State

#: how many recent events the rolling means weigh (an EWMA's 1/alpha)
SPAN = 50


def fold(event: dict[str, Any], state: State) -> None:
    """One account's counter, event-time rate and rolling output-token mean."""
    s = state.get("s") or {"n": 0, "last": None, "rate": 0.0, "out": 0.0}
    n, ts = s["n"] + 1, float(event["ts"])
    alpha = 1.0 / min(n, SPAN)
    if s["last"] is not None:
        s["rate"] += alpha * (1.0 / max(ts - s["last"], 1e-3) - s["rate"])
    s["out"] += alpha * (int(event.get("output_tokens") or 0) - s["out"])
    s["n"], s["last"] = n, ts
    state.set("s", s)


def main(env: dict[str, str]) -> None:
    target = int(env["BENCH_N"])
    seen = {"n": 0, "t0": 0.0}

    def processed(topic: str, partition: int, offset: int) -> None:
        if not seen["n"]:
            seen["t0"] = time.perf_counter()
        seen["n"] += 1
        if seen["n"] % 20000 == 0:
            print(f"BENCH-PROGRESS {seen['n']}", flush=True)
        if seen["n"] == target:
            doc = {"events": target, "seconds": time.perf_counter() - seen["t0"]}
            print("BENCH-RESULT " + orjson.dumps(doc).decode(), flush=True)
            app.stop()

    app = Application(broker_address=env["BENCH_BOOTSTRAP"], consumer_group=env["BENCH_APP_ID"],
                      auto_offset_reset="earliest", state_dir=env["BENCH_DATADIR"],
                      loglevel="WARNING", on_message_processed=processed)
    sdf = app.dataframe(app.topic(env["BENCH_TOPIC"], value_deserializer="json",
                                  key_deserializer="str"))
    sdf = sdf.update(fold, stateful=True)
    app.run(sdf)


if __name__ == "__main__":
    main(dict(os.environ))
