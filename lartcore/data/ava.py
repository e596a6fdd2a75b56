"""AVA v2.2 annotations: the 80 action classes, label maps (pbtxt) and the CSV files, read and written
strictly and fast.

Every reader returns a DataFrame with fixed columns and dtypes (one row per CSV row, file order kept), or
with `pandas=False` the same columns as an `ava.Table` of numpy arrays (this module imports pandas only
when a DataFrame is asked for: `lart eval` never does, ~0.3 s):

    read_gt            video_id (category), timestamp (float64), x1, y1, x2, y2 (float64),
                       action_id (int64), person_id (int64)
    read_detections    video_id, timestamp, x1, y1, x2, y2, action_id, score (float64)
    read_person_boxes  video_id, timestamp, x1, y1, x2, y2, score    (SlowFast `v,ts,x1,y1,x2,y2,,score`)
    read_keyframes     video_id, timestamp                                 (e.g. the excluded keyframes)

Boxes are normalised to [0, 1] (x right, y down); detection boxes may lie past the image border (the
official test path writes unclipped track boxes, e.g. x2 = 1.06; its evaluator accepts them). Timestamps are AVA seconds compared numerically, so
"0902", "902" and "902.0" are the same keyframe. A GT row of only `video_id,timestamp` declares an
annotated keyframe without boxes: boxes NaN, action_id 0, person_id -1. A 7-column GT row has no
person_id (-1); a 7-column detection row has no score (1.0). A header as the first line is skipped.
Fields may be quoted (RFC 4180, as Python's csv module reads them); a UTF-8 byte-order mark is skipped.

Value rules, strict by default: coordinates in [0, 1], x2 >= x1, y2 >= y1, action ids in 1..80,
finite scores, no quotes, no BOM. The official evaluator reads all of those anyway, so `read_gt` and
`read_detections` take `oddities=[]` to keep such rows and summarise them (one `Oddity` per kind: count,
first FILE:LINE, what the evaluation does with them) - `lart eval` warns with them, `--strict` refuses.
What the official cannot read either (a wrong column count, a non-numeric field, a blank line, invalid
UTF-8) is always an error; so are a negative or non-finite timestamp and an empty video id, which the
official would key on but which no AVA file has.

Files are parsed by pyarrow (streaming, all cores, explicit column types) into preallocated numpy
columns; the 309 MB full-scale detection file takes ~1.2 s wall on 2 cores (timed inside `lart eval`).
Only when something is wrong is the offending line located, and an `AvaFormatError` names the file, the
1-based line, the column and what was expected.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pyarrow as pa

from lartcore import schema
from lartcore.data import strict_csv

if TYPE_CHECKING:
    import pandas as pd

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
LABELMAP_80 = RESOURCES / "ava_action_list_v2.2.pbtxt"                       # label{name,label_id,label_type}
LABELMAP_60 = RESOURCES / "ava_action_list_v2.2_for_activitynet_2019.pbtxt"  # item{name,id}: evaluated
BOX = ["x1", "y1", "x2", "y2"]
GT_COLUMNS = ["video_id", "timestamp", *BOX, "action_id", "person_id"]
DET_COLUMNS = ["video_id", "timestamp", *BOX, "action_id", "score"]
PERSON_BOX_COLUMNS = ["video_id", "timestamp", *BOX, "score"]
KEYFRAME_COLUMNS = ["video_id", "timestamp"]


# One error type for every malformed AVA file (CSV rows and label maps): the message names the file, line,
# column, and expected vs found.
AvaFormatError = strict_csv.CsvFormatError


# ---------------------------------------------------------------- classes


def classes() -> pd.DataFrame:
    """The 80 AVA v2.2 classes (`lartcore.schema`) as a table: id (1..80), name, type (PM/OM/PI),
    evaluated (in the 60 scored ones)."""
    import pandas as pd  # noqa: PLC0415  (see the module docstring)
    ids = list(schema.CLASS_NAMES)
    return pd.DataFrame({"id": np.array(ids, np.int64), "name": [schema.CLASS_NAMES[i] for i in ids],
                         "type": [schema.class_type(i) for i in ids],
                         "evaluated": [i in schema.EVALUATED_IDS for i in ids]})


# ---------------------------------------------------------------- label maps

_PBTXT_TOKEN = re.compile(r'\s*(?:("(?:[^"\\]|\\.)*")|([A-Za-z_]\w*)|([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)'
                          r'|([{}:])|(#.*))')
_PBTXT_KEYS = {"name": "str", "display_name": "str", "id": "int", "label_id": "int", "label_type": "word"}


def _read_text(path: str | Path) -> str:
    """A text file's content; one-line errors for a directory or invalid UTF-8."""
    path = strict_csv.check_file(path)
    data = path.read_bytes()
    err = strict_csv._utf8_error(data, path)
    if err is not None:
        raise err
    return data.decode("utf-8-sig")


