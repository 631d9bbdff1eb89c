"""The Faust app of baselines (b) and (e), run as a child process by `perf.transport`.

(b) `BENCH_MODE=agent`: a bare agent that only parses each event. (e) `BENCH_MODE=floor`:
the worker's own batch consumer (`distillguard.streams.batching`) with the least work a
detector can do: parse, then one `BENCH_STATE_BYTES` table write per account per batch.
It prints `BENCH-PROGRESS <n>` as it goes and `BENCH-RESULT {"events", "seconds"}` once
`BENCH_N` events are in; the rest of its configuration is the `BENCH_*` environment.
"""

from __future__ import annotations

import os
import time
from typing import Any

import faust
import orjson


def build(env: dict[str, str]) -> faust.App:
    """The app, its input topic and (for the floor only) its table, as `env` says."""
    n_target = int(env["BENCH_N"])
    floor = env["BENCH_MODE"] == "floor"
    partitions = int(env["BENCH_PARTITIONS"])
    app = faust.App(
        env["BENCH_APP_ID"],
        broker=[f"kafka://{s.strip()}" for s in env["BENCH_BOOTSTRAP"].split(",")],
        store="memory://", datadir=env["BENCH_DATADIR"], web_enabled=False,
        topic_partitions=partitions, broker_rebalance_timeout=3.0, broker_session_timeout=6.0,
        value_serializer="raw",
        # the floor fetches as the worker does; the agent keeps Faust's default
        **({"consumer_max_fetch_size": int(env["BENCH_FETCH_BYTES"])} if floor else {}),
    )
    topic = app.topic(env["BENCH_TOPIC"], key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    # only the floor has a table: the bare agent must not pay for its changelog and recovery
    table = (app.Table("floor", default=None, partitions=partitions, value_type=bytes)
             if floor else None)
    state_bytes = int(env["BENCH_STATE_BYTES"])
    state: dict[str, Any] = {"n": 0, "t0": None}

    def count(k: int) -> None:
        if state["t0"] is None:
            state["t0"] = time.perf_counter()
        before = state["n"]
        n = state["n"] = before + k
        if n // 20000 != before // 20000:
            print(f"BENCH-PROGRESS {n}", flush=True)
        if before < n_target <= n:
            dt = time.perf_counter() - state["t0"]
            print("BENCH-RESULT " + orjson.dumps({"events": n, "seconds": dt}).decode(),
                  flush=True)

    async def floor_batch(messages: list[Any]) -> None:
        """The least a detector does: parse, then one state write per account per batch."""
        assert table is not None
        latest = {}
        for m in messages:
            latest[orjson.loads(m.value)["account_id"]] = m.value
        for account, value in latest.items():
            table[account] = value[:state_bytes].ljust(state_bytes)
        count(len(messages))

    @app.agent(topic)
    async def parse(stream: Any) -> None:
        loads = orjson.loads
        async for event in stream.events():
            loads(event.value)
            count(1)

    if floor:
        from distillguard.streams.batching import install

        install(app, {topic.get_topic_name(): floor_batch}, fetch_max_wait=0.1)
    return app


if __name__ == "__main__":
    faust.Worker(build(dict(os.environ)), loglevel="warn", quiet=True).execute_from_commandline()
