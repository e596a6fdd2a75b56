"""Where things live: the default locations, and the layout of a data root (`DataRoot`), each in one place.

Defaults come from one environment variable each; without it they are folders of the repository (when
lartcore runs from a source checkout, else of the working directory), so a notebook run from `notebooks/`
or a script run from anywhere finds the same data and results as `make demo`:

- `LART_DATA_ROOT`   data root (default `<repo>/data`); the demo dataset is built into `<root>/demo`.
- `LART_RESULTS_DIR` results registry: predictions, metrics, checkpoints (default `<repo>/results`).
- `LART_SMPL_DIR`    licensed SMPL model files supplied by the user (optional).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi")
SHOTS_FILE = "shots.csv"   # shot changes (lartcore.data.shots) beside a folder of release tracks or in a store


def _base() -> Path:
    """The repository root when lartcore runs from a source checkout, else the working directory."""
    return REPO if (REPO / "pyproject.toml").is_file() else Path.cwd()


def data_root() -> Path:
    return Path(os.environ.get("LART_DATA_ROOT") or _base() / "data")


def demo_root() -> Path:
    return data_root() / "demo"


def results_dir() -> Path:
    return Path(os.environ.get("LART_RESULTS_DIR") or _base() / "results")


def smpl_dir() -> Path | None:
    v = os.environ.get("LART_SMPL_DIR")
    return Path(v) if v else None


@dataclass(frozen=True)
class DataRoot:
    """The files of a data root, as `lart data build-demo` writes them and real data is laid out:

        ava/<split>_v2.2.csv                         ground truth of a split (ava_train, ava_val)
        ava/<split>_predicted_boxes.csv              person boxes of a detector (SlowFast style)
        ava/<split>_excluded_timestamps_v2.2.csv     keyframes excluded from evaluation
        ava/ava_action_list_v2.2_for_activitynet_2019.pbtxt   label map of the 60 evaluated classes
        tracks/<split>/*.pkl, shots.csv              LART release per-track pickles (+ shot changes)
        store/<split>/                               packed track stores (`lart data pack`)
        videos/<video_id>.mp4                        the clips' videos, from AVA second 900 (optional)
    """
    path: Path

    def __post_init__(self):
        object.__setattr__(self, "path", Path(self.path))

    def gt(self, split: str = "ava_val") -> Path:
        return self.path / "ava" / f"{split}_v2.2.csv"

    def boxes(self, split: str = "ava_val") -> Path:
        return self.path / "ava" / f"{split}_predicted_boxes.csv"

    def exclusions(self, split: str = "ava_val") -> Path:
        return self.path / "ava" / f"{split}_excluded_timestamps_v2.2.csv"

    def labelmap(self) -> Path:
        return self.path / "ava" / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"

    def tracks(self, split: str) -> Path:
        return self.path / "tracks" / split

    def shots(self, split: str) -> Path:
        """The shot-change sidecar of a split's release pickles (`lartcore.data.shots`)."""
        return self.tracks(split) / SHOTS_FILE

    def store(self, split: str) -> Path:
        return self.path / "store" / split

    def stores(self) -> list[str]:
        """Splits with a packed store, sorted."""
        folder = self.path / "store"
        return sorted(p.name for p in folder.iterdir() if (p / "index.parquet").is_file()) if folder.is_dir() else []

    def video(self, video_id: str) -> Path | None:
        """The video file of a clip (the first of VIDEO_SUFFIXES that exists), or None."""
        found = [self.path / "videos" / (video_id + s) for s in VIDEO_SUFFIXES]
        return next((p for p in found if p.is_file()), None)

    def video_file(self, video_id: str) -> Path:
        """Where a clip's video is written: videos/<video_id>.mp4."""
        return self.path / "videos" / f"{video_id}{VIDEO_SUFFIXES[0]}"