def _pbtxt_tokens(path: Path) -> list[tuple[int, str, str]]:
    """(line, kind, text) for each token; kind is str/word/num/punct. Comments dropped."""
    tokens = []
    for line_no, line in enumerate(_read_text(path).splitlines(), 1):
        pos = 0
        while pos < len(line.rstrip()):
            m = _PBTXT_TOKEN.match(line, pos)
            if not m or m.end() == pos:
                raise AvaFormatError(f"{path}:{line_no}: cannot parse label map text {line[pos:].strip()!r}")
            pos = m.end()
            kind = next(k for k, g in zip(("str", "word", "num", "punct", "comment"), m.groups(), strict=True) if g)
            if kind != "comment":
                tokens.append((line_no, kind, m.group(m.lastindex)))
    return tokens


def _pbtxt_entries(path: Path) -> list[dict]:
    """Parse `label|item { key: value ... }` blocks into dicts (plus "line": where the block starts, and
    "id_line": where its id is)."""
    tokens, entries, i = _pbtxt_tokens(path), [], 0
    def fail(msg):
        line = tokens[min(i, len(tokens) - 1)][0] if tokens else 1
        raise AvaFormatError(f"{path}:{line}: {msg}")
    while i < len(tokens):
        if tokens[i][2] not in ("label", "item") or i + 1 >= len(tokens) or tokens[i + 1][2] != "{":
            fail(f"expected 'label {{' or 'item {{', found {tokens[i][2]!r}")
        entry, i = {"line": tokens[i][0]}, i + 2
        while i < len(tokens) and tokens[i][2] != "}":
            key = tokens[i][2]
            if key not in _PBTXT_KEYS or i + 2 >= len(tokens) or tokens[i + 1][2] != ":":
                fail(f"expected one of {sorted(_PBTXT_KEYS)} followed by ':', found {key!r}")
            kind, value = tokens[i + 2][1], tokens[i + 2][2]
            if kind == "num" and re.fullmatch(r"[-+]?\d+", value):
                kind = "int"
            if kind != _PBTXT_KEYS[key]:
                expected = {"str": "a quoted string", "int": "an integer", "word": "a bare word"}
                fail(f"{key}: expected {expected[_PBTXT_KEYS[key]]}, found {value!r}")
            if kind == "int":
                entry["id_line"] = tokens[i + 2][0]
            entry[key], i = (value[1:-1] if kind == "str" else int(value) if kind == "int" else value), i + 3
        if i >= len(tokens):
            fail("missing '}' at end of file")
        entries.append(entry)
        i += 1
    return entries


def _label_entries(path: str | Path) -> list[dict]:
    """Entries with "id" and "name" guaranteed, ids unique; also reads mmaction2's `id: name` lines."""
    path = Path(path)
    text = _read_text(path)
    if re.match(r"\s*\d+\s*:", text):   # mmaction2 label_map.txt style
        entries = []
        for line_no, line in enumerate(text.splitlines(), 1):
            m = re.fullmatch(r"\s*(\d+)\s*:\s*(.*?)\s*", line)
            if line.strip() and not m:
                raise AvaFormatError(f"{path}:{line_no}: expected 'id: name', found {line!r}")
            if m:
                entries.append({"line": line_no, "id_line": line_no, "id": int(m[1]), "name": m[2]})
    else:
        entries = _pbtxt_entries(path)
    if not entries:
        raise AvaFormatError(f"{path}: expected label-map entries (`item {{ name: \"...\" id: N }}`), found none")
    seen: set[int] = set()
    for e in entries:
        e.setdefault("id", e.get("label_id"))
        if e["id"] is None or "name" not in e:
            raise AvaFormatError(f"{path}:{e['line']}: entry needs both a name and an id (or label_id)")
        if not 1 <= e["id"] <= schema.NUM_CLASSES:
            raise AvaFormatError(f"{path}:{e['id_line']}: id: expected an AVA action id in "
                                 f"1..{schema.NUM_CLASSES}, found {e['id']}")
        if e["id"] in seen:
            raise AvaFormatError(f"{path}:{e['line']}: duplicate id {e['id']}")
        seen.add(e["id"])
    return entries


