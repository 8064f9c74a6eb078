"""Model speed: (a) full city 2014–2020, build + run; (b) the per-agent Mesa reference of the household
rule on the same city, side by side; (c) a scaling series from 10k to 1M households; peak memory.

    python benchmarks/bench_model.py            # medians of 5, prints a table
    python benchmarks/bench_model.py --json     # ... and a JSON summary
    python benchmarks/bench_model.py --quick    # 3 repeats, reference on a fifth of the city

Targets (issue 2): full-city model time <= 0.5 s (median of 5); >= 100x faster than the reference in the
same run; cost linear in households. The machine is shared and noisy: medians, and ratios measured
side by side (model and reference interleaved).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from bantar_sim import BantarModel
from bantar_sim.model.reference import reference_from_model

TICKS = 84  # 2014–2020, monthly


def time_model(seed: int, **params) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    m = BantarModel(rng=seed, **params)
    t1 = time.perf_counter()
    m.run()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, m.city.n_households


def time_reference(seed: int, **params) -> tuple[float, float, int]:
    """Per-agent reference: a Mesa agent per household looping over networkx neighbours, 84 monthly ticks."""
    city = BantarModel(rng=seed, **params)      # the same city and initial state (not timed)
    t0 = time.perf_counter()
    ref = reference_from_model(city, rng=seed)
    t1 = time.perf_counter()
    for _ in range(TICKS):
        ref.step()
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1, city.city.n_households


# Peak resident memory of the child's own address space. Not getrusage's ru_maxrss: on Linux a child
# inherits its parent's high-water mark across fork + exec, so after the reference runs (GBs) every child
# would report the parent's peak. /proc/self/status's VmHWM belongs to the exec'd image alone.
_PEAK = """
import resource
try:
    with open('/proc/self/status') as f:
        print(next(int(l.split()[1]) for l in f if l.startswith('VmHWM:')))
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def peak_rss_mib(code: str) -> float:
    """Peak resident memory of a fresh interpreter running `code` (MiB)."""
    out = subprocess.run([sys.executable, "-c", code + "\n" + _PEAK], capture_output=True, text=True, check=True)
    return int(out.stdout.strip().splitlines()[-1]) / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="3 repeats; reference on scale 0.2")
    ap.add_argument("--json", action="store_true", help="also print a JSON summary")
    ap.add_argument("--no-scaling", action="store_true")
    ap.add_argument("--save", default=None, metavar="PATH",
                    help="also write the JSON summary (with model version and date) to PATH, atomically; "
                         "README.md's benchmark paragraph is generated from benchmarks/results/bench_model.json")
    args = ap.parse_args(argv)
    reps = 3 if args.quick else args.repeats
    ref_params = {"scale": 0.2} if args.quick else {}
    res: dict = {"python": sys.version.split()[0], "numpy": np.__version__, "cpus": os.cpu_count(),
                 "repeats": reps, "ticks": TICKS}

    # (a) + (b), interleaved so both see the same machine load.
    model_total, model_build, model_run, ref_total, model_on_ref_city = [], [], [], [], []
    for r in range(reps):
        b, t, n = time_model(100 + r)
        model_build.append(b)
        model_run.append(t)
        model_total.append(b + t)
        if ref_params:
            b2, t2, _ = time_model(100 + r, **ref_params)
            model_on_ref_city.append(b2 + t2)
        rb, rt, nref = time_reference(100 + r, **ref_params)
        ref_total.append(rb + rt)
        print(f"repeat {r + 1}/{reps}: model {b + t:.3f} s (build {b:.3f}, run {t:.3f}); "
              f"reference {rb + rt:.1f} s (build {rb:.1f}, run {rt:.1f}) on {nref:,} households", flush=True)
    med = statistics.median
    res["full_city"] = {"households": n, "model_s": med(model_total), "build_s": med(model_build),
                        "run_s": med(model_run), "per_tick_ms": 1000 * med(model_run) / TICKS,
                        "target_s": 0.5, "meets_target": med(model_total) <= 0.5}
    comparable = model_on_ref_city if ref_params else model_total
    ratios = [rf / mo for rf, mo in zip(ref_total, comparable)]
    res["reference"] = {"households": nref, "reference_s": med(ref_total), "model_s_same_city": med(comparable),
                        "speedup_median_of_ratios": med(ratios), "target_speedup": 100,
                        "meets_target": med(ratios) >= 100}
    res["peak_rss_mib_imports"] = peak_rss_mib("import bantar_sim.model.model")   # interpreter + Mesa, numpy, scipy
    res["peak_rss_mib_full_city"] = peak_rss_mib(
        "from bantar_sim import BantarModel; BantarModel(rng=1).run()")
    res["peak_rss_mib_reference_full_city"] = None if args.quick else peak_rss_mib(
        "from bantar_sim import BantarModel\nfrom bantar_sim.model.reference import reference_from_model\n"
        "m=BantarModel(rng=1); r=reference_from_model(m, rng=1)\nfor _ in range(3): r.step()")

    # (c) scaling: households 10k → 1M by households per RT on the full set of RTs.
    if not args.no_scaling:
        series = []
        for target in (10_000, 30_000, 100_000, 300_000, 1_000_000):
            hpr = target / 1627
            times, n_hh = [], 0
            for r in range(reps):
                b, t, n_hh = time_model(200 + r, households_per_rt=max(hpr, 5.0), households_per_rt_cv=0.0)
                times.append(b + t)
            m = med(times)
            series.append({"households": n_hh, "model_s": m, "us_per_household_tick": 1e6 * m / n_hh / TICKS})
            print(f"scaling: {n_hh:>9,} households  {m:7.3f} s  "
                  f"{series[-1]['us_per_household_tick']:.3f} µs/household/tick", flush=True)
        x = np.log([s["households"] for s in series])
        y = np.log([s["model_s"] for s in series])
        slope = float(np.polyfit(x[2:], y[2:], 1)[0])  # fixed costs dominate the smallest cities
        res["scaling"] = {"series": series, "loglog_slope_100k_to_1M": slope}
        res["scaling"]["peak_rss_mib_1M"] = peak_rss_mib(
            "from bantar_sim import BantarModel; "
            "BantarModel(rng=1, households_per_rt=615, households_per_rt_cv=0).run()")

    fc, rf = res["full_city"], res["reference"]
    print("\n== bantar-sim model benchmark ==")
    print(f"full city ({fc['households']:,} households, {TICKS} ticks): {fc['model_s']:.3f} s median "
          f"(build {fc['build_s']:.3f} s, run {fc['run_s']:.3f} s, {fc['per_tick_ms']:.2f} ms/tick); "
          f"target <= 0.5 s: {'met' if fc['meets_target'] else 'NOT met'}")
    print(f"per-agent reference ({rf['households']:,} households): {rf['reference_s']:.1f} s median; "
          f"vectorised model {rf['model_s_same_city']:.3f} s; speed-up {rf['speedup_median_of_ratios']:.0f}x "
          f"(target >= 100x: {'met' if rf['meets_target'] else 'NOT met'})")
    print(f"peak RSS: full-city model run {res['peak_rss_mib_full_city']:.0f} MiB"
          + (f", per-agent reference (3 ticks) {res['peak_rss_mib_reference_full_city']:.0f} MiB"
             if res["peak_rss_mib_reference_full_city"] else "")
          + f"; the interpreter with the imports alone {res['peak_rss_mib_imports']:.0f} MiB")
    if "scaling" in res:
        print("scaling: log-log slope of time vs households (100k–1M) = "
              f"{res['scaling']['loglog_slope_100k_to_1M']:.2f} "
              f"(1 = linear); 1M households peak RSS {res['scaling']['peak_rss_mib_1M']:.0f} MiB")
    if args.json:
        print(json.dumps(res, indent=2))
    if args.save:
        from datetime import UTC, datetime

        from bantar_sim.engine.outputs import write_text_atomic
        from bantar_sim.model.version import MODEL_VERSION
        res["model_version"] = MODEL_VERSION
        res["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        res["command"] = "python benchmarks/bench_model.py " + " ".join(argv if argv is not None else sys.argv[1:])
        os.makedirs(os.path.dirname(os.path.abspath(args.save)), exist_ok=True)
        write_text_atomic(args.save, json.dumps(res, indent=2) + "\n")
    return res


if __name__ == "__main__":
    main()
