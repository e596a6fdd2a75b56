"""Write the tie and odd-input golden cases of LART Studio issue #13 into tests/data/ava/eval_cases/<case>/
(gt.csv, dets.csv, labelmap.pbtxt) and the official evaluator's result on each into expected.json.

    ACTIVITYNET_DIR=CHECKOUT OLD_EVAL_DIR=DIR python make_cases.py tests/data/ava/eval_cases

CHECKOUT: an activitynet/ActivityNet checkout (@82304fa9); DIR: lartcore @96ca1f6's lartcore/eval.py as
old_eval.py and lartcore/data/{ava,strict_csv}.py as old_ava.py / old_strict_csv.py (old_ava importing
old_strict_csv), for the `before_fix` values only; lartcore itself on PYTHONPATH.

The tie cases are random small configurations (seeded); for each situation the first seed is taken on
which lartcore's evaluator before the fix (lartcore @96ca1f6, /work/oracle/old_eval) differs from the
official by >= 0.01 mAP, so every case shows a difference the fix removes. The expected values are the
official evaluator's (run_official.evaluate: Evaluation/ of activitynet/ActivityNet @82304fa9, numpy shims
only). Deterministic: same seeds, same files.
"""
import json
import math
import os
import random
import sys
from pathlib import Path

sys.path.insert(0, os.environ.get("OLD_EVAL_DIR", "/work/oracle/old_eval"))   # lartcore @96ca1f6's eval.py, ava.py
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run_official  # noqa: E402

LABELMAP = "".join(f'item {{\n  name: "{n}"\n  id: {i}\n}}\n' for i, n in [(1, "a"), (2, "b"), (3, "c")])
BOM = "\ufeff"


def fmt(v):
    return "nan" if isinstance(v, float) and math.isnan(v) else (f"{v:.3f}" if isinstance(v, float) else str(v))


def gt_line(v, t, box, a, pid=None):
    return ",".join([v, t, *map(fmt, box), str(a)] + ([str(pid)] if pid is not None else [])) + "\n"


def det_line(v, t, box, a, s):
    return ",".join([v, t, *map(fmt, box), str(a), repr(s) if isinstance(s, float) else str(s)]) + "\n"


def write(out: Path, name, gt_text, det_text, labelmap=LABELMAP):
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "gt.csv").write_text(gt_text, encoding="utf-8")
    (d / "dets.csv").write_text(det_text, encoding="utf-8")
    (d / "labelmap.pbtxt").write_text(labelmap)
    return d


def official(d: Path, gt="gt.csv", dets="dets.csv"):
    try:
        return run_official.evaluate(d / "labelmap.pbtxt", d / gt, d / dets)
    except Exception as e:                                   # the official stops on this input
        return {"error": f"{type(e).__name__}: {e}"}


def old(d: Path):
    """lartcore's evaluator before the fix (its strict readers included)."""
    import old_ava
    import old_eval
    try:
        r = old_eval.frame_map(old_ava.read_gt(d / "gt.csv"), old_ava.read_detections(d / "dets.csv"),
                               old_ava.read_labelmap(d / "labelmap.pbtxt"))
        return r.map
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def jitter(rng, box, amount):
    return tuple(min(1.0, max(0.0, round(c + rng.uniform(-amount, amount), 3))) for c in box)


def rand_box(rng):
    x1, y1 = rng.uniform(0, 0.5), rng.uniform(0, 0.3)
    return (round(x1, 3), round(y1, 3), round(x1 + rng.uniform(0.2, 0.5), 3), round(y1 + rng.uniform(0.4, 0.7), 3))


def tie_within_keyframe(rng):
    """One keyframe, 2-3 people and a false-positive box, every box scored for classes 1-3 with 2 score
    values: equal scores of one class on different boxes inside the keyframe."""
    people = [rand_box(rng) for _ in range(rng.randint(2, 3))]
    gt = "".join(gt_line("vid_a", "0902", b, a, i) for i, b in enumerate(people)
                 for a in (1, 2, 3) if rng.random() < 0.6)
    boxes = [jitter(rng, b, 0.03) for b in people] + [rand_box(rng)]
    rng.shuffle(boxes)
    det = "".join(det_line("vid_a", "0902", b, a, rng.choice([0.3, 0.5])) for b in boxes for a in (1, 2, 3))
    return gt, det


