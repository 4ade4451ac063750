"""Run every benchmark, or the ones named: python -m bench [answer] [coldstart] [notify]."""

from __future__ import annotations

import importlib
import sys

ALL = ("answer", "coldstart", "notify")


def main() -> None:
    names = sys.argv[1:] or list(ALL)
    for name in names:
        if name not in ALL:
            raise SystemExit(f"unknown benchmark {name!r}; choose from {', '.join(ALL)}")
        try:
            module = importlib.import_module(f"bench.{name}")
        except ModuleNotFoundError as error:
            if error.name == f"bench.{name}":
                print(f"({name}: not available in this checkout)\n")
                continue
            raise
        module.main()
        print()


if __name__ == "__main__":
    main()
