"""Benchmark: µs per call of `standardise_phone`, against the plain phonenumbers pipeline.

Run with `uv run python bench/bench_phones.py [--numbers N] [--repeats R]`. The phone strings are
rendered with the demo generator's own formats (`lib/demo/text.py`: compact, national, dash,
+86, +86-, 0086, brackets, full-width, 2-3 digits lost), one list per scenario:

- cn_mobile_cold: distinct mainland mobiles, each in one random format;
- cn_mobile_same_number_7_formats: each mobile in all seven formats, one after the other
  (what a per-value cache upstream cannot merge);
- cn_landline: mainland landlines (010-62345678, (0755)..., +86 10 ...);
- foreign: US/GB/DE/FR/AU mobiles and landlines, national with the record's country or +cc;
- invalid: mainland mobiles with 2-3 digits lost, as the demo corrupts them;
- mix: all of the above shuffled together, the order a DISTINCT scan would feed them in.

The prefix tables are warmed on other numbers first (they fill within the first few thousand
numbers of a run). Garbage collection stays on, as in production. CPU time (not wall time, the
machine is shared), best of R runs over different strings, the same runs for both; every answer
is compared with the plain pipeline's (tests/unit/test_phones.py's reference) and the benchmark
fails if one differs. Results go to `bench/results/phones.json`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

import phonenumbers

# The reference the module must equal answer for answer lives with its tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dagster_project.lib.demo.reference import CN_MOBILE_PREFIXES, DIVISIONS, PHONE_PLANS
from dagster_project.lib.demo.text import PHONE_STYLES, format_phone, shorten_phone, to_full_width
from dagster_project.lib.standardise.phones import standardise_phone
from tests.unit.test_phones import reference

RESULTS = Path(__file__).parent / "results" / "phones.json"
Case = tuple[str, str]  # (raw phone text, record country)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


def cn_mobile(rng: random.Random) -> str:
    return rng.choice(CN_MOBILE_PREFIXES)[0] + _digits(rng, 8)


def cn_landline(rng: random.Random) -> str:
    division = rng.choice(DIVISIONS)
    return division.area_code + rng.choice("2345678") + _digits(rng, division.local_digits - 1)


def foreign(rng: random.Random) -> tuple[str, str]:
    country = rng.choice(sorted(PHONE_PLANS))
    plan = PHONE_PLANS[country]
    if rng.random() < 0.7:
        prefix = rng.choice(plan.mobile_prefixes)
        return country, prefix + _digits(rng, plan.mobile_length - len(prefix))
    area, firsts = rng.choice(plan.landline_areas)
    rest = plan.landline_length - len(area) - 1
    return country, area + rng.choice(firsts) + _digits(rng, rest)


def build_cases(numbers: int, seed: int) -> dict[str, list[Case]]:
    rng = random.Random(seed)
    cases: dict[str, list[Case]] = {}
    cases["cn_mobile_cold"] = [
        (format_phone("CN", cn_mobile(rng), rng.choice(PHONE_STYLES)), "CN") for _ in range(numbers)
    ]
    seven = ("compact", "national", "dash", "intl", "e164", "erp", "idd")
    cases["cn_mobile_same_number_7_formats"] = [
        (format_phone("CN", nsn, style), "CN")
        for nsn in (cn_mobile(rng) for _ in range(numbers // len(seven)))
        for style in seven
    ]
    cases["cn_landline"] = [
        (format_phone("CN", cn_landline(rng), rng.choice(PHONE_STYLES)), "CN")
        for _ in range(numbers)
    ]
    foreign_cases = []
    for _ in range(numbers):
        country, nsn = foreign(rng)
        style = rng.choice(("national", "intl", "e164", "dash", "paren"))
        foreign_cases.append((format_phone(country, nsn, style), country))
    cases["foreign"] = foreign_cases
    cases["invalid"] = [
        (
            shorten_phone(
                format_phone("CN", cn_mobile(rng), rng.choice(PHONE_STYLES)), rng.random()
            ),
            "CN",
        )
        for _ in range(numbers)
    ]
    mix = [case for name in list(cases) for case in cases[name][: numbers // 5]]
    mix += [(to_full_width(raw), region) for raw, region in mix[: numbers // 30]]
    rng.shuffle(mix)
    cases["mix"] = mix
    return cases


def cpu_us_per_call(
    function: Callable[[str, str], object], runs: list[list[Case]]
) -> tuple[float, list[list[object]]]:
    """Best CPU time per call over runs of different strings (no run repeats a string), and
    every answer, so two functions timed on the same runs can be compared answer by answer."""
    best = float("inf")
    answers = []
    for cases in runs:
        began = time.process_time()
        answers.append([function(raw, region) for raw, region in cases])
        best = min(best, (time.process_time() - began) / len(cases))
    return round(best * 1e6, 2), answers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--numbers", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()

    warm = build_cases(5_000, args.seed + 1000)
    for cases in warm.values():
        for raw, region in cases:
            standardise_phone(raw, region)
    runs = [build_cases(args.numbers, args.seed + run) for run in range(args.repeats)]
    gc.collect()  # the test strings themselves, not the calls, would pay for the first sweep
    results: dict[str, dict[str, float]] = {}
    for name in runs[0]:
        scenario_runs = [run[name] for run in runs]
        # Like for like: both over the same strings, best of the same runs.
        ours_us, ours = cpu_us_per_call(standardise_phone, scenario_runs)
        plain_us, plain = cpu_us_per_call(reference, scenario_runs)
        differing = sum(a != b for run_a, run_b in zip(ours, plain, strict=True)
                        for a, b in zip(run_a, run_b, strict=True))  # fmt: skip
        if differing:
            raise SystemExit(f"{name}: {differing} answer(s) differ from plain phonenumbers")
        row = {
            "calls_per_run": len(scenario_runs[0]),
            "standardise_phone_us": ours_us,
            "plain_phonenumbers_us": plain_us,
            "answers_identical": True,
        }
        results[name] = row
        print(
            f"{name:34s} {row['standardise_phone_us']:6.2f} µs/call"
            f"   plain phonenumbers {row['plain_phonenumbers_us']:6.2f} µs/call",
            flush=True,
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "numbers_per_scenario": args.numbers,
                "repeats": args.repeats,
                "seed": args.seed,
                "scenarios": results,
                "phonenumbers": phonenumbers.__version__,
                "cpu_count": os.cpu_count(),
                "load_average_1m_at_end": round(os.getloadavg()[0], 2),
                "python": platform.python_version(),
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
