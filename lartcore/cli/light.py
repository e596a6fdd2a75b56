"""The handlers of the `lart` commands that need neither torch nor the models (`lart eval`, `lart data
check`): this module imports only numpy, pyarrow and the modules reading and scoring AVA files, about
0.25 s (`lart eval` never imports pandas; `data check` does), where `lartcore.cli.commands` takes about
4 s (torch, trimesh, ...)."""
from __future__ import annotations

import sys
from pathlib import Path

from lartcore import eval


def run_check(args) -> int:
    """Print the table; exit 1 if a required entry is missing or malformed."""
    import pandas as pd  # noqa: PLC0415  (~0.3 s `lart eval` does not need)

    from lartcore.data import manifest  # noqa: PLC0415  (yaml, shots, video probing: ~0.07 s `lart eval` does not need)
    found = manifest.load_manifest(args.manifest)
    if not Path(args.root).is_dir():
        raise FileNotFoundError(f"data root {args.root} is not a folder")
    table = manifest.check_manifest(found, args.root)
    with pd.option_context("display.max_colwidth", 120, "display.width", 200):
        print(f"{found.name}: {found.path}\nroot: {args.root}\n{table.to_string(index=False)}")
    failed = table[table.required & (table.status != "present")]
    print(f"ok: all {int(table.required.sum())} required entries present" if failed.empty else
          f"FAILED: {len(failed)} required entries not usable: {', '.join(failed.entry)}")
    return 0 if failed.empty else 1


def run_eval(args) -> int:
    result = eval.evaluate_files(args.gt, args.pred, args.labelmap, args.exclusions, args.flavor, args.strict)
    for line in result.warnings:
        print(f"lart: warning: {line}", file=sys.stderr)
    print(eval.summary(result))
    if args.out:
        csv_path, json_path = result.save(args.out)
        print(f"wrote {csv_path} and {json_path}")
    return 0
