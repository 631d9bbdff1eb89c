"""The throughput result as Markdown: one table of figures, notes, and the profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: adds one (measurement, figure) row to the table
Add = Callable[[tuple[str, str]], None]


def _f(x: Any, nd: int = 0) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, float):
        return f"{x:,.{nd}f}"
    if isinstance(x, int):
        return f"{x:,}"
    return str(x)


def _cpu(run: dict[str, Any]) -> str:
    cpu = run.get("cpu_percent_in_window") or {}
    return ", ".join(f"{k} {v:.0f}%" for k, v in cpu.items() if v is not None) or "n/a"


def _warnings(run: dict[str, Any]) -> str:
    parts = []
    for i, w in enumerate(run.get("per_worker") or []):
        logs = w.get("log_warnings") or {}
        if logs:
            parts.append(f"worker {i + 1}: " + "; ".join(f"{n:,} x `{msg}`"
                                                          for msg, n in logs.items()))
    return " / ".join(parts)


def _rate_cell(run: dict[str, Any]) -> str:
    cell = (f"**{_f(run['events_per_s'])} ev/s** (steady 5-95%: "
            f"{_f(run.get('steady_events_per_s'))}; window {_f(run['window_s'], 1)} s after "
            f"{_f(run['startup_s'], 1)} s start-up; CPU % of one core: {_cpu(run)})")
    if run.get("note"):
        cell += f" — {run['note']}"
    return cell


def budget_cell(t: dict[str, Any], target: float = 40_000) -> str:
    """The per-event budget at `target` ev/s after the measured floor, against the detector.

    Why: it says whether the target is reachable at all on this transport, from
    figures of the same run: (e) is the least any detector costs on it, (d) is
    what this detector's Python costs with no Kafka at all.
    """
    budget = 1e6 / target
    floor = t["e_floor"]["us_per_event"]
    raw = 1e6 / t["a_raw"]["events_per_s"]
    detector = 1e6 / t["d_inprocess"]["events_per_s"]
    left = budget - floor
    head = f"{_f(budget)} us/event in all; the floor (e) takes {_f(floor, 1)}, "
    if left <= 0:
        head += "**more than all of it**"
    else:
        head += (f"leaving **{_f(left, 1)} us** for validation, text signals, account, score "
                 f"and aggregate updates; the detector alone (d) takes **{_f(detector, 1)} "
                 f"us**, {detector / left:.1f}x that")
    return head + (f" (without Faust, on raw aiokafka (a) at {_f(raw, 1)} us/event, "
                   f"{_f(budget - raw, 1)} us would be left)")


def ceiling_cell(t: dict[str, Any], target: float = 0.6) -> str:
    """The worker's rate if it did only (e)'s and (d)'s work, one after the other, and
    what c/e >= `target` asks of the detector.

    Why: it splits the gap between (c) and the floor into the detector's part and the
    worker's Kafka and Faust work above the floor, from figures of the same run.
    """
    floor = t["e_floor"]["us_per_event"]
    detector = 1e6 / t["d_inprocess"]["events_per_s"]
    worker = 1e6 / t["c_worker"]["events_per_s"]
    ceiling = 1e6 / (floor + detector)
    allowed = floor * (1 / target - 1)
    return (f"{_f(ceiling)} ev/s = (e) {_f(floor, 1)} + (d) {_f(detector, 1)} us/event; (c) "
            f"takes {_f(worker, 1)} us/event, {_f(worker - floor - detector, 1)} more than "
            f"both (the worker's Kafka and Faust work above the floor's: the tick hop, "
            f"fingerprint writes, alerts; the profile below splits it), and reaches "
            f"{1e6 / worker / ceiling:.2f} of this ceiling, whose c/e is "
            f"{floor / (floor + detector):.3f}. c/e >= {target} "
            f"leaves **{_f(allowed, 1)} us/event** for the detector and all of that together")


def _traffic_cell(traffic: dict[str, Any]) -> str:
    """(c)'s records and bytes per input event on each topic it wrote."""
    return "; ".join(f"{label} {v['records_per_event']:.3f} ({_f(v['bytes_per_event'])} B)"
                     for label, v in traffic.items())


