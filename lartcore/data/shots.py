"""Shot changes: the frames where a video cuts to a new shot (PHALP's per-frame `shot` flag).

The LART release format has no place for them (one file per person track), so they travel beside the
tracks as a `shots.csv` sidecar with header `dataset,video,frame`: one row per shot change, `frame` = the
first frame of the new shot (Track.frame numbering; the video's first shot is not listed). Who writes it:
`lart data convert-phalp` (from the `shot` flags), the demo generator (its cuts), and `lart data pack` /
`write_store` copy it into the store. A video with no row has no known shot change.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from lartcore.fileio import atomic_path

COLUMNS = ["dataset", "video", "frame"]


class ShotsError(ValueError):
    """A shots.csv is malformed; the message names the file, the line and what was expected."""


def shots_frame(rows=()) -> pd.DataFrame:
    """Rows (dataset, video, frame) -> the canonical table: typed, de-duplicated, sorted."""
    df = pd.DataFrame(list(rows), columns=COLUMNS)
    df = df.astype({"dataset": str, "video": str, "frame": np.int64})
    return df.drop_duplicates().sort_values(COLUMNS, ignore_index=True)


def read_shots(path: str | Path) -> pd.DataFrame:
    """Read and check a shots.csv (see module doc)."""
    path = Path(path)
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    if list(df.columns) != COLUMNS:
        raise ShotsError(f"{path}: header must be {','.join(COLUMNS)}, found {','.join(map(str, df.columns))}")
    for i, (dataset, video, frame) in enumerate(df.itertuples(index=False), start=2):
        if not dataset or not video:
            raise ShotsError(f"{path}:{i}: empty dataset or video")
        if not frame.isdigit():
            raise ShotsError(f"{path}:{i}: frame must be an integer >= 0, found {frame!r}")
    return shots_frame(df.itertuples(index=False))


def write_shots(df: pd.DataFrame, path: str | Path) -> Path:
    """Write the table atomically (a reader never sees a half-written file)."""
    with atomic_path(path) as tmp:
        shots_frame(df[COLUMNS].itertuples(index=False)).to_csv(tmp, index=False)
    return Path(path)


def update_shots(path: str | Path, videos, df: pd.DataFrame) -> Path:
    """In the file at `path` (created if absent), replace every row of `videos` ((dataset, video) pairs)
    by `df`'s rows (a video with no row in `df` has no shot change); other videos' rows are kept."""
    path = Path(path)
    old = read_shots(path) if path.is_file() else shots_frame()
    done = set(videos)
    keep = old[[k not in done for k in zip(old["dataset"], old["video"], strict=True)]]
    return write_shots(pd.concat([keep, df], ignore_index=True), path)


def changes(df: pd.DataFrame, video: str) -> np.ndarray:
    """Sorted shot-change frames of `video` (any dataset), (K,) int64."""
    return np.unique(df.loc[df["video"] == video, "frame"].to_numpy(np.int64))
