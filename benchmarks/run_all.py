"""Run every benchmark script in turn; each prints its figures beside its targets."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench_scale.py runs bench_fleet.py and bench_report.py and prints their figures side by side.
SCRIPTS = ["bench_analysis.py", "bench_anomaly.py", "bench_collect.py", "bench_scale.py", "bench_catch_up.py",
           "bench_labels.py"]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n=== {name} ===", flush=True)
        if subprocess.call([sys.executable, str(path)]) != 0:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