def _detector_cell(run: dict[str, Any]) -> str:
    """(d)'s rate and per-event parts."""
    parts = (f": parse {_f(run['detector_parse_us'], 1)} (validation, text signals, content "
             f"sampler), process {_f(run['process_us'], 1)} (account, aggregates, graph)"
             if "detector_parse_us" in run else "")
    return (f"{_f(run['events_per_s'])} ev/s = **{_f(1e6 / run['events_per_s'], 1)} us/event**"
            f"{parts}")


def _throughput_rows(r: dict[str, Any], add: Add) -> None:
    """Data, produce, (a)-(f), their ratios and the budget left at 40,000 ev/s."""
    a = r.get("args", {})
    d = r.get("data")
    if d:
        add(("events (simulator mix)", f"{_f(d['events'])} events, {_f(d['accounts'])} "
             f"accounts, mean {_f(d['mean_event_bytes'])} B/event, "
             f"{d['event_time_span_h']} h of event time ({d['scenario']})"))
        add(("input topic partitions", _f(a.get("partitions"))))
    if r.get("produce"):
        add(("produce (aiokafka, acks=1, from memory)",
             f"{_f(r['produce']['events_per_s'])} ev/s"))
    t = r.get("throughput", {})
    if t.get("a_raw"):
        add(("(a) raw aiokafka: getmany + orjson.loads",
             f"**{_f(t['a_raw']['events_per_s'])} ev/s** (machine busy "
             f"{_f(t['a_raw'].get('machine_busy_percent'))}% of one core)"))
    if t.get("b_faust"):
        add(("(b) bare Faust agent: orjson.loads only",
             f"**{_f(t['b_faust']['events_per_s'])} ev/s** (machine busy "
             f"{_f(t['b_faust'].get('machine_busy_percent'))}%)"))
    c = t.get("c_worker")
    if c:
        add(("(c) full worker, 1 process", _rate_cell(c)))
    d_run = t.get("d_inprocess")
    if d_run:
        add((f"(d) detector alone in-process, as the worker runs it (Detector.parse with the "
             f"content sampler + Backtest, no Kafka), hot path {d_run.get('implementation')}",
             _detector_cell(d_run)))
        twin = d_run.get("python_twin")
        if twin:
            add(("(d') the same, the Python twin alone (DISTILLGUARD_NATIVE=off)",
                 f"{_detector_cell(twin)}; rate d/d' "
                 f"{d_run['events_per_s'] / twin['events_per_s']:.2f}"))
        if "parse_us" in d_run:
            add(("... parse_event alone (no content sampler)",
                 f"{_f(d_run['parse_us'], 1)} us/event, of which its text signals (regexes and "
                 f"BLAKE2b over the prompt) {_f(d_run['text_us'], 1)}"))
    e = t.get("e_floor")
    if e:
        add((f"(e) floor: the worker's batch consumer, orjson.loads + one "
             f"{_f(e.get('state_bytes'))} B table write per account per batch, no detection",
             f"**{_f(e['events_per_s'])} ev/s** = {_f(e['us_per_event'], 1)} us/event (machine "
             f"busy {_f(e.get('machine_busy_percent'))}%)"))
    f = t.get("f_quix")
    if f:
        add(("(f) Quix Streams peer: per account a counter, an event-time rate and a rolling "
             "output-token mean in its RocksDB state (changelogged)",
             f"**{_f(f['events_per_s'])} ev/s** = {_f(f['us_per_event'], 1)} us/event (machine "
             f"busy {_f(f.get('machine_busy_percent'))}%)"))
    for key, label in (("c_over_a", "c/a"), ("c_over_b", "c/b"), ("c_over_d", "c/d"),
                       ("c_over_e", "c/e"), ("c_over_f", "c/f")):
        if key in t:
            add((f"ratio {label}", f"{t[key]:.3f}"))
    if c and c.get("traffic"):
        add(("(c) records (and value bytes) sent per input event, by topic",
             _traffic_cell(c["traffic"])))
    if e and t.get("d_inprocess"):
        if c:
            add(("the worker's ceiling with this detector: (e) and (d) in series",
                 ceiling_cell(t)))
        add(("what 40,000 ev/s per process leaves for detection", budget_cell(t)))
    if c:
        add(("worker RSS after (c)", f"{_f(c.get('rss_mib'))} MiB"))
        if _warnings(c):
            add(("(c) worker log warnings", _warnings(c)))


