"""A strict, streaming reader and a fast writer of headerless numeric CSV files with a string key column
(the AVA CSV kinds: `lartcore.data.ava` declares their layouts and value rules).

A `Layout` names the widest row's columns, the column counts a file may use (a shorter row is a prefix
of the widest, its absent columns get `fill` values), and the Arrow type of each column. The first
column is the key (a string id, dictionary-encoded); any other string column must be empty and is
returned as the byte length of each field (0 = valid).

Files are parsed by pyarrow (serial streaming reader, explicit column types) into preallocated numpy
columns, so memory peaks near 1x the data. Only when something is wrong is the offending line located,
and a `CsvFormatError` names the file, the 1-based line, the column and what was expected.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

KEY_TYPE = pa.dictionary(pa.int32(), pa.string())
_FLOAT_RE = r"^\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))\s*$"
_INT_RE = r"^\s*-?\d+\s*$"
_SNIFF_BYTES = 1 << 16
_WRITE_ROWS = 1 << 20


class CsvFormatError(ValueError):
    """A CSV file is malformed; the message names the file, line, column, and expected vs found."""


@dataclass(frozen=True)
class Layout:
    """One CSV kind: its widest row and the column counts it accepts (a shorter row = a prefix)."""
    what: str                          # e.g. "ground truth", used in messages
    columns: tuple[str, ...]           # widest row; columns[0] is the string key
    counts: tuple[int, ...]            # accepted column counts, widest first
    types: Mapping[str, pa.DataType]   # Arrow type of every non-key column (int64, float64 or string)
    fill: Mapping[str, object]         # value of each column a shorter row lacks

    @property
    def key(self) -> str:
        return self.columns[0]

    def numpy_dtype(self, name: str):
        """int64 for integer columns and the lengths of string columns, float64 for the rest."""
        t = self.types[name]
        return np.float64 if pa.types.is_floating(t) else np.int64

    def is_int(self, name: str) -> bool:
        return pa.types.is_integer(self.types[name])


def _is_number(field: str) -> bool:
    return re.match(_FLOAT_RE, field) is not None


def looks_like_header(fields: list[str]) -> bool:
    """A line whose second field starts with a letter and whose fields after the first are all non-numeric
    (e.g. `video_id,timestamp,x1,...`)."""
    second = fields[1].strip() if len(fields) >= 2 else ""
    return second[:1].isalpha() and not any(_is_number(f) for f in fields[1:])


def _sniff(path: Path, layout: Layout) -> tuple[int, int]:
    """(1 if the first line is a header else 0, the column count of the bulk of the rows; 0 = no rows)."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    lines = [ln.rstrip(b"\r").decode(errors="replace") for ln in head.split(b"\n")]
    if len(head) == _SNIFF_BYTES:
        lines = lines[:-1]                  # possibly cut mid-line
    elif lines and not lines[-1]:
        lines = lines[:-1]                  # the final newline
    header = int(bool(lines) and looks_like_header(lines[0].split(",")))
    counts = []
    for line_no, line in enumerate(lines[header:header + 1000], header + 1):
        if not line.strip():
            raise CsvFormatError(f"{path}:{line_no}: empty line in {layout.what} CSV")
        counts.append(len(line.split(",")))
        if counts[-1] not in layout.counts:
            raise count_error(path, line_no, layout, counts[-1])
    return header, max(counts, default=0)


def count_error(path, line_no, layout: Layout, found: int) -> CsvFormatError:
    expected = " or ".join(str(n) for n in layout.counts)
    widest = ",".join(layout.columns[:layout.counts[0]])
    return CsvFormatError(f"{path}:{line_no}: expected {expected} comma-separated columns ({widest}) "
                          f"in {layout.what} CSV, found {found}")


class _OtherRows:
    """pyarrow invalid-row handler: keeps rows of another accepted column count (parsed afterwards),
    stops at the first row of a wrong count."""

    def __init__(self, layout: Layout):
        self.layout, self.rows, self.bad = layout, [], None   # rows: [(line, text)]

    def __call__(self, row) -> str:
        if row.actual_columns in self.layout.counts:
            self.rows.append((row.number, row.text))
            return "skip"
        self.bad = row
        return "error"


def _arrow_options(header: int, names, types: dict, handler: _OtherRows) -> dict:
    """Serial reading keeps physical line numbers in the handler (and is as fast on 2 cores)."""
    return {
        "read_options": pa_csv.ReadOptions(column_names=list(names), use_threads=False, skip_rows=header,
                                           block_size=1 << 22),
        "parse_options": pa_csv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=handler),
        "convert_options": pa_csv.ConvertOptions(column_types=types, null_values=[],
                                                 strings_can_be_null=False, quoted_strings_can_be_null=False)}


