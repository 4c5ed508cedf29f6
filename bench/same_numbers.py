"""Whether two runs of one experiment report the same numbers: every value of the comparison's CSV
tables, matched row by row on what identifies it, within a tolerance.

    python bench/same_numbers.py BEFORE/storage/tiny AFTER/storage/tiny [--tolerance 1e-6]

For a change that must not move a number (a refactoring, a module moved): run the same experiment
before and after it and compare. Columns present on one side only (a column added) are named and
ignored; a row missing on either side, or a value apart by more than ``tolerance`` (absolute, or
relative to the larger value), is a difference. NaN equals NaN. Exits 1 where anything differs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

#: Each table's identifying columns; every other numeric column is compared.
TABLES = {
    "summary": ["run", "set", "metric"],
    "intervals": ["label", "set", "metric"],
    "verdicts": ["child", "set", "metric"],
    "structures": ["set", "metric"],
}


def differences(before: pd.DataFrame, after: pd.DataFrame, keys: list[str], tolerance: float) -> list[str]:
    """One line per row or value of ``before`` that ``after`` lacks or holds otherwise."""
    shared = [c for c in before.columns if c in after.columns and c not in keys]
    a, b = before.set_index(keys), after.set_index(keys)
    lines = [f"row {key} missing after" for key in a.index.difference(b.index)]
    lines += [f"row {key} added after" for key in b.index.difference(a.index)]
    common = a.index.intersection(b.index)
    for column in shared:
        x, y = a.loc[common, column], b.loc[common, column]
        if not (pd.api.types.is_numeric_dtype(x) and pd.api.types.is_numeric_dtype(y)):
            lines += [f"{key} {column}: {u!r} -> {v!r}" for key, u, v in zip(common, x, y)
                      if u != v and not (pd.isna(u) and pd.isna(v))]
            continue
        u, v = x.to_numpy(float), y.to_numpy(float)
        apart = ~((np.isnan(u) & np.isnan(v)) | np.isclose(u, v, rtol=tolerance, atol=tolerance))
        lines += [f"{key} {column}: {p!r} -> {q!r}" for key, p, q in zip(common[apart], u[apart], v[apart])]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--tolerance", type=float, default=1e-6)
    args = parser.parse_args(argv)
    found = 0
    for name, keys in TABLES.items():
        before, after = (pd.read_csv(folder / f"{name}.csv")
                         for folder in (args.before, args.after))
        added = sorted(set(after.columns) - set(before.columns))
        lines = differences(before, after, keys, args.tolerance)
        new = f" (new columns: {', '.join(added)})" if added else ""
        print(f"{name}.csv: {len(before):,} rows, {len(lines)} differences{new}")
        print("".join(f"  {line}\n" for line in lines[:20]), end="")
        found += len(lines)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
