"""A strict, fast reader and a fast writer of headerless numeric CSV files with a string key column
(the AVA CSV kinds: `lartcore.data.ava` declares their layouts and value rules).

A `Layout` names the widest row's columns, the column counts a file may use (a shorter row is a prefix
of the widest, its absent columns get `fill` values), and the Arrow type of each column. The first
column is the key (a string id, dictionary-encoded); any other string column must be empty and is
returned as the byte length of each field (0 = valid). Fields may be quoted as RFC 4180 says (`"vid,1"`),
as Python's csv module reads them; a UTF-8 byte-order mark is skipped (`Loaded.bom` says there was one).

Files are parsed by pyarrow with all cores (large ones in byte ranges cut at line ends, one thread each),
straight into numpy columns, each column's (min, max) taken on the way (`Loaded.bounds`: value checks then
need no pass over the rows). Only when something is wrong
(or a file mixes column counts) is it read again serially to find the line, and a `CsvFormatError`
names the file, the 1-based line, the column and what was expected. A directory, invalid UTF-8 or a
non-numeric field each give such one-line errors.
"""
from __future__ import annotations

import codecs
import csv
import io
import mmap
import re
import sys
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

KEY_TYPE = pa.dictionary(pa.int32(), pa.string())
BOM = codecs.BOM_UTF8
_FLOAT_RE = r"^\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|(?i:nan|inf|infinity))\s*$"
_INT_RE = r"^\s*-?\d+\s*$"
_SNIFF_BYTES = 1 << 16
_WRITE_ROWS = 1 << 20
_PART_BYTES = 1 << 24              # files of 2 x 16 MB and more are parsed in parallel byte ranges


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
        """int32 for the key's codes, int64 for integer columns and the lengths of string columns, float64
        for the rest."""
        if name == self.key:
            return np.int32
        t = self.types[name]
        return np.float64 if pa.types.is_floating(t) else np.int64

    def is_int(self, name: str) -> bool:
        return pa.types.is_integer(self.types[name])


class Loaded(NamedTuple):
    """What `load` read: columns, where row r is, and what the file did that a plain CSV does not."""
    cols: dict                         # {column: (N,) array} in the widest layout; the key as (codes, names)
    header: int                        # 1 if the first line was a header (skipped)
    short: np.ndarray                  # (N,) bool: rows of the narrowest count (key + 1 column), no values
    bom: bool                          # the file started with a UTF-8 byte-order mark (skipped)
    quoted: bool                       # the file has a '"' (RFC 4180 quoting)
    bounds: dict | None = None         # {column: (min, max)} of the non-key columns (NaN if one is NaN; string
                                       # columns: of the lengths), taken while parsing; None = not taken


def _is_number(field: str) -> bool:
    return re.match(_FLOAT_RE, field) is not None


def looks_like_header(fields: list[str]) -> bool:
    """A line whose second field starts with a letter and whose fields after the first are all non-numeric
    (e.g. `video_id,timestamp,x1,...`)."""
    second = fields[1].strip() if len(fields) >= 2 else ""
    return second[:1].isalpha() and not any(_is_number(f) for f in fields[1:])


