"""The facts of the AVA / PHALP world that the rest of lartcore builds on, each stated once.

Ground floor: numpy and the standard library only; nothing here imports from lartcore.

- AVA v2.2 label space: 80 action classes (ids 1..80), the 60 the official evaluation scores, and each
  class's type (PM person movement, OM object manipulation, PI person interaction).
- AVA time axis: an AVA clip is seconds 900..1800 of a movie; track frames are counted at 30 fps from
  second 900 (frame 0), and keyframes are the whole seconds 902..1798.
- PHALP pose layout: the 229-d `pose_shape` vector and the 45 3D joints.
- Label states of a track frame: no label, pseudo label (a teacher's probabilities), ground truth.
- PHALP's full-frame camera: a pinhole with an artificial focal length.
"""
from __future__ import annotations

import re

import numpy as np

# ---------------------------------------------------------------- AVA v2.2 label space

NUM_CLASSES = 80
CLASS_NAMES: dict[int, str] = {   # ava_action_list_v2.2.pbtxt, ids 1..80
    1: 'bend/bow (at the waist)',
    2: 'crawl',
    3: 'crouch/kneel',
    4: 'dance',
    5: 'fall down',
    6: 'get up',
    7: 'jump/leap',
    8: 'lie/sleep',
    9: 'martial art',
    10: 'run/jog',
    11: 'sit',
    12: 'stand',
    13: 'swim',
    14: 'walk',
    15: 'answer phone',
    16: 'brush teeth',
    17: 'carry/hold (an object)',
    18: 'catch (an object)',
    19: 'chop',
    20: 'climb (e.g., a mountain)',
    21: 'clink glass',
    22: 'close (e.g., a door, a box)',
    23: 'cook',
    24: 'cut',
    25: 'dig',
    26: 'dress/put on clothing',
    27: 'drink',
    28: 'drive (e.g., a car, a truck)',
    29: 'eat',
    30: 'enter',
    31: 'exit',
    32: 'extract',
    33: 'fishing',
    34: 'hit (an object)',
    35: 'kick (an object)',
    36: 'lift/pick up',
    37: 'listen (e.g., to music)',
    38: 'open (e.g., a window, a car door)',
    39: 'paint',
    40: 'play board game',
    41: 'play musical instrument',
    42: 'play with pets',
    43: 'point to (an object)',
    44: 'press',
    45: 'pull (an object)',
    46: 'push (an object)',
    47: 'put down',
    48: 'read',
    49: 'ride (e.g., a bike, a car, a horse)',
    50: 'row boat',
    51: 'sail boat',
    52: 'shoot',
    53: 'shovel',
    54: 'smoke',
    55: 'stir',
    56: 'take a photo',
    57: 'text on/look at a cellphone',
    58: 'throw',
    59: 'touch (an object)',
    60: 'turn (e.g., a screwdriver)',
    61: 'watch (e.g., TV)',
    62: 'work on a computer',
    63: 'write',
    64: 'fight/hit (a person)',
    65: 'give/serve (an object) to (a person)',
    66: 'grab (a person)',
    67: 'hand clap',
    68: 'hand shake',
    69: 'hand wave',
    70: 'hug (a person)',
    71: 'kick (a person)',
    72: 'kiss (a person)',
    73: 'lift (a person)',
    74: 'listen to (a person)',
    75: 'play with kids',
    76: 'push (another person)',
    77: 'sing to (e.g., self, a person, a group)',
    78: 'take (an object) from (a person)',
    79: 'talk to (e.g., self, a person, a group)',
    80: 'watch (a person)',

}
# Types are contiguous id ranges in the AVA v2.2 action list: PM 1..14, OM 15..63, PI 64..80.
TYPES = ("PM", "OM", "PI")
_TYPE_STARTS = np.array([1, 15, 64])
# pbtxt `label_type` -> our short type
LABEL_TYPES = {"PERSON_MOVEMENT": "PM", "OBJECT_MANIPULATION": "OM", "PERSON_INTERACTION": "PI"}
# Not scored by the v2.2 evaluation (ava_action_list_v2.2_for_activitynet_2019.pbtxt lists the other 60).
NOT_EVALUATED = (2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75)
EVALUATED_IDS: tuple[int, ...] = tuple(i for i in range(1, NUM_CLASSES + 1) if i not in NOT_EVALUATED)