def _latency_rows(r: dict[str, Any], add: Add) -> None:
    """The paced run: its rate, latency to table and to alert."""
    lat = r.get("latency")
    if lat:
        add(("latency: paced rate (0.5 x c)", f"{_f(lat['target_rate'])} ev/s target, "
             f"{_f(lat['achieved_rate'])} achieved, {_f(lat['sent'])} events over "
             f"{_f(lat['produce_seconds'], 1)} s; last changelog record "
             f"{_f(lat['drained_after_s'], 1)} s after the last send; machine busy "
             f"{_f(lat.get('machine_busy_percent'))}%"))
        tl, al = lat["table"], lat["alerts"]
        add(("latency to table (changelog record) p50 / p99",
             f"**{_f(tl['p50_ms'], 1)} / {_f(tl['p99_ms'], 1)} ms** (p90 {_f(tl['p90_ms'], 1)}, "
             f"max {_f(tl['max_ms'], 1)}, n={_f(tl['count'])})"))
        add(("latency to alert p50 / p99",
             f"**{_f(al['p50_ms'], 1)} / {_f(al['p99_ms'], 1)} ms** (p90 {_f(al['p90_ms'], 1)}, "
             f"max {_f(al['max_ms'], 1)}, n={_f(al['count'])}: "
             f"{', '.join(f'{k} {v}' for k, v in sorted(lat['alert_kinds'].items()))})"))


def _memory_rows(r: dict[str, Any], add: Add) -> None:
    """State per account from run (c), the million accounts and the failover."""
    c = r.get("throughput", {}).get("c_worker")
    mem = r.get("memory", {})
    cl = mem.get("changelog")
    if cl:
        add(("table state per tracked account (changelog, run c)",
             f"**{_f(cl['mean_value_bytes'])} B** value mean (p50 {_f(cl['p50_value_bytes'])}, "
             f"p99 {_f(cl['p99_value_bytes'])}, max {_f(cl['max_value_bytes'])}) + "
             f"{_f(cl['mean_key_bytes'], 1)} B JSON key, over {_f(cl['accounts'])} accounts"))
    mil = mem.get("million")
    if mil:
        w = mil["worker"]
        label = f"{_f(mil['accounts'])} tracked accounts: worker RSS"
        if not mil["complete"]:
            label = (f"{_f(mil['tracked_accounts_gauge'])} of {_f(mil['accounts'])} accounts "
                     f"(time budget {mil['budget_s'] / 60:.0f} min): worker RSS")
        cell = (f"**{_f(mil['worker_rss_mib'])} MiB** (peak {_f(mil['worker_peak_rss_mib'])}; "
                f"{_f(mil['rss_bytes_per_account'])} B/account above the "
                f"{_f(mil['worker_rss_at_start_mib'])} MiB at start; tracked-accounts gauge "
                f"{_f(mil['tracked_accounts_gauge'])})")
        if mil.get("extrapolated_rss_mib_at_requested"):
            cell += (f"; linear extrapolation to {_f(mil['accounts'])} accounts: "
                     f"{_f(mil['extrapolated_rss_mib_at_requested'])} MiB")
        add((label, cell))
        add(("  ... synthetic record size (changelog tail)",
             f"{_f(mil['changelog_tail']['mean_value_bytes'])} B value + "
             f"{_f(mil['changelog_tail']['mean_key_bytes'], 1)} B key"))
        add(("  ... memory", f"worker {100 * mil['worker_rss_mib'] / mil['mem_total_mib']:.1f}% "
             f"of {_f(mil['mem_total_mib'])} MiB RAM; broker RSS {_f(mil['broker_rss_mib'])} MiB "
             f"(holds every topic of the run in memory); lowest MemAvailable "
             f"{_f(mil['mem_available_min_mib'])} MiB; swap total {_f(mil['swap_total_mib'])} "
             f"MiB, used {_f(mil['swap_used_mib'])}, pages swapped out "
             f"{_f(mil['pswpout_delta'])}"))
        add(("  ... events for it", f"{_f(w['final_count'])} of {_f(mil['events'])} "
             f"({mil['events_per_account']}/account, fingerprint-only), worker "
             f"{_f(w['events_per_s'])} ev/s (CPU {_cpu(w)}), produce "
             f"{_f(mil['produce']['events_per_s'])} ev/s"))
        if mil.get("restart"):
            empty = (f"; run (c)'s empty worker took {_f(c['startup_s'], 1)} s to its first "
                     f"events" if c else "")
            add(("  ... failover without a standby: a fresh worker of the group",
                 f"ready after **{_f(mil['restart']['ready_after_s'], 1)} s**, its tables "
                 f"rebuilt from the changelogs (RSS then {_f(mil['restart']['rss_mib'])} MiB"
                 f"{empty})"))
    elif mem.get("million_skipped"):
        add(("1M tracked accounts", mem["million_skipped"]))


