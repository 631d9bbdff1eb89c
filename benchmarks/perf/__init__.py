"""What only the benchmarks need, in parts; the entry points are the scripts beside this folder.

The harness they share with the tests (broker, worker processes, throwaway settings,
producing, reading topics, metrics) is `distillguard.testing`. The throughput benchmark
(`benchmarks/throughput.py`) is put together from:

- `common`: progress lines, run ids, the results directory, percentiles.
- `system`: whole-machine CPU and memory from /proc, and what machine and versions ran.
- `workers`: benchmark workers, their event counters and logs, and rates measured from them.
- `data`: the simulated inputs, producing them, and record sizes in a changelog.
- `transport`: the baselines (a) raw aiokafka, (b) bare Faust, (d) the detector alone,
  (e) the floor of the worker's transport, (f) the Quix Streams peer.
- `bare_faust_app`: the Faust app that (b) and (e) run in a child process.
- `quix_app`: the Quix Streams application that (f) runs in a child process.
- `latency`: paced production and the latency to table and to alert.
- `memory`: a million tracked accounts and the time to rebuild their tables.
- `pyspy`: a py-spy profile of a worker.
- `runs`: the steps of a run, each adding its section to the result.
- `report`: the result as Markdown.
"""