def read_labelmap(path: str | Path) -> dict[int, str]:
    """{action id: name} from a pbtxt label map (`label {name label_id label_type}` or `item {name id}`),
    or an mmaction2 `id: name` list. Duplicate names are allowed; duplicate ids, an empty map and ids
    outside AVA's 1..80 are errors (the official reader, get_ava_performance.py:102-124, takes any
    integer: ids < 1 then stop it with "Classes should be 1-indexed" (object_detection_evaluation.py:137),
    "1e12" with a ValueError, and an id above 80 can never match AVA data)."""
    return {e["id"]: e["name"] for e in _label_entries(path)}


def read_labelmap_types(path: str | Path) -> dict[int, str]:
    """{action id: "PM" | "OM" | "PI"} for the entries that carry a label_type (empty for `item` files)."""
    out = {}
    for e in _label_entries(path):
        if "label_type" in e:
            if e["label_type"] not in schema.LABEL_TYPES:
                raise AvaFormatError(f"{path}:{e['line']}: label_type: expected one of "
                                     f"{sorted(schema.LABEL_TYPES)}, found {e['label_type']!r}")
            out[e["id"]] = schema.LABEL_TYPES[e["label_type"]]
    return out


# ---------------------------------------------------------------- CSV layouts


_NUMBER = {**{c: pa.float64() for c in ("timestamp", *BOX, "score")},
           **{c: pa.int64() for c in ("action_id", "person_id")}, "empty_action_id": pa.string()}
_FILL = {**{c: np.nan for c in BOX}, "action_id": 0, "person_id": -1, "score": 1.0}   # absent columns
_INT_COLUMNS = tuple(c for c, t in _NUMBER.items() if pa.types.is_integer(t))     # int64 in frames and tables


def _layout(what: str, columns, counts: tuple[int, ...]) -> strict_csv.Layout:
    return strict_csv.Layout(what, tuple(columns), counts, {c: _NUMBER[c] for c in columns[1:]},
                             {c: _FILL.get(c) for c in columns[1:]})


_GT = _layout("ground truth", GT_COLUMNS, (8, 7, 2))
_DET = _layout("detections", DET_COLUMNS, (8, 7))
_PERSON = _layout("person boxes", ("video_id", "timestamp", *BOX, "empty_action_id", "score"), (8,))
_KEYFRAMES = _layout("keyframes", KEYFRAME_COLUMNS, (2,))
looks_like_header = strict_csv.looks_like_header


@dataclass(frozen=True)
class Oddity:
    """Rows of one kind that the official evaluator reads although AVA's rules do not allow them: how many,
    where the first is (FILE:LINE), and what the evaluation does with them."""
    what: str                     # "ground truth" / "detections"
    kind: str
    count: int
    first: str
    effect: str

    def __str__(self) -> str:
        if self.kind == BOM_KIND:
            return f"{self.first}: {self.kind}: {self.effect}"
        return f"{self.first}: {self.count} row{'s' * (self.count != 1)} with {self.kind} (first here): {self.effect}"


BOM_KIND = "a UTF-8 byte-order mark"


class _Rule(NamedTuple):
    column: str
    bad: np.ndarray               # (N,) bool
    expected: str
    shown: tuple[str, ...]        # columns the message shows
    odd: str | None = None        # the kind, if the official evaluator reads such rows; None = always an error
    effect: str = ""


