"""Harness for tests and benchmarks: an embedded broker, worker processes, producers.

Not used by the worker itself; the embedded broker needs the `demo` extra.
"""
