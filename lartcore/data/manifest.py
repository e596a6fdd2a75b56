"""Data manifests: what a data root must hold, and a cheap check of a root against it (`lart data check`).

A manifest (`data_manifests/<name>.yaml`) lists entries:

    - name: ava_train_gt                      unique within the manifest
      path: ava/ava_train_v2.2.csv            relative to the data root; glob patterns allowed
      what: AVA v2.2 training ground truth    one line for people
      required: true                          a missing/malformed required entry fails the check
      count: 1 | min_count: 1                 matches expected: exactly / at least (default: at least 1)
      rows: 37                                optional: expected data rows (CSV) or entries (pbtxt), exact
      check: ava_gt_csv                       format check, one of CHECKS
      source: https://...                     optional: where to get it (shown when missing)

Checks are cheap: CSVs have their first lines parsed by the strict readers of `lartcore.data.ava`
(rows are counted by newlines only when `rows` is given), release pickles are checked by file name
only, pickles by their magic byte only (they are never unpickled here), videos by opening one with PyAV.
"""
from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

import lartcore
from lartcore.data import ava
from lartcore.data.shots import read_shots
from lartcore.video import video_info

MANIFEST_DIR = Path(lartcore.__file__).resolve().parents[1] / "data_manifests"
HEAD_LINES = 200   # lines of a CSV parsed by its format check
RELEASE_NAME = re.compile(  # <dataset>_<video: 11 chars>_<keyframe: 6 digits>_<track>_<length>.pkl
    r"[A-Za-z]+-[a-z]+_(?P<video>.{11})_(?P<keyframe>\d{6})_(?P<track>\d+)_(?P<length>\d+)\.pkl")
_ENTRY_KEYS = {"name", "path", "what", "required", "count", "min_count", "rows", "check", "source"}


@dataclass(frozen=True)
class Entry:
    name: str
    path: str
    what: str
    required: bool
    check: str
    count: int | None = None       # exact number of matches
    min_count: int = 1             # used when count is None
    rows: int | None = None
    source: str | None = None


@dataclass(frozen=True)
class Manifest:
    name: str
    description: str
    entries: tuple[Entry, ...]
    path: Path


def _head_copy(path: Path, tmp: Path) -> Path:
    """The first HEAD_LINES lines of `path` in a file of the same name under `tmp`."""
    out = tmp / path.name
    with open(path, "rb") as src, open(out, "wb") as dst:
        dst.writelines(line for _, line in zip(range(HEAD_LINES), src, strict=False))
    return out


def _csv_check(reader):
    """A format check that parses the first lines with an ava reader; messages name the real file."""
    def check(path: Path) -> int | None:
        with tempfile.TemporaryDirectory() as tmp:
            head = _head_copy(path, Path(tmp))
            try:
                reader(head)
            except ava.AvaFormatError as e:
                raise ava.AvaFormatError(str(e).replace(str(head), str(path))) from None
        return None
    return check


def _count_rows(path: Path) -> int:
    """Data rows of a CSV: newline-terminated non-empty lines, minus a header line."""
    n, last = 0, b"\n"
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            n += block.count(b"\n")
            last = block[-1:]
    n += last != b"\n"
    with open(path, "rb") as f:
        first = f.readline().decode(errors="replace").rstrip("\r\n").split(",")
    return n - ava.looks_like_header(first)


def _check_pbtxt(path: Path) -> int:
    return len(ava.read_labelmap(path))


def _check_timestamps(path: Path) -> int:
    return len(ava.read_included_timestamps(path))


def _check_release_name(path: Path) -> None:
    m = RELEASE_NAME.fullmatch(path.name)
    if not m or int(m["length"]) < 1:
        raise ValueError(f"{path.name}: expected <dataset>_<11-char video>_<6-digit keyframe>_<track>_"
                         "<length>.pkl")


def _check_pickle(path: Path) -> None:
    with open(path, "rb") as f:
        if f.read(1) != b"\x80":
            raise ValueError(f"{path}: not a pickle (protocol >= 2 files start with byte 0x80)")


def _check_json(path: Path) -> None:
    try:
        json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: invalid JSON: {e}") from None


def _check_shots(path: Path) -> int:
    return len(read_shots(path))


def _check_video(path: Path) -> int:
    info = video_info(path)       # ValueError when not a readable video
    return info["frames"]


def _check_exists(_path: Path) -> None:
    return None


