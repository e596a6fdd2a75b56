"""Where things live. Every default location is resolved here, from one environment variable each.

- `LART_DATA_ROOT`   data root (default `./data`); the demo dataset is built into `<root>/demo`.
- `LART_RESULTS_DIR` results registry: predictions, metrics, checkpoints (default `./results`).
- `LART_SMPL_DIR`    licensed SMPL model files supplied by the user (optional).
"""
from __future__ import annotations

import os
from pathlib import Path


def data_root() -> Path:
    return Path(os.environ.get("LART_DATA_ROOT", "data"))


def demo_root() -> Path:
    return data_root() / "demo"


def results_dir() -> Path:
    return Path(os.environ.get("LART_RESULTS_DIR", "results"))


def smpl_dir() -> Path | None:
    v = os.environ.get("LART_SMPL_DIR")
    return Path(v) if v else None