def check_file(path: str | Path) -> Path:
    """`path` as a Path if it is a readable file; FileNotFoundError / CsvFormatError (one line) if not."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise CsvFormatError(f"{path}: expected a file, found a directory")
    return path


def _utf8_error(data: bytes, path: Path, first_line: int = 1, cut_ok: bool = False) -> CsvFormatError | None:
    """The error for the first invalid UTF-8 byte of `data` (which starts at line first_line), if any;
    cut_ok: a sequence cut by the end of data is not an error."""
    try:
        data.decode("utf-8")
        return None
    except UnicodeDecodeError as e:
        if cut_ok and e.end == len(data) and e.reason == "unexpected end of data":
            return None
        line = first_line + data.count(b"\n", 0, e.start)
        return CsvFormatError(f"{path}:{line}: expected UTF-8 text, found the byte 0x{data[e.start]:02x}")


def _scan_utf8(path: Path) -> CsvFormatError | None:
    """The error for the first invalid UTF-8 byte of the file, if any (read in blocks)."""
    line, carry = 1, b""
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            data = carry + block
            err = _utf8_error(data, path, line, cut_ok=True)
            if err is not None:
                return err
            cut = max(data.rfind(b"\n") + 1, len(data) - 3)   # keep a possibly cut sequence, whole lines
            line += data.count(b"\n", 0, cut)
            data, carry = None, data[cut:]
    return _utf8_error(carry, path, line)


def _has_quote(path: Path) -> bool:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            return False
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            return m.find(b'"') >= 0


def _sniff(path: Path, layout: Layout, scan: bool = True) -> tuple[int, int, bool, bool]:
    """(1 if the first line is a header else 0, the column count of the bulk of the rows (0 = no rows),
    a BOM, quotes) from the first 64 KB; rows of other counts and empty lines there are errors. Quotes:
    anywhere in the file, or with scan=False in those 64 KB only (the caller finds the others)."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    bom = head.startswith(BOM)
    head = head[len(BOM):] if bom else head
    err = _utf8_error(head, path, cut_ok=len(head) + bom * len(BOM) == _SNIFF_BYTES)
    if err is not None:
        raise err
    text = head.decode(errors="ignore")
    if len(head) + bom * len(BOM) == _SNIFF_BYTES:
        text = text[:text.rfind("\n") + 1]                   # possibly cut mid-line
    elif text and not text.endswith("\n"):
        text += "\n"
    quoted = _has_quote(path) if scan else b'"' in head
    rows = _csv_rows(text) if quoted else \
        [(i, line.rstrip("\r").split(",")) for i, line in enumerate(text.split("\n")[:-1], 1)]
    header = int(bool(rows) and looks_like_header(rows[0][1]))
    counts = []
    for line_no, fields in rows[header:header + 1000]:
        if not fields or fields == [""]:
            raise CsvFormatError(f"{path}:{line_no}: empty line in {layout.what} CSV")
        counts.append(len(fields))
        if counts[-1] not in layout.counts:
            raise count_error(path, line_no, layout, counts[-1])
    return header, max(counts, default=0), bom, quoted


def _csv_rows(text: str) -> list[tuple[int, list[str]]]:
    """(start line, fields) of each row of `text` as Python's csv module reads it."""
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, start = [], 1
    for fields in reader:
        rows.append((start, fields))
        start = reader.line_num + 1
    return rows


def count_error(path, line_no, layout: Layout, found: int) -> CsvFormatError:
    expected = " or ".join(str(n) for n in layout.counts)
    widest = ",".join(layout.columns[:layout.counts[0]])
    return CsvFormatError(f"{path}:{line_no}: expected {expected} comma-separated columns ({widest}) "
                          f"in {layout.what} CSV, found {found}")


class _OtherRows:
    """pyarrow invalid-row handler: keeps rows of another accepted column count (parsed afterwards),
    stops at the first row of a wrong count. pyarrow's threaded reading knows no line numbers: there
    (`threaded=True`) any invalid row stops the read, and the file is read again serially."""

    def __init__(self, layout: Layout, threaded: bool = False):
        self.layout, self.threaded, self.rows, self.bad = layout, threaded, [], None

    def __call__(self, row) -> str:
        if self.threaded:
            return "error"
        if row.actual_columns in self.layout.counts:
            self.rows.append((row.number, row.text))
            return "skip"
        self.bad = row
        return "error"


def _arrow_options(header: int, names, types: dict, handler: _OtherRows, quoted: bool | None) -> dict:
    """quoted: True = RFC 4180 quotes, which may hold line breaks; False = none in the file; None = '"' is
    an ordinary character (a quoted field then keeps its quotes: see `_read_parts`)."""
    return {
        "read_options": pa_csv.ReadOptions(column_names=list(names), use_threads=handler.threaded,
                                           skip_rows=header, block_size=1 << 22),
        "parse_options": pa_csv.ParseOptions(ignore_empty_lines=False, invalid_row_handler=handler,
                                             newlines_in_values=bool(quoted), quote_char=quoted is not None and '"'),
        "convert_options": pa_csv.ConvertOptions(column_types=types, null_values=[], strings_can_be_null=False,
                                                 quoted_strings_can_be_null=False)}


