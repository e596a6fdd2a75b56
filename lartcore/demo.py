"""`make demo` / `lart demo`: the main job on the bundled demo dataset. Every step is cached, so a
second run reuses what is built."""
from __future__ import annotations

from pathlib import Path

from lartcore import paths


def cli_demo(args) -> int:
    from lartcore.data import store, synthetic

    root = Path(args.root) if args.root else paths.demo_root()
    synthetic.build_demo(root)
    print("\n== Demo dataset (synthetic, deterministic; not AVA) ==")
    for name in synthetic.STORE_SPLITS:
        print(f"\n-- {name}")
        print(store.stats(store.TrackStore(root / "store" / name)).to_string(index=False))
    return 0