# name -> check(path) -> number of rows/entries it found (None = not counted). Raises ValueError if malformed.
CHECKS = {
    "exists": _check_exists,
    "pbtxt": _check_pbtxt,
    "included_timestamps": _check_timestamps,
    "ava_gt_csv": _csv_check(ava.read_gt),
    "ava_det_csv": _csv_check(ava.read_detections),
    "ava_person_boxes_csv": _csv_check(ava.read_person_boxes),
    "ava_keyframes_csv": _csv_check(ava.read_keyframes),
    "release_pkl_name": _check_release_name,
    "pickle": _check_pickle,
    "json": _check_json,
    "shots_csv": _check_shots,
    "video": _check_video,
}
NAME_ONLY_CHECKS = {"exists", "release_pkl_name"}   # cheap enough to run on every match of a glob


def _entry(raw, where: str) -> Entry:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a mapping, found {raw!r}")   # noqa: TRY004 (a user file error)
    unknown = set(raw) - _ENTRY_KEYS
    missing = {"name", "path", "what", "required", "check"} - set(raw)
    if unknown or missing:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    if raw["check"] not in CHECKS:
        raise ValueError(f"{where}: check {raw['check']!r} is not one of {sorted(CHECKS)}")
    if Path(raw["path"]).is_absolute():
        raise ValueError(f"{where}: path {raw['path']!r} must be relative to the data root")
    if "count" in raw and "min_count" in raw:
        raise ValueError(f"{where}: give count (exact) or min_count, not both")
    return Entry(**{k: raw[k] for k in raw})


def load_manifest(path_or_name: str | Path) -> Manifest:
    """Read a manifest YAML; a bare name ("ava_v2.2") means `data_manifests/<name>.yaml` of this checkout."""
    path = Path(path_or_name)
    if path.suffix not in (".yaml", ".yml") and not path.exists():
        path = MANIFEST_DIR / f"{path_or_name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in MANIFEST_DIR.glob("*.yaml"))
        raise FileNotFoundError(f"no manifest {path_or_name!r} (looked for {path}; known names: {known})")
    raw = yaml.safe_load(path.read_text())
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        msg = f"{path}: expected a mapping with name, description and a list of entries"
        raise ValueError(msg)  # noqa: TRY004 (a user file error)
    entries = tuple(_entry(e, f"{path}: entry {i} ({e.get('name', '?') if isinstance(e, dict) else e})")
                    for i, e in enumerate(raw["entries"]))
    names = [e.name for e in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: duplicate entry names {sorted({n for n in names if names.count(n) > 1})}")
    return Manifest(raw.get("name", path.stem), raw.get("description", ""), entries, path)


def _check_entry(entry: Entry, root: Path) -> tuple[str, int, str]:
    """(status, found count, detail) of one entry under `root`."""
    matches = sorted(root.glob(entry.path))
    expected = entry.count if entry.count is not None else entry.min_count
    if len(matches) < expected:
        how = "" if entry.count is not None else "at least "
        hint = f"; get it from {entry.source}" if entry.source else ""
        return "missing", len(matches), f"found {len(matches)}, expected {how}{expected}: {entry.what}{hint}"
    if entry.count is not None and len(matches) > entry.count:
        return "malformed", len(matches), f"found {len(matches)}, expected exactly {entry.count}"
    check, rows = CHECKS[entry.check], None
    try:
        for path in matches if entry.check in NAME_ONLY_CHECKS else matches[:1]:
            rows = check(path)
        if entry.rows is not None:
            rows = _count_rows(matches[0]) if rows is None else rows
            if rows != entry.rows:
                detail = f"{matches[0].name}: {rows} rows/entries, expected {entry.rows}"
                return "malformed", len(matches), detail
    except (ValueError, OSError) as e:
        return "malformed", len(matches), str(e)
    return "present", len(matches), entry.what


def check_manifest(manifest: Manifest, root: str | Path) -> pd.DataFrame:
    """One row per entry: entry, required, status (present/missing/malformed), found, expected, detail."""
    root = Path(root)
    rows = []
    for e in manifest.entries:
        status, found, detail = _check_entry(e, root)
        expected = str(e.count) if e.count is not None else f">={e.min_count}"
        rows.append({"entry": e.name, "required": e.required, "status": status, "found": found,
                     "expected": expected, "detail": detail})
    return pd.DataFrame(rows, columns=["entry", "required", "status", "found", "expected", "detail"])