class _Columns:
    """Growable numpy columns filled batch by batch, so that memory peaks near 1x the data (collecting
    Arrow chunks and concatenating them would need 2x, and the allocators keep the freed chunks)."""

    def __init__(self, layout: Layout, names, capacity: int):
        self.layout, self.n, self.key_index = layout, 0, {}
        self.arrays = {c: np.empty(capacity, np.int32 if c == layout.key else layout.numpy_dtype(c))
                       for c in names}

    def append(self, batch: pa.RecordBatch) -> None:
        k = batch.num_rows
        if self.n + k > len(self.arrays[self.layout.key]):
            size = max(self.n + k, int(1.25 * len(self.arrays[self.layout.key])))
            for c in self.arrays:   # one column at a time: the old one is freed before the next grows
                self.arrays[c] = np.resize(self.arrays[c], size)
        for name, a in self.arrays.items():
            col = batch.column(name)
            if name == self.layout.key:      # per-batch dictionary -> codes into one growing list of keys
                index = self.key_index
                remap = [index.setdefault(v, len(index)) for v in col.dictionary.to_pylist()]
                a[self.n:self.n + k] = np.asarray(remap, np.int32)[col.indices.to_numpy(zero_copy_only=False)]
            elif pa.types.is_string(col.type):
                a[self.n:self.n + k] = pc.binary_length(col).to_numpy()       # must all be 0
            else:
                a[self.n:self.n + k] = col.to_numpy(zero_copy_only=False)
        self.n += k

    def result(self) -> dict[str, object]:
        """Views of the filled part (the capacity estimate over-allocates by ~5%, not worth a copy)."""
        key = self.layout.key
        out = {c: a[:self.n] for c, a in self.arrays.items() if c != key}
        return out | {key: (self.arrays[key][:self.n], list(self.key_index))}


def _read_bulk(path: Path, layout: Layout, header: int, n: int, other: _OtherRows) -> dict[str, object]:
    """The rows with `n` columns, parsed by pyarrow: {column: numpy array}; the key as (codes, names)."""
    names = layout.columns[:n]
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    capacity = int(1.05 * path.stat().st_size * max(head.count(b"\n"), 1) / max(len(head), 1)) + 1024
    cols = _Columns(layout, names, capacity)
    try:
        types = {c: KEY_TYPE if c == layout.key else layout.types[c] for c in names}
        for batch in pa_csv.open_csv(path, **_arrow_options(header, names, types, other)):
            cols.append(batch)
    except pa.ArrowInvalid as e:
        if other.bad is not None:
            raise count_error(path, other.bad.number, layout, other.bad.actual_columns) from None
        raise _locate_bad_field(path, layout, header, n, e) from None
    return cols.result()


def _parse_field(path: Path, line: int, layout: Layout, name: str, field: str):
    if name == layout.key or pa.types.is_string(layout.types[name]):
        return field if name == layout.key else len(field.encode())
    try:
        return int(field) if layout.is_int(name) else float(field)
    except ValueError:
        raise CsvFormatError(f"{path}:{line}: column {name}: expected "
                             f"{'an integer' if layout.is_int(name) else 'a number'}, found {field!r}") from None


def _parse_other(path: Path, layout: Layout, rows: list[tuple[int, str]]) -> dict[str, list]:
    """The few rows with a different accepted column count, in the widest layout (absent columns filled)."""
    out: dict[str, list] = {c: [] for c in layout.columns}
    for line, text in rows:
        fields = text.split(",")
        if looks_like_header(fields):
            raise CsvFormatError(f"{path}:{line}: a header line in the middle of the {layout.what} CSV "
                                 f"(only the first line may be a header): {text!r}")
        for i, name in enumerate(layout.columns):
            out[name].append(_parse_field(path, line, layout, name, fields[i]) if i < len(fields)
                             else layout.fill[name])
    return out


def _physical_line(row_line: int, skipped: list[int]) -> int:
    """Line of a parsed row, given its line counted without the `skipped` (sorted) physical lines."""
    for s in skipped:
        if s > row_line:
            break
        row_line += 1
    return row_line


def _first_unparsable(batch: pa.RecordBatch, layout: Layout, names) -> tuple[int, str] | None:
    """(row, column) of the first field pyarrow cannot convert in a batch read as strings."""
    best = None
    for name in names:
        if name == layout.key or pa.types.is_string(layout.types[name]):
            continue
        pattern = _INT_RE if layout.is_int(name) else _FLOAT_RE
        bad = ~pc.match_substring_regex(batch.column(name), pattern).to_numpy(zero_copy_only=False)
        if bad.any() and (best is None or bad.argmax() < best[0]):
            best = (int(bad.argmax()), name)
    return best