def _put(arrays: dict, layout: Layout, batch: pa.RecordBatch, at: int, key_index: dict, bounds: dict) -> None:
    """Write the batch's columns into arrays[name][at:at + rows]; the key as codes into key_index (the
    keys in order of first appearance, grown here); widen bounds[name] to the batch's (min, max), taken
    while its values are in the cache (the value checks need no pass over the whole columns)."""
    k = batch.num_rows
    for name, a in arrays.items():
        col = batch.column(name)
        if name == layout.key:           # per-batch dictionary -> codes into one growing list of keys
            remap = [key_index.setdefault(v, len(key_index)) for v in col.dictionary.to_pylist()]
            a[at:at + k] = np.asarray(remap, np.int32)[_numpy(col.indices)]
            continue
        v = a[at:at + k]
        v[:] = _lengths(col) if pa.types.is_string(col.type) else _numpy(col)   # lengths must be 0
        if k:
            _widen(bounds, name, v.min(), v.max())           # NaN propagates through min, max and _widen


def _widen(bounds: dict, name: str, lo, hi) -> None:
    """bounds[name] = its (min, max) widened to lo, hi (NaN propagates)."""
    bounds[name] = (np.minimum(bounds[name][0], lo), np.maximum(bounds[name][1], hi)) if name in bounds else (lo, hi)


def _merged(parts: list[dict]) -> dict:
    """The bounds of several ranges' bounds (`_put`)."""
    out: dict = {}
    for b in parts:
        for name, (lo, hi) in b.items():
            _widen(out, name, lo, hi)
    return out


def _lengths(col: pa.Array) -> np.ndarray:
    """(n,) the byte length of each string of a string array, from its offsets buffer."""
    offsets = np.frombuffer(col.buffers()[1], np.int32, len(col) + 1, col.offset * 4)
    return np.diff(offsets)


def _numpy(col: pa.Array) -> np.ndarray:
    """A numeric Arrow array without nulls (the readers allow none) as a numpy view of its data buffer.
    Not `to_numpy()`: pyarrow's conversion imports pandas when it is installed (~0.3 s `lart eval` saves)."""
    if col.null_count:
        raise AssertionError("a CSV column with nulls")
    kind = "f" if pa.types.is_floating(col.type) else "i"
    dtype = np.dtype(f"{kind}{col.type.bit_width // 8}")
    return np.frombuffer(col.buffers()[1], dtype, len(col), col.offset * dtype.itemsize)


def _empty_columns(layout: Layout, names, rows: int) -> dict[str, np.ndarray]:
    return {c: np.empty(rows, layout.numpy_dtype(c)) for c in names}


_POPULATE_WRITE = getattr(mmap, "MADV_POPULATE_WRITE", 23)   # Linux >= 5.14 (Python >= 3.13 names it)