_AS_OFFICIAL = "evaluated as the official evaluator does"
_EFFECTS = {  # (kind, what) -> effect
    ("box coordinates outside [0, 1]", None): "evaluated as given, as the official evaluator does",
    ("x2 < x1 or y2 < y1", "detections"): "dropped after the 50-per-keyframe cap, as the official evaluator does",
    ("x2 < x1 or y2 < y1", "ground truth"): "counted as ground truth no detection can match, as the official "
                                            "evaluator does",
    ("non-finite box coordinates", "detections"): "dropped after the 50-per-keyframe cap, as the official "
                                                  "evaluator does",
    ("non-finite box coordinates", "ground truth"): "counted as ground truth that makes the detections of its "
                                                    "class on its keyframe false positives, as the official "
                                                    "evaluator does",
    (f"action ids outside 1..{schema.NUM_CLASSES}", None): "ignored, as the official evaluator ignores ids "
                                                           "absent from the label map",
    ("non-finite scores", None): "ranked exactly as the official evaluator ranks them (NaN first)",
}


def _effect(kind: str, what: str) -> str:
    return _EFFECTS.get((kind, what), _EFFECTS.get((kind, None), _AS_OFFICIAL))


def _value_rules(cols: dict, boxless: np.ndarray) -> list[_Rule]:
    """The AVA value rules, each with its (N,) mask of breaking rows."""
    boxed = ~boxless
    codes, names = cols["video_id"]
    ts = cols["timestamp"]
    rules = [_Rule("video_id", np.isin(codes, [i for i, v in enumerate(names) if not v.strip()]), "a video id",
                   ("video_id",)),
             _Rule("timestamp", ~(np.isfinite(ts) & (ts >= 0)), "a finite timestamp >= 0", ("timestamp",))]
    if "x1" in cols:
        for c in BOX:
            v = cols[c]
            finite = np.isfinite(v)
            rules += [_Rule(c, boxed & ~finite, "a box coordinate in [0, 1]", (c,), "non-finite box coordinates"),
                      _Rule(c, boxed & finite & ((v < 0) | (v > 1)), "a box coordinate in [0, 1]", (c,),
                            "box coordinates outside [0, 1]")]
        rules += [_Rule("x2", boxed & (cols["x2"] < cols["x1"]), "x2 >= x1", ("x1", "x2"), "x2 < x1 or y2 < y1"),
                  _Rule("y2", boxed & (cols["y2"] < cols["y1"]), "y2 >= y1", ("y1", "y2"), "x2 < x1 or y2 < y1")]
    if "action_id" in cols:
        a = cols["action_id"]
        rules.append(_Rule("action_id", boxed & ((a < 1) | (a > schema.NUM_CLASSES)),
                           f"an action id in 1..{schema.NUM_CLASSES}", ("action_id",),
                           f"action ids outside 1..{schema.NUM_CLASSES}"))
    if "empty_action_id" in cols:
        rules.append(_Rule("empty_action_id", cols["empty_action_id"] > 0, "an empty field (x1,y1,x2,y2,,score)",
                           ("empty_action_id",)))
    if "score" in cols:
        rules.append(_Rule("score", ~np.isfinite(cols["score"]), "a finite score", ("score",), "non-finite scores"))
    return rules


def _all_valid(cols: dict, boxless: np.ndarray, bounds: dict | None = None) -> bool:
    """True if no row can break a value rule: each column's (min, max) (propagating NaN; from `bounds`, the
    reader's, when it has them), and the two x2 >= x1 / y2 >= y1 comparisons; False = look row by row."""
    names = cols["video_id"][1]
    if any(not v.strip() for v in names) or boxless.any():
        return False
    ts = cols["timestamp"]
    if len(ts) == 0:
        return True
    ranges = {"timestamp": (0, np.inf), "score": (-np.inf, np.inf), "action_id": (1, schema.NUM_CLASSES),
              "empty_action_id": (0, 0), **{c: (0, 1) for c in BOX}}
    for c, (lo, hi) in ranges.items():
        if c not in cols:
            continue
        v_min, v_max = (bounds or {}).get(c) or (cols[c].min(), cols[c].max())   # NaN propagates into both
        if not (lo <= v_min and v_max <= hi and np.isfinite(v_min) and np.isfinite(v_max)):
            return False
    return "x1" not in cols or not (np.less(cols["x2"], cols["x1"]).any() or np.less(cols["y2"], cols["y1"]).any())


