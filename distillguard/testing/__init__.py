"""Harness for tests and benchmarks: one copy of each piece both need.

- `broker`: the embedded Tansu broker and `free_port`.
- `processes`: children in their own process group (`spawn`, `stop_group`), `/proc`
  readings, and `WorkerProcess`, `distillguard worker` run as an SRE would.
- `metrics`: fetching a worker's pages and reading its Prometheus text.
- `settings`: throwaway worker settings (fresh group, topics, port, data dir) and topics.
- `produce`: producers and sending records or events to a topic.
- `consume`: reading a topic back, every partition, to its end.

Not used by the worker itself; the embedded broker needs the `demo` extra.
Import the submodules; this package imports nothing on its own.
"""