def class_type(action_id: int) -> str:
    """"PM", "OM" or "PI" of an AVA id 1..80."""
    if not 1 <= int(action_id) <= NUM_CLASSES:
        raise KeyError(f"AVA action id {action_id} is not in 1..{NUM_CLASSES}")
    return TYPES[int(np.searchsorted(_TYPE_STARTS, int(action_id), side="right")) - 1]


def _short_names() -> dict[int, str]:
    """Parenthesised parts dropped; where that makes two names equal, the first one's gist is kept in
    parentheses ("watch (TV)" vs "watch (person)")."""
    base = {i: re.sub(r"\s*\([^)]*\)", "", n).strip() for i, n in CLASS_NAMES.items()}
    count = {b: list(base.values()).count(b) for b in base.values()}
    out = {}
    for i, name in CLASS_NAMES.items():
        if count[base[i]] > 1:
            gist = re.search(r"\(([^)]*)\)", name)
            gist = re.sub(r"^(e\.g\.,|another|an|a)\s+", "", gist.group(1)) if gist else ""
            out[i] = f"{base[i]} ({gist})"
        else:
            out[i] = base[i]
    return out


SHORT_NAMES = _short_names()


def short_name(action_id: int) -> str:
    """A short unique label for UI chips: "carry/hold (an object)" -> "carry/hold"."""
    if int(action_id) not in SHORT_NAMES:
        raise KeyError(f"AVA action id {action_id} is not in 1..{NUM_CLASSES}")
    return SHORT_NAMES[int(action_id)]


# ---------------------------------------------------------------- AVA time axis

FPS = 30                        # track frames per second
FIRST_SECOND = 900              # AVA second of track frame 0 (an AVA clip starts at second 900 of its movie)
KEYFRAME_SECONDS = (902, 1798)  # the annotated keyframe seconds, inclusive (ava_included_timestamps_v2.2)


def frame_of(timestamp: float) -> int:
    """AVA timestamp (s) -> track frame: (t - 900) * 30, rounded."""
    return round((float(timestamp) - FIRST_SECOND) * FPS)


def timestamp_of(frame) -> float:
    """Track frame -> AVA timestamp (s)."""
    return FIRST_SECOND + int(frame) / FPS


def keyframe_seconds(first, last):
    """(lo, hi) inclusive: the keyframe seconds whose frame lies in [first, last] (arrays or ints, elementwise;
    lo > hi where there is none)."""
    lo = np.maximum(-(-np.asarray(first) // FPS) + FIRST_SECOND, KEYFRAME_SECONDS[0])     # ceil
    hi = np.minimum(np.asarray(last) // FPS + FIRST_SECOND, KEYFRAME_SECONDS[1])           # floor
    return lo, hi


def keyframes(first: int, last: int) -> np.ndarray:
    """(K,) frames of the keyframe seconds inside frames [first, last]."""
    lo, hi = keyframe_seconds(int(first), int(last))
    return (np.arange(int(lo), int(hi) + 1) - FIRST_SECOND) * FPS


# ---------------------------------------------------------------- PHALP pose layout

POSE_DIM = 229                    # pose_shape per frame:
GLOBAL_ORIENT = slice(0, 9)       #   SMPL root rotation, one 3x3 matrix row-major
BODY_POSE = slice(9, 216)         #   23 x (3x3) rotation matrices, SMPL joints 1..23
BETAS = slice(216, 226)           #   10 SMPL shape coefficients
LOCATION = slice(226, 229)        #   PHALP camera translation (tx, ty, tz / LOCATION_Z_SCALE)
LOCATION_Z_SCALE = 200.0
NUM_JOINTS_3D = 45                # 25 OpenPose BODY_25 + 19 SPIN joints + 1 zero row
JOINTS_DIM = NUM_JOINTS_3D * 3    # the flattened joints stream

# ---------------------------------------------------------------- label states (Track.has_gt)

NO_LABEL, PSEUDO_LABEL, GT_LABEL = 0, 1, 2

# ---------------------------------------------------------------- PHALP full-frame camera


def focal_length(height: int, width: int) -> float:
    """PHALP's pinhole focal length in pixels (fx = fy; principal point at the image centre)."""
    return 5000.0 * max(height, width) / 256.0


def project(points, frame_size) -> np.ndarray:
    """Camera-frame points (..., 3) (OpenCV axes: x right, y down, z forward) -> pixels (..., 2) in an
    image of `frame_size` (H, W)."""
    h, w = int(frame_size[0]), int(frame_size[1])
    points = np.asarray(points, dtype=np.float64)
    return focal_length(h, w) * points[..., :2] / points[..., 2:3] + np.array([w / 2.0, h / 2.0])