def _check_values(cols: dict, boxless: np.ndarray, where, what: str = "", oddities: list | None = None,
                  bounds: dict | None = None) -> None:
    """Raise AvaFormatError at the first row breaking a rule; `where(row)` says where that row is (file:line
    or row i). With a list `oddities`, the rules the official evaluator does not enforce are summarised
    into it instead (one Oddity per kind)."""
    if _all_valid(cols, boxless, bounds):
        return
    rules = _value_rules(cols, boxless)
    fatal = [r for r in rules if oddities is None or r.odd is None]
    hits = [(int(r.bad.argmax()), i) for i, r in enumerate(fatal) if r.bad.any()]
    if hits:
        row, i = min(hits)
        r = fatal[i]
        codes, names = cols["video_id"]
        found = ", ".join(f"{c}={names[codes[row]] if c == 'video_id' else cols[c][row].item()!r}"
                          for c in r.shown)
        name = r.column
        if name == "empty_action_id":
            name, found = "action_id", f"a field of {cols['empty_action_id'][row]} characters"
        raise AvaFormatError(f"{where(row)}: column {name}: expected {r.expected}, found {found}")
    if oddities is None:
        return
    kinds: dict[str, np.ndarray] = {}
    for r in rules:
        if r.odd is not None:
            kinds[r.odd] = kinds[r.odd] | r.bad if r.odd in kinds else r.bad
    for kind, bad in kinds.items():
        if bad.any():
            oddities.append(Oddity(what, kind, int(bad.sum()), where(int(bad.argmax())), _effect(kind, what)))


@dataclass(frozen=True)
class Table:
    """The rows of an AVA CSV as numpy columns, file order: `table[c]` the (N,) array of column c (float64;
    action_id, person_id int64), the video ids as `codes` (N,) into `videos`, `index` the row labels (None:
    positions). `read_gt(..., pandas=False)` etc. give one; `Table.of(df, ...)` wraps a DataFrame's columns
    (no copy when their dtypes already are these); `to_pandas()` is the reader's DataFrame."""
    columns: dict[str, np.ndarray]           # every column but video_id
    codes: np.ndarray                        # (N,) any integer dtype
    videos: list                             # video ids (str from a file)
    index: object = None

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    def label(self, row: int):
        """The label of row position `row` (a DataFrame's index label, else the position)."""
        return row if self.index is None else self.index[row]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd  # noqa: PLC0415  (see the module docstring)
        video = pd.Categorical.from_codes(self.codes, categories=pd.Index(self.videos, dtype=object).astype(str))
        return pd.DataFrame({"video_id": video, **self.columns}, copy=False)

    @classmethod
    def of(cls, df: pd.DataFrame | Table, columns: list[str], what: str) -> Table:
        """`columns` (video_id first) of a DataFrame or Table; ValueError naming `what` if one is missing."""
        present = ["video_id", *df.columns] if isinstance(df, Table) else list(df.columns)
        missing = [c for c in columns if c not in present]
        if missing:
            raise ValueError(f"{what}: missing columns {missing}; expected {columns}, found {present}")
        if isinstance(df, Table):
            return df
        import pandas as pd  # noqa: PLC0415  (a DataFrame was given: pandas is loaded)
        video = df["video_id"]
        if isinstance(video.dtype, pd.CategoricalDtype):
            codes, videos = video.cat.codes.to_numpy(), list(video.cat.categories)
        else:
            codes, uniques = pd.factorize(video)
            videos = list(uniques)
        cols = {c: df[c].to_numpy(np.int64 if c in _INT_COLUMNS else np.float64) for c in columns[1:]}
        return cls(cols, codes, videos, df.index)


def _read(path: str | Path, layout: strict_csv.Layout, columns: list[str], oddities: list | None = None,
          pandas: bool = True) -> pd.DataFrame | Table:
    path = Path(path)
    got = strict_csv.load(path, layout)
    if got.bom or got.quoted:
        _file_oddities(path, got, layout.what, oddities)
    where = lambda row: f"{path}:{strict_csv.row_line(path, got.header, got.quoted, row)}"
    _check_values(got.cols, got.short, where, layout.what, oddities, got.bounds)
    codes, names = got.cols["video_id"]
    table = Table({c: got.cols[c] for c in columns[1:]}, codes, names)
    return table.to_pandas() if pandas else table


