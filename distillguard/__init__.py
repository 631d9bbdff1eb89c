"""distillguard: a real-time detector of model-distillation campaigns against LLM APIs.

One import name for the whole project. The detector's pure logic is
`distillguard.models`, its Kafka side `distillguard.streams` (both kept in the
top-level folders `models/` and `streams/`), the traffic generator
`distillguard.simulator`, and the harness tests and benchmarks share
`distillguard.testing`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("distillguard")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"