def tie_across_keyframes(rng):
    """4-6 keyframes listed out of order, one class-1 GT each (or none), one or two class-1 detections each,
    all scored 0.5: ties only across keyframes."""
    keys = [f"{902 + i:04d}" for i in range(rng.randint(4, 6))]
    gt, det = [], []
    for k in keys:
        person = rand_box(rng)
        if rng.random() < 0.7:
            gt.append(gt_line("vid_a", k, person, 1, 0))
        else:
            gt.append(gt_line("vid_a", k, person, 2, 0))
        det.append(det_line("vid_a", k, jitter(rng, person, 0.02), 1, 0.5))
        if rng.random() < 0.5:
            det.append(det_line("vid_a", k, rand_box(rng), 1, 0.5))
    rng.shuffle(det)
    return "".join(gt), "".join(det)


def tie_at_cap(rng):
    """One keyframe with 57-66 rows (over the cap of 50), scores from 3 values: which of the rows tied at the
    50th score survive, and their order."""
    people = [rand_box(rng) for _ in range(2)]
    gt = "".join(gt_line("vid_a", "0902", b, a, i) for i, b in enumerate(people) for a in (1, 2))
    boxes = [jitter(rng, b, 0.03) for b in people] + [rand_box(rng) for _ in range(20)]
    rows = [(b, a) for b in boxes for a in (1, 2, 3)][:rng.randint(57, 66)]
    rng.shuffle(rows)
    det = "".join(det_line("vid_a", "0902", b, a, rng.choice([0.2, 0.4, 0.6])) for b, a in rows)
    return gt, det


def gt_iou_tie(rng, seven_columns):
    """GT boxes of one class whose IoU with a detection is exactly equal (boxes on a 0.125 grid), the GT
    rows without person id (7 columns) or with equal person ids: the official GT order decides."""
    grid = [i / 8 for i in range(9)]
    def box():
        x = sorted(rng.sample(grid, 2))
        return (x[0], 0.0, x[1], 1.0)                        # full height: IoU = 1-D overlap ratio
    gts = [box() for _ in range(rng.randint(2, 4))]
    gt = "".join(gt_line("vid_a", "0902", b, 1, None if seven_columns else 3) for b in gts)
    det = "".join(det_line("vid_a", "0902", box(), 1, round(0.9 - 0.1 * i, 1)) for i in range(rng.randint(2, 4)))
    return gt, det


SEARCH = {
    "tie_within_keyframe": tie_within_keyframe,
    "tie_across_keyframes": tie_across_keyframes,
    "tie_at_cap": tie_at_cap,
    "gt_iou_tie_7col": lambda rng: gt_iou_tie(rng, True),
    "gt_iou_tie_equal_person_id": lambda rng: gt_iou_tie(rng, False),
}


def search(out: Path, name, make, min_diff=0.01):
    for seed in range(2000):
        gt, det = make(random.Random(seed))
        d = write(out, name, gt, det)
        off, before = official(d), old(d)
        if "error" not in off and isinstance(before, float) and abs(before - off["mAP"]) >= min_diff:
            return {**off, "seed": seed, "before_fix": before}
    raise SystemExit(f"{name}: no seed found")