def _scale_out_rows(r: dict[str, Any], add: Add) -> None:
    """One worker against two, with and without standby replicas."""
    sc = r.get("scale_out") or {}
    if "one" in sc:
        add(("scale-out: 1 worker (partitions 4)", _rate_cell(sc["one"])))
    for label, ratios, title in (("two", sc, "2 workers, one group"),
                                 ("two_no_standby", sc.get("no_standby"),
                                  "2 workers, no standby replicas")):
        if label not in sc or not ratios:
            continue
        per = ", ".join(f"{_f(w['events'])} events at {_f(w['events_per_s'])} ev/s over "
                        f"{_f(w['active_s'])} s" for w in sc[label]["per_worker"])
        add((f"scale-out: {title}", _rate_cell(sc[label]) + f"; per worker: {per}"))
        if _warnings(sc[label]):
            add(("  ... their log warnings", _warnings(sc[label])))
        add(("  ... ratio 2/1", f"**{ratios['ratio']:.2f}** (steady 5-95%: "
             f"{_f(ratios.get('steady_ratio'), 2) if ratios.get('steady_ratio') else 'n/a'})"
             + (f"; {sc['note']}" if label == "two" else "")))
        if ratios.get("all_busy_ratio"):
            one, two = sc["one"]["all_busy"], sc[label]["all_busy"]
            add(("  ... ratio 2/1 while both workers are busy",
                 f"**{ratios['all_busy_ratio']:.2f}** ({_f(one['events_per_s'])} -> "
                 f"{_f(two['events_per_s'])} ev/s over {_f(two['window_s'], 1)} s, "
                 f"{_f(two['events'])} events); the end-to-end ratio is capped at "
                 f"{1 / ratios['largest_share']:.2f} by the keyed stream itself: the larger "
                 f"worker's partitions hold {100 * ratios['largest_share']:.1f}% of the events"))
        per_event = ratios.get("cpu_us_per_event") or {}
        if per_event.get("one") and per_event.get("two"):
            c1, c2 = per_event["one"], per_event["two"]
            add(("  ... worker CPU per event",
                 f"1 worker {c1:.0f} us, 2 workers {c2:.0f} us together "
                 f"({100 * (c2 / c1 - 1):+.0f}%): with a core for each worker, 2 workers "
                 f"would do about **{2 * c1 / c2:.2f}x** of 1 at these per-event costs"))