def _locate_bad_field(path: Path, layout: Layout, header: int, n: int, err: Exception) -> CsvFormatError:
    """Slow path after pyarrow failed to convert: stream the file as strings to find the line."""
    names = layout.columns[:n]
    other = _OtherRows(layout)
    seen = 0
    try:
        as_text = {c: pa.string() for c in names}
        for batch in pa_csv.open_csv(path, **_arrow_options(header, names, as_text, other)):
            hit = _first_unparsable(batch, layout, names)
            if hit is not None:
                row, name = hit
                line = _physical_line(header + 1 + seen + row, sorted(r[0] for r in other.rows))
                fields = [batch.column(c)[row].as_py() for c in names]
                if not any(f.strip() for f in fields):
                    return CsvFormatError(f"{path}:{line}: empty line in {layout.what} CSV")
                if looks_like_header(fields):
                    return CsvFormatError(f"{path}:{line}: a header line in the middle of the {layout.what} "
                                          f"CSV (only the first line may be a header): {','.join(fields)!r}")
                what = "an integer" if layout.is_int(name) else "a number"
                found = fields[names.index(name)]
                return CsvFormatError(f"{path}:{line}: column {name}: expected {what}, found {found!r}")
            seen += batch.num_rows
    except pa.ArrowInvalid:
        if other.bad is not None:
            return count_error(path, other.bad.number, layout, other.bad.actual_columns)
        raise
    return CsvFormatError(f"{path}: cannot read {layout.what} CSV: {err}")


def load(path: Path, layout: Layout) -> tuple[dict, int, np.ndarray]:
    """Parse `path` -> ({column: array} in the widest layout, the key as (codes, names); the number of
    header lines (0/1), so row r is on line header + 1 + r; (N,) bool True for the rows of the narrowest
    accepted count when it is the key plus one column, which carry no values beyond it)."""
    header, n = _sniff(path, layout)
    other = _OtherRows(layout)
    if n:
        cols = _read_bulk(path, layout, header, n, other)
    else:
        cols = {c: np.zeros(0, layout.numpy_dtype(c)) for c in layout.columns[1:]}
        cols[layout.key] = (np.zeros(0, np.int32), [])
    nb = len(cols[layout.columns[1]])
    for c in layout.columns[max(n, 2):]:
        cols[c] = np.full(nb, layout.fill[c], layout.numpy_dtype(c))
    short = np.full(nb, n == 2)
    if other.rows:   # put the rows of other widths back at their lines (valid files have no blank lines)
        at = np.zeros(nb + len(other.rows), bool)
        at[np.array([r[0] for r in other.rows]) - header - 1] = True
        extra = _parse_other(path, layout, other.rows)
        codes, names = cols[layout.key]
        index = {v: i for i, v in enumerate(names)}
        extra[layout.key] = [index.setdefault(v, len(index)) for v in extra[layout.key]]
        extra_short = [len(t.split(",")) == 2 for _, t in other.rows]
        cols = {c: _interleave(cols[c], extra[c], at) for c in layout.columns[1:]} | {
            layout.key: (_interleave(codes, extra[layout.key], at), list(index))}
        short = _interleave(short, extra_short, at)
    return cols, header, short


def _interleave(bulk: np.ndarray, extra: list, at: np.ndarray) -> np.ndarray:
    """(N,) array with `extra` where `at` is True and `bulk` elsewhere, both in order."""
    out = np.empty(len(at), bulk.dtype)
    out[~at] = bulk
    out[at] = extra
    return out


# ---------------------------------------------------------------- writing

def csv_bytes(fields: list[pa.Array], short: np.ndarray):
    """The rows as CSV text (rows flagged in `short` keep only their first two fields). pyarrow's CSV
    writer does the work; only blocks with short rows are joined line by line."""
    if not short.any():
        out = pa.BufferOutputStream()
        table = pa.table({str(i): f for i, f in enumerate(fields)})
        pa_csv.write_csv(table, out, pa_csv.WriteOptions(include_header=False, quoting_style="none"))
        return out.getvalue()
    text = [f if pa.types.is_string(f.type) else pc.cast(f, pa.string()) for f in fields]
    lines = pc.if_else(pa.array(short), pc.binary_join_element_wise(text[0], text[1], ","),
                       pc.binary_join_element_wise(*text, ","))
    lines = pc.cast(pc.binary_join_element_wise(lines, "\n", ""), pa.large_string())
    _, offsets, data = lines.buffers()
    first, last = np.frombuffer(offsets, np.int64)[[lines.offset, lines.offset + len(lines)]]
    return memoryview(data)[first:last]


def write_blocks(f, cols: dict, short: np.ndarray, layout: Layout, text) -> None:
    """Write the rows of `cols` (the key as (codes, names)) to the open binary file `f`, _WRITE_ROWS at a
    time (bounds the text buffers); `text(block, name)` formats one column of a block as a string or
    numeric Arrow array."""
    n = len(short)
    for start in range(0, n, _WRITE_ROWS):
        part = slice(start, start + _WRITE_ROWS)
        block = {c: (v[0][part], v[1]) if c == layout.key else v[part] for c, v in cols.items()}
        f.write(csv_bytes([text(block, c) for c in layout.columns], short[part]))
