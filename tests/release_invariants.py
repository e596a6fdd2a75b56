"""What the official LART validation loader needs from a folder of release track files, checked without
the official code (tests cannot run it; the oracle harness ran it on files of ours, see data/README.md).

Each rule names the official code that needs it (brjathu/LART @9d33242):
- frame_size / frame_bbox / frame_conf are Python lists of T entries: the loader appends padding rows to
  them (phalp_action_datatset.py:366-378) and the evaluator stacks them per frame (evaluators/ava.py:104-118);
- every apperance_index key is in action_label_psudo and apperance_dict (read for every index != -1,
  phalp_action_datatset.py:252-260, 330-337), the latter unless the file has no features at all;
- `fid` is a counter shared by all tracks of a clip (`<dataset>_<video>_<KEY_FRAME>`): other people are
  aligned to the person of interest by it (:288-308), so image number - fid is one constant per clip;
- frame names carry consecutive image numbers, so that the key frame is found by name (ava.py:138-146);
- no numpy scalar objects: numpy >= 2 pickles them as `numpy._core.multiarray.scalar`, which the official
  code's numpy (< 1.24) cannot import (joblib stores arrays portably).
"""
from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import joblib
import numpy as np


def _file_problems(path: Path, d: dict) -> list[str]:
    T = len(d["fid"])
    out = []
    for key in ("frame_size", "frame_bbox", "frame_conf", "frame_name"):
        if type(d[key]) is not list or len(d[key]) != T:
            out.append(f"{path.name}: '{key}' is a {type(d[key]).__name__}, not a list of {T} entries")
    scalars = [key for key in ("frame_size", "frame_bbox", "frame_conf") if any(isinstance(v, np.generic)
                                                                             for v in d[key])]
    if scalars or any(isinstance(k, np.generic) for key in ("apperance_dict", "action_label_psudo")
                      for k in d[key]) or b"numpy._core" in path.read_bytes():
        out.append(f"{path.name}: numpy scalars ({scalars or 'dict keys'}) or numpy._core references")
    index = np.asarray(d["apperance_index"]).reshape(-1)
    used = {int(k) for k in index if k != -1}
    if used - set(d["action_label_psudo"]):
        out.append(f"{path.name}: keys {sorted(used - set(d['action_label_psudo']))} not in action_label_psudo")
    if d["apperance_dict"] and used - set(d["apperance_dict"]):
        out.append(f"{path.name}: keys {sorted(used - set(d['apperance_dict']))} not in apperance_dict")
    numbers = np.array([int(re.search(r"(\d+)\.\w+$", n).group(1)) for n in d["frame_name"]])
    if np.any(np.diff(numbers) != 1):
        out.append(f"{path.name}: frame names are not consecutive images")
    return out


def official_loader_problems(folder: str | Path) -> list[str]:
    """Every violation of the rules above in `folder/*.pkl` (an empty list: the official loader reads them)."""
    problems, offsets = [], defaultdict(set)
    paths = sorted(Path(folder).glob("*.pkl"))
    assert paths, f"no track files in {folder}"
    for path in paths:
        d = joblib.load(path)
        problems += _file_problems(path, d)
        numbers = np.array([int(re.search(r"(\d+)\.\w+$", n).group(1)) for n in d["frame_name"]])
        offsets["_".join(path.stem.split("_")[:-2])].update((numbers - np.asarray(d["fid"]).reshape(-1)).tolist())
    problems += [f"clip {clip}: image number - fid takes the values {sorted(v)[:5]}"
                 for clip, v in offsets.items() if len(v) != 1]
    return problems