def _file_oddities(path: Path, got: strict_csv.Loaded, what: str, oddities: list | None) -> None:
    """A byte-order mark and quoted fields: the official evaluator reads both, the first differently."""
    if got.bom:
        if oddities is None:
            raise AvaFormatError(f"{path}:1: expected no byte-order mark, found a UTF-8 BOM (the official "
                                 "evaluator would keep it in the first video id)")
        oddities.append(Oddity(what, BOM_KIND, 1, f"{path}:1", "skipped; the official "
                               "evaluator keeps it in the first video id, so it loses that row: its result "
                               "would differ"))
    if got.quoted:
        count, first = strict_csv.quoted_lines(path)
        if oddities is None:
            raise AvaFormatError(f"{path}:{first}: expected unquoted fields, found a '\"' (RFC 4180 quoting)")
        oddities.append(Oddity(what, "quoted fields (RFC 4180)", count, f"{path}:{first}",
                               "read as the official evaluator's csv module reads them"))


def read_gt(path: str | Path, oddities: list | None = None, pandas: bool = True) -> pd.DataFrame | Table:
    """Ground-truth CSV (8, 7 or 2 columns a row) -> video_id, timestamp, x1..y2, action_id, person_id.

    oddities: None = strict (the first row breaking AVA's value rules raises); a list = rows the official
    evaluator reads anyway (coordinates outside [0, 1] or non-finite, x2 < x1, action ids outside 1..80,
    non-finite scores, quoted fields, a BOM) are kept and summarised into it, one `Oddity` per kind.
    pandas=False: an `ava.Table` instead of a DataFrame."""
    return _read(path, _GT, GT_COLUMNS, oddities, pandas)


def read_detections(path: str | Path, oddities: list | None = None, pandas: bool = True) -> pd.DataFrame | Table:
    """Detection CSV (8 columns, or 7 = score 1.0) -> video_id, timestamp, x1..y2, action_id, score.
    oddities, pandas: as in `read_gt`."""
    return _read(path, _DET, DET_COLUMNS, oddities, pandas)


def read_person_boxes(path: str | Path) -> pd.DataFrame:
    """SlowFast predicted person boxes `video,ts,x1,y1,x2,y2,,score` -> video_id, timestamp, x1..y2, score.
    An empty file is an error (there is nothing to predict on)."""
    df = _read(path, _PERSON, PERSON_BOX_COLUMNS)
    if not len(df):
        raise AvaFormatError(f"{path}: expected person boxes, found an empty file")
    return df


def read_keyframes(path: str | Path, pandas: bool = True) -> pd.DataFrame | Table:
    """`video_id,timestamp` rows (e.g. the excluded keyframes; may be empty) -> video_id, timestamp."""
    return _read(path, _KEYFRAMES, KEYFRAME_COLUMNS, pandas=pandas)


def line_of(path: str | Path, row: int, what: str = "detections") -> str:
    """"FILE:LINE" of data row `row` of an AVA CSV (`what` "ground truth" or "detections")."""
    return strict_csv.line_of(path, _GT if what == "ground truth" else _DET, int(row))


def read_included_timestamps(path: str | Path) -> np.ndarray:
    """One keyframe second per line ("0902") -> (K,) int64."""
    path = Path(path)
    out = []
    for line_no, line in enumerate(_read_text(path).splitlines(), 1):
        if not re.fullmatch(r"\s*\d+\s*", line):
            raise AvaFormatError(f"{path}:{line_no}: expected an integer timestamp, found {line!r}")
        out.append(int(line))
    return np.array(out, np.int64)


# ---------------------------------------------------------------- writers


def _columns_of(df: pd.DataFrame, columns: list[str], path: Path) -> dict:
    """DataFrame -> the {column: array} form used by the checks (video_id as (codes, names))."""
    import pandas as pd  # noqa: PLC0415  (see the module docstring)
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"cannot write {path}: DataFrame lacks columns {missing} (needs {columns})")
    video = df["video_id"]
    video = video.array if isinstance(video.dtype, pd.CategoricalDtype) else pd.Categorical(video.astype(str))
    cols = {c: df[c].to_numpy(np.int64 if c in _INT_COLUMNS else np.float64)
            for c in columns[1:] if c != "score"}
    if "score" in columns:   # keep float32 scores float32: they are written with float32's shortest digits
        s = df["score"].to_numpy()
        cols["score"] = s if s.dtype == np.float32 else s.astype(np.float64)
    return cols | {"video_id": (video.codes.astype(np.int32), [str(v) for v in video.categories])}


