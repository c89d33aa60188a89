"""Run every bench/*.py module that defines main(), in name order."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path


def main() -> int:
    failures = 0
    here = Path(__file__).parent
    for info in sorted(pkgutil.iter_modules([str(here)]), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"bench.{info.name}")
        entry = getattr(module, "main", None)
        if not callable(entry):
            continue
        print(f"== bench.{info.name}", flush=True)
        try:
            entry()
        except Exception as exc:  # one failing bench must not hide the others
            failures += 1
            print(f"bench.{info.name} failed: {exc!r}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