def _mapped_columns(layout: Layout, names, rows: int) -> dict[str, tuple[np.ndarray, mmap.mmap]]:
    """Empty columns of `rows` rows, each in its own anonymous mapping (`_populate` maps ranges of it)."""
    out = {}
    for c in names:
        dtype = np.dtype(layout.numpy_dtype(c))
        m = mmap.mmap(-1, max(rows * dtype.itemsize, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        out[c] = np.frombuffer(m, dtype, rows), m
    return out


def _populate(columns: dict[str, tuple[np.ndarray, mmap.mmap]], lo: int, hi: int) -> None:
    """Have the kernel map the pages of rows lo:hi of each column in one call each, before they are
    written: on this project's VMs (Firecracker, freed memory returned to the host) a first write page by
    page costs ~4 us a page, a populate ~1 us: the AVA-val detections' 350 MB of columns are filled
    ~0.1 s sooner. Best effort: nothing where the kernel cannot (Linux < 5.14, other systems)."""
    if not sys.platform.startswith("linux"):
        return
    for a, m in columns.values():
        begin = lo * a.itemsize // mmap.PAGESIZE * mmap.PAGESIZE
        end = min(-(-hi * a.itemsize // mmap.PAGESIZE) * mmap.PAGESIZE, len(m))
        if end > begin:
            try:
                m.madvise(_POPULATE_WRITE, begin, end - begin)
            except OSError:                                  # EINVAL: an older kernel
                return


class _Columns:
    """Growable numpy columns filled batch by batch, so that memory peaks near 1x the data (collecting
    Arrow chunks and concatenating them would need 2x, and the allocators keep the freed chunks)."""

    def __init__(self, layout: Layout, names, capacity: int):
        self.layout, self.n, self.key_index, self.bounds = layout, 0, {}, {}
        self.arrays = _empty_columns(layout, names, capacity)

    def append(self, batch: pa.RecordBatch) -> None:
        k = batch.num_rows
        if self.n + k > len(self.arrays[self.layout.key]):
            size = max(self.n + k, int(1.25 * len(self.arrays[self.layout.key])))
            for c in self.arrays:   # one column at a time: the old one is freed before the next grows
                self.arrays[c] = np.resize(self.arrays[c], size)
        _put(self.arrays, self.layout, batch, self.n, self.key_index, self.bounds)
        self.n += k

    def result(self) -> dict[str, object]:
        """Views of the filled part (the capacity estimate over-allocates by ~5%, not worth a copy)."""
        key = self.layout.key
        out = {c: a[:self.n] for c, a in self.arrays.items() if c != key}
        return out | {key: (self.arrays[key][:self.n], list(self.key_index))}


def _split_points(path: Path, parts: int) -> list[int]:
    """Byte offsets cutting the file into `parts` pieces of about equal size, each cut just after a '\\n'
    (start 0 and the end included); fewer pieces if a line is longer than a piece."""
    size = path.stat().st_size
    cuts = [0]
    with open(path, "rb") as f:
        for i in range(1, parts):
            f.seek(max(size * i // parts, cuts[-1]))
            line = f.readline()                              # the rest of the line the cut falls in
            at = f.tell()
            if line.endswith(b"\n") and at < size:
                cuts.append(at)
    return cuts + [size]


def _line_count(data: pa.Buffer) -> int:
    """Lines in data: its '\\n' bytes, plus one for a last line without one (counted in 4 MB blocks)."""
    b = np.frombuffer(data, np.uint8)
    newlines = sum(int(np.count_nonzero(b[i:i + (1 << 22)] == 10)) for i in range(0, len(b), 1 << 22))
    return newlines + int(len(b) > 0 and b[-1] != 10)


class _Miscounted(Exception):
    """A byte range parsed into another number of rows than it has lines (e.g. lines ending in a lone '\\r')."""


class _Quoted(Exception):
    """A key with a '"': the file has quotes after all (`_read_parts` parses with none)."""


def _read_parts(path: Path, layout: Layout, header: int, n: int, parts: int) -> tuple[dict, dict] | None:
    """The bulk read of a large unquoted file in `parts` byte ranges cut at line ends, each counted (a row
    per line) and then parsed by its own pyarrow reader in its own thread (pyarrow parses without the GIL;
    its own threaded reader, measured here, keeps about one core busy) straight into its rows of the
    columns: {column: numpy array}, the key as (codes, names), and their bounds. None if a range has a row pyarrow refuses
    (a bad field, another column count, a blank line) or other rows than lines: the serial reader then
    reads the file and finds the line. It parses with '"' as an ordinary character, so that the file need
    not be scanned for quotes first (~50 ms at AVA-val scale): one in a key shows in the batch's keys, one in
    a number makes it unparsable; either way None (the layout has no other string column)."""
    names = layout.columns[:n]
    types = {c: KEY_TYPE if c == layout.key else layout.types[c] for c in names}
    cuts = _split_points(path, parts)
    with pa.memory_map(str(path)) as source, ThreadPoolExecutor(len(cuts) - 1) as pool:
        data = source.read_buffer()                          # the whole file, mapped: no copy
        ranges = [data.slice(a, b - a) for a, b in pairwise(cuts)]
        rows = list(pool.map(_line_count, ranges))
        rows[0] -= header
        start = np.cumsum([0, *rows]).tolist()               # range i fills rows start[i]:start[i + 1]
        mapped = _mapped_columns(layout, names, start[-1])
        arrays = {c: a for c, (a, _) in mapped.items()}

        def parse(i: int) -> tuple[list[str], dict]:
            """Range i into its rows; -> its keys (its codes index them) and bounds."""
            _populate(mapped, start[i], start[i + 1])
            options = _arrow_options(header if i == 0 else 0, names, types, _OtherRows(layout, threaded=True), None)
            options["read_options"].use_threads = False
            at, keys, bounds = start[i], {}, {}
            for batch in pa_csv.open_csv(pa.BufferReader(ranges[i]), **options):
                if at + batch.num_rows > start[i + 1]:
                    raise _Miscounted
                _put(arrays, layout, batch, at, keys, bounds)
                at += batch.num_rows
            if at != start[i + 1]:
                raise _Miscounted
            if any('"' in k for k in keys):
                raise _Quoted
            return list(keys), bounds

        try:
            part_keys, part_bounds = zip(*pool.map(parse, range(len(ranges))), strict=True)
        except (pa.ArrowInvalid, _Miscounted, _Quoted):
            return None
    codes, index = arrays.pop(layout.key), {}
    for i, keys in enumerate(part_keys):                     # each range's codes -> codes into all the keys
        remap = np.array([index.setdefault(v, len(index)) for v in keys], np.int32)
        if i:                                                # range 0's keys come first: its codes stay
            codes[start[i]:start[i + 1]] = remap[codes[start[i]:start[i + 1]]]
    return arrays | {layout.key: (codes, list(index))}, _merged(part_bounds)


def _read_bulk(path: Path, layout: Layout, header: int, n: int, quoted: bool) -> tuple[dict, _OtherRows, bool, dict]:
    """The rows with `n` columns, parsed by pyarrow: {column: numpy array}; the key as (codes, names);
    whether the file has quotes (`quoted`: some in its first 64 KB, else it is scanned here); the bounds.
    Streamed batch by batch into numpy (memory near 1x the data): a large unquoted file in byte ranges, one
    thread each (`_read_parts`; AVA-val detections, 309 MB: ~1.0 s wall instead of ~1.9 on 2 cores), else
    with pyarrow's threads (it decodes ahead while we copy; reading the whole table with all cores costs 2x
    the memory and, measured here, no less time); if the file has rows of other column counts or a bad row,
    again serially, which keeps those rows with their line numbers and finds the line of a bad field."""
    names = layout.columns[:n]
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    capacity = int(1.05 * path.stat().st_size * max(head.count(b"\n"), 1) / max(len(head), 1)) + 1024
    types = {c: KEY_TYPE if c == layout.key else layout.types[c] for c in names}
    parts = min(pa.cpu_count(), path.stat().st_size // _PART_BYTES)
    only_key = all(c == layout.key or not pa.types.is_string(layout.types[c]) for c in names)
    if parts > 1 and not quoted and only_key:   # quoted fields may hold line breaks: no cutting at line ends
        got = _read_parts(path, layout, header, n, parts)
        if got is not None:
            return got[0], _OtherRows(layout), False, got[1]
    quoted = quoted or _has_quote(path)
    for threaded in (True, False):
        other = _OtherRows(layout, threaded)
        cols = _Columns(layout, names, capacity)
        try:
            for batch in pa_csv.open_csv(path, **_arrow_options(header, names, types, other, quoted)):
                cols.append(batch)
            return cols.result(), other, quoted, cols.bounds
        except pa.ArrowInvalid as e:
            if threaded:
                continue
            if other.bad is not None:
                raise count_error(path, other.bad.number, layout, other.bad.actual_columns) from None
            raise _locate_bad_field(path, layout, header, n, quoted, e) from None
    raise AssertionError("unreachable")


def _parse_field(path: Path, line: int, layout: Layout, name: str, field: str):
    if name == layout.key or pa.types.is_string(layout.types[name]):
        return field if name == layout.key else len(field.encode())
    try:
        return int(field) if layout.is_int(name) else float(field)
    except ValueError:
        raise CsvFormatError(f"{path}:{line}: column {name}: expected "
                             f"{'an integer' if layout.is_int(name) else 'a number'}, found {field!r}") from None


def _fields(text: str) -> list[str]:
    """One row's fields as Python's csv module splits them (quotes included)."""
    return next(csv.reader([text]), [])


def _parse_other(path: Path, layout: Layout, rows: list[tuple[int, str]]) -> dict[str, list]:
    """The few rows with a different accepted column count, in the widest layout (absent columns filled)."""
    out: dict[str, list] = {c: [] for c in layout.columns}
    for line, text in rows:
        fields = _fields(text)
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
        import pyarrow.compute as pc  # noqa: PLC0415  (~40 ms of import the reading of valid files does not need)
        bad = ~pc.match_substring_regex(batch.column(name), pattern).to_numpy(zero_copy_only=False)
        if bad.any() and (best is None or bad.argmax() < best[0]):
            best = (int(bad.argmax()), name)
    return best


def _locate_bad_field(path: Path, layout: Layout, header: int, n: int, quoted: bool,
                      err: Exception) -> CsvFormatError:
    """Slow path after pyarrow failed: invalid UTF-8, else stream the file as strings to find the line."""
    utf8 = _scan_utf8(path)
    if utf8 is not None:
        return utf8
    names = layout.columns[:n]
    other = _OtherRows(layout)
    seen = 0
    try:
        as_text = {c: pa.string() for c in names}
        for batch in pa_csv.open_csv(path, **_arrow_options(header, names, as_text, other, quoted)):
            hit = _first_unparsable(batch, layout, names)
            if hit is not None:
                row, name = hit
                line = row_line(path, header, quoted, _physical_line(seen + row, sorted(
                    r[0] - header - 1 for r in other.rows)))
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
    except pa.ArrowInvalid as e:
        if other.bad is not None:
            return count_error(path, other.bad.number, layout, other.bad.actual_columns)
        return CsvFormatError(f"{path}: cannot read {layout.what} CSV: {e}")
    return CsvFormatError(f"{path}: cannot read {layout.what} CSV: {err}")


def row_line(path: str | Path, header: int, quoted: bool, row: int) -> int:
    """1-based line where data row `row` (0-based, header excluded) starts. One row per line unless the
    file has quoted fields, which may hold line breaks: then the file is read with the csv module."""
    if not quoted:
        return header + 1 + row
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f)
        start = 1
        for i, _ in enumerate(reader):
            if i == header + row:
                return start
            start = reader.line_num + 1
    return start


def quoted_lines(path: str | Path) -> tuple[int, int]:
    """(number of lines holding a '"', the first of them), read in blocks."""
    count, first, line, last = 0, 0, 1, -1
    with open(path, "rb") as f:
        while block := f.read(1 << 24):
            buf = np.frombuffer(block, np.uint8)
            newline = np.flatnonzero(buf == 10)
            lines = line + np.searchsorted(newline, np.flatnonzero(buf == 34))    # line of each quote
            lines = np.unique(lines[lines != last])
            if len(lines):
                first = first or int(lines[0])
                count += len(lines)
                last = int(lines[-1])
            line += len(newline)
    return count, first


def line_of(path: str | Path, layout: Layout, row: int) -> str:
    """"FILE:LINE" of data row `row` of a file `load` read."""
    header, _, _, quoted = _sniff(check_file(path), layout)
    return f"{path}:{row_line(path, header, quoted, row)}"


def load(path: str | Path, layout: Layout) -> Loaded:
    """Parse `path` (see `Loaded`): rows in file order in the widest layout, absent columns filled."""
    path = check_file(path)
    header, n, bom, quoted = _sniff(path, layout, scan=False)        # quotes in the first 64 KB
    other = _OtherRows(layout)
    if n:
        cols, other, quoted, bounds = _read_bulk(path, layout, header, n, quoted)
        pa.default_memory_pool().release_unused()            # the parser's freed blocks, back to the OS
    else:
        quoted, bounds = quoted or _has_quote(path), {}
        cols = {c: np.zeros(0, layout.numpy_dtype(c)) for c in layout.columns[1:]}
        cols[layout.key] = (np.zeros(0, np.int32), [])
    nb = len(cols[layout.columns[1]])
    for c in layout.columns[max(n, 2):]:
        cols[c] = np.full(nb, layout.fill[c], layout.numpy_dtype(c))
        if nb:
            bounds[c] = (cols[c][0], cols[c][0])
    short = np.full(nb, n == 2)
    if other.rows:   # put the rows of other widths back at their lines (valid files have no blank lines)
        at = np.zeros(nb + len(other.rows), bool)
        at[np.array([r[0] for r in other.rows]) - header - 1] = True
        extra = _parse_other(path, layout, other.rows)
        codes, names = cols[layout.key]
        index = {v: i for i, v in enumerate(names)}
        extra[layout.key] = [index.setdefault(v, len(index)) for v in extra[layout.key]]
        extra_short = [len(_fields(t)) == 2 for _, t in other.rows]
        cols = {c: _interleave(cols[c], extra[c], at) for c in layout.columns[1:]} | {
            layout.key: (_interleave(codes, extra[layout.key], at), list(index))}
        short = _interleave(short, extra_short, at)
        bounds = None                                        # without the rows of other widths
    return Loaded(cols, header, short, bom, quoted, bounds)


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
    import pyarrow.compute as pc  # noqa: PLC0415  (~40 ms of import reading does not need)
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
