"""Shot-change sidecar (shots.csv): round trip, strict reading with file:line errors, per-video update."""
import numpy as np
import pytest

from lartcore.data import shots


def test_round_trip_sorted_and_deduplicated(tmp_path):
    df = shots.shots_frame([("ava-val", "b", 300), ("ava-val", "a", 90), ("ava-val", "b", 300), ("k", "a", 5)])
    path = shots.write_shots(df, tmp_path / "shots.csv")
    assert path.read_text() == "dataset,video,frame\nava-val,a,90\nava-val,b,300\nk,a,5\n"
    back = shots.read_shots(path)
    assert back.equals(df) and back["frame"].dtype == np.int64
    assert shots.changes(back, "a").tolist() == [5, 90] and shots.changes(back, "zzz").tolist() == []


@pytest.mark.parametrize("text, message", [
    ("video,frame\na,3\n", "header must be dataset,video,frame"),
    ("dataset,video,frame\nd,a,3\nd,a,x\n", r":3: frame must be an integer >= 0, found 'x'"),
    ("dataset,video,frame\nd,a,-4\n", r":2: frame must be an integer >= 0"),
    ("dataset,video,frame\nd,,4\n", r":2: empty dataset or video"),
])
def test_bad_files_name_the_line(tmp_path, text, message):
    path = tmp_path / "shots.csv"
    path.write_text(text)
    with pytest.raises(shots.ShotsError, match=message) as err:
        shots.read_shots(path)
    assert str(path) in str(err.value)


def test_update_replaces_only_the_named_videos(tmp_path):
    path = tmp_path / "shots.csv"
    shots.update_shots(path, {("d", "a"), ("d", "b")}, shots.shots_frame([("d", "a", 10), ("d", "b", 20)]))
    shots.update_shots(path, {("d", "a"), ("d", "c")}, shots.shots_frame([("d", "c", 7)]))   # a: no cut now
    assert path.read_text() == "dataset,video,frame\nd,b,20\nd,c,7\n"