def _profile_lines(r: dict[str, Any]) -> list[str]:
    """The py-spy section, or why there is none."""
    lines: list[str] = []
    prof = r.get("profile")
    if prof:
        lines += ["", f"## Where the worker's time goes (py-spy, {prof['samples']:,} samples "
                  f"of the thread holding the GIL over {prof['seconds']:.0f} s of steady state)",
                  ""]
        if prof.get("split"):
            lines += ["| part (samples under the detector's steps, then the rest by handler "
                      "step) | % |", "| --- | --- |"]
            lines += [f"| {part} | {p} |" for part, p in prof["split"].items()]
            lines.append("")
        lines += ["| inclusive by module | % | self by module | % |", "| --- | --- | --- | --- |"]
        im, sm = prof["inclusive_by_module"], prof["self_by_module"]
        for i in range(max(len(im), len(sm))):
            a1 = im[i] if i < len(im) else ("", "")
            b1 = sm[i] if i < len(sm) else ("", "")
            lines.append(f"| `{a1[0]}` | {a1[1]} | `{b1[0]}` | {b1[1]} |")
        lines += ["", "| self time by function | % |", "| --- | --- |"]
        lines += [f"| `{name}` | {p} |" for name, p in prof["self_by_function"]]
        lines += ["", "| inclusive time by function | % |", "| --- | --- |"]
        lines += [f"| `{name}` | {p} |" for name, p in prof["inclusive_by_function"]]
    elif r.get("profile_skipped"):
        lines += ["", f"Profile: {r['profile_skipped']}"]
    return lines


def markdown(r: dict[str, Any]) -> str:
    """The whole report: header, the table of figures, notes, the profile."""
    m = r.get("machine", {})
    rows: list[tuple[str, str]] = []
    for section in (_throughput_rows, _latency_rows, _memory_rows, _scale_out_rows):
        section(r, rows.append)
    lines = [
        "# distillguard worker throughput, latency and memory",
        "",
        f"`python benchmarks/throughput.py {' '.join(r.get('argv', []))}` — "
        f"{r.get('finished', '?')}, script runtime {r.get('runtime_s', 0) / 60:.1f} min; "
        f"status: {r.get('status', '?')}.",
        "",
        f"Machine: {m.get('cores')} cores ({m.get('cpu_model')}), {m.get('mem_total_gib')} GiB "
        f"RAM, swap {m.get('swap_total_mib')} MiB; Python {m.get('python')} "
        f"({m.get('platform')}); broker: {m.get('broker')}; faust-streaming {m.get('faust')}, "
        f"aiokafka {m.get('aiokafka')}, orjson {m.get('orjson')}; code at `{m.get('git')}`. "
        f"Machine busy before start: {_f(m.get('busy_before_start_percent'), 1)}% of one core"
        + (f"; extra worker environment: {m['worker_env_extra']}" if m.get("worker_env_extra")
           else "") + ".",
        "",
        "| measurement | figure |",
        "| --- | --- |",
        *[f"| {k} | {v.replace('|', '/')} |" for k, v in rows],
        "",
        "Notes:",
        "",
        "- Rates are taken from first to last record: (a) from the first `getmany` batch to "
        "the last record parsed; (b) from the agent's first event to its Nth; (c) from the "
        "first /metrics sample (every 0.5 s) with events counted to the last sample below N, "
        "so worker start-up and group join and the idle tail are excluded (a stall after the "
        "first events, e.g. a second rebalance, is inside the window; the steady 5-95% rate "
        "leaves it out).",
        "- Everything shares the machine's cores: the broker, this script and the worker(s). "
        "CPU figures are percent of one core over the measurement window; `whole machine` "
        "minus ours is `other processes` (other users of the machine), which slows every "
        "figure here.",
        "- Latency: events are produced at a steady pace with `ts` = produce wall time; "
        "table latency is (arrival of the account's `accounts-changelog` record at a consumer "
        "here) - its `last` (the latest event time it reflects); alert latency is (arrival "
        "of the alert) - its `ts` (the event time of the event that raised it, i.e. its "
        "produce time). Consumers use fetch_max_wait_ms=50.",
        "- Scale-out here is bounded by the machine: its cores are shared by the broker and "
        "the workers (no producer runs during the scale-out measurement), so two workers "
        "cannot each get a whole core.",
    ]
    lines += _profile_lines(r)
    return "\n".join(lines) + "\n"