def odd_cases(out: Path) -> dict:
    """Inputs the official evaluator reads although AVA's rules do not allow them."""
    a, b = (0.1, 0.1, 0.5, 0.9), (0.55, 0.1, 0.95, 0.9)
    cases = {}
    cases["coords_outside_unit"] = (
        gt_line("vid_a", "0902", (-0.01, 0.1, 0.5, 1.1), 1, 0) + gt_line("vid_a", "0903", b, 1, 0),
        det_line("vid_a", "0902", (-0.02, 0.1, 0.5, 1.05), 1, 0.9) + det_line("vid_a", "0903", (0.55, 0.1, 1.1, 0.9), 1, 0.8)
        + det_line("vid_a", "0903", (1.2, 1.2, 1.5, 1.5), 1, 0.95))
    cases["reversed_boxes"] = (                              # GT reversed, no detection of its class there
        gt_line("vid_a", "0902", a, 1, 0) + gt_line("vid_a", "0902", (0.9, 0.1, 0.6, 0.9), 2, 1)
        + gt_line("vid_a", "0903", b, 2, 0),
        det_line("vid_a", "0902", (0.5, 0.1, 0.1, 0.9), 1, 0.95) + det_line("vid_a", "0902", a, 1, 0.9)
        + det_line("vid_a", "0903", b, 2, 0.8) + det_line("vid_a", "0903", (0.2, 0.9, 0.4, 0.1), 2, 0.99))
    cases["ids_outside_labelmap"] = (
        gt_line("vid_a", "0902", a, 1, 0) + gt_line("vid_a", "0902", a, 81, 0) + gt_line("vid_a", "0902", b, 0, 1)
        + gt_line("vid_a", "0903", b, 2, 0) + gt_line("vid_a", "0903", b, 5, 0),
        det_line("vid_a", "0902", a, 1, 0.9) + det_line("vid_a", "0902", a, 81, 0.99) + det_line("vid_a", "0902", b, -3, 0.97)
        + det_line("vid_a", "0903", b, 2, 0.7) + det_line("vid_a", "0903", a, 1000, 0.99) + det_line("vid_a", "0903", b, 5, 0.9))
    cases["nan_values"] = (                                   # NaN GT box: its class's detections there are FPs
        gt_line("vid_a", "0902", a, 1, 0) + gt_line("vid_a", "0902", b, 1, 1) + gt_line("vid_a", "0903", a, 2, 0)
        + gt_line("vid_a", "0903", (float("nan"), 0.1, 0.5, 0.9), 2, 1) + gt_line("vid_a", "0904", a, 3, 0),
        det_line("vid_a", "0902", a, 1, float("nan")) + det_line("vid_a", "0902", b, 1, 0.4)
        + det_line("vid_a", "0902", (0.1, float("nan"), 0.5, 0.9), 1, 0.95) + det_line("vid_a", "0903", a, 2, 0.9)
        + det_line("vid_a", "0904", a, 3, 0.6) + det_line("vid_a", "0904", b, 3, float("nan")))
    cases["quoted_fields"] = (
        '"vid,a",0902,0.100,0.100,0.500,0.900,1,0\n"vid_b",0903,0.550,0.100,0.950,0.900,2,0\n',
        '"vid,a",0902,0.100,0.100,0.500,0.900,1,0.9\nvid_b,"0903",0.550,0.100,0.950,0.900,2,"0.8"\n')
    results = {}
    for name, (gt, det) in cases.items():
        d = write(out, name, gt, det)
        results[name] = {**official(d), "before_fix": old(d)}
    # a BOM in the detections: the official keeps it in the first video id and so loses that row; lartcore
    # strips it. Expected = the official on the same file without the BOM; its own result is recorded beside.
    gt, det = gt_line("vid_a", "0902", a, 1, 0) + gt_line("vid_a", "0903", b, 1, 0), \
        det_line("vid_a", "0902", a, 1, 0.9) + det_line("vid_a", "0903", b, 1, 0.8)
    d = write(out, "bom", gt, BOM + det)
    (d / "dets_no_bom.csv").write_text(det)
    results["bom"] = {**official(d, "gt.csv", "dets_no_bom.csv"), "official_with_bom": official(d)["mAP"],
                      "before_fix": old(d)}
    (d / "dets_no_bom.csv").unlink()
    # a reversed GT box on a keyframe with a detection of its class: the official stops
    d = write(out, "reversed_gt_box_stops", gt_line("vid_a", "0902", a, 1, 0) + gt_line("vid_a", "0902", (0.9, 0.1, 0.6, 0.9), 1, 1),
              det_line("vid_a", "0902", a, 1, 0.9))
    results["reversed_gt_box_stops"] = {**official(d), "before_fix": old(d)}
    return results


def main():
    out = Path(sys.argv[1])
    expected = json.loads((out / "expected.json").read_text())
    for name, make in SEARCH.items():
        expected[name] = {"activitynet": search(out, name, make)}
        print(name, expected[name]["activitynet"]["mAP"], "before the fix:", expected[name]["activitynet"]["before_fix"])
    for name, res in odd_cases(out).items():
        expected[name] = {"activitynet": res}
        print(name, res.get("mAP", res.get("error")), "before the fix:", res["before_fix"])
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")


if __name__ == "__main__":
    main()