@functools.cache
def _box_text() -> pa.Array:
    """The 1001 texts "%.3f" of k / 1000 (built when first written: pa.array of a list imports pandas)."""
    return pa.array([f"{k / 1000:.3f}" for k in range(1001)], pa.string())


def _text(cols: dict, name: str, exact: bool = False) -> pa.Array:
    """One column as AVA writes it: %04d timestamps, %.3f boxes (`exact`: the shortest text that reads back
    exactly, any finite value), shortest round-trip scores."""
    import pyarrow.compute as pc  # noqa: PLC0415  (~40 ms of import reading does not need)
    if name == "empty_action_id":
        return pa.repeat(pa.scalar("", pa.string()), len(cols["timestamp"]))
    v = cols[name]
    if name == "video_id":
        codes, names = v
        return pc.take(pa.array(names, pa.string()), pa.array(codes))
    if name == "timestamp":
        return pc.utf8_lpad(pc.cast(pa.array(v.astype(np.int64)), pa.string()), 4, "0")
    if name in BOX and not exact:   # %.3f of a value in [0, 1] = one of 1001 strings (NaN rows are not written)
        return pc.take(_box_text(), pa.array(np.rint(np.nan_to_num(v) * 1000).astype(np.int64)))
    return pa.array(v)   # ints; floats are written as the shortest text that reads back exactly


_UNCLIPPED = "box coordinates outside [0, 1]"   # the one oddity an exact-box detection file may carry


def _validated(df: pd.DataFrame, path: Path, columns: list[str], boxless: bool, unclipped: bool = False
               ) -> tuple[dict, np.ndarray]:
    """(columns, (N,) rows without a box) of a frame about to be written; raises on bad values (with
    `unclipped`, box coordinates may lie outside [0, 1])."""
    cols = _columns_of(df, columns, path)
    short = np.isnan(np.stack([cols[c] for c in BOX])).all(0) if boxless else np.zeros(len(df), bool)
    where = lambda row: f"cannot write {path}: DataFrame row {row}"
    odd: list = []
    _check_values(cols, short, where, "detections", odd if unclipped else None)
    bad = [o for o in odd if o.kind != _UNCLIPPED]
    if bad:
        raise AvaFormatError(f"{bad[0].first}: expected AVA values, found {bad[0].count} row(s) with {bad[0].kind}")
    ts = cols["timestamp"]
    if not np.array_equal(ts, np.round(ts)):
        row = int(np.flatnonzero(ts != np.round(ts))[0])
        raise AvaFormatError(f"cannot write {path}: DataFrame row {row}: column timestamp: expected whole "
                             f"seconds (written as %04d), found {ts[row]!r}")
    return cols, short


def _write(df: pd.DataFrame, path: str | Path, layout: strict_csv.Layout, boxless: bool = False,
           exact: bool = False) -> None:
    """Validate, then format and write (a block of rows at a time, atomically)."""
    from lartcore.fileio import atomic_path  # noqa: PLC0415  (not needed to read)
    path = Path(path)
    columns = [c for c in layout.columns if c != "empty_action_id"]
    cols, short = _validated(df, path, columns, boxless, unclipped=exact)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        strict_csv.write_blocks(f, cols, short, layout, lambda block, name: _text(block, name, exact))


def write_gt(df: pd.DataFrame, path: str | Path) -> None:
    """GT CSV `video_id,%04d ts,x1,y1,x2,y2,action_id,person_id`; rows with NaN boxes -> `video_id,ts`."""
    _write(df, path, _GT, boxless=True)


def write_detections(df: pd.DataFrame, path: str | Path, exact_boxes: bool = False) -> None:
    """Detection CSV `video_id,%04d ts,x1,y1,x2,y2,action_id,score` (what `lart eval` scores). Boxes as %.3f
    in [0, 1], or with `exact_boxes` any finite value as the shortest text that reads back exactly (the
    official test path: unclipped boxes at full precision)."""
    _write(df, path, _DET, exact=exact_boxes)


def write_person_boxes(df: pd.DataFrame, path: str | Path) -> None:
    """SlowFast person boxes `video_id,%04d ts,x1,y1,x2,y2,,score` (empty action id)."""
    _write(df, path, _PERSON)


def write_keyframes(df: pd.DataFrame, path: str | Path) -> None:
    """`video_id,%04d ts` rows (e.g. excluded keyframes)."""
    _write(df, path, _KEYFRAMES)
