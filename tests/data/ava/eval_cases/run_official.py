"""Run the unmodified official ActivityNet AVA evaluator (Evaluation/ at activitynet/ActivityNet @82304fa9)
and print its result as JSON: {"mAP", "ap": {id: AP or null}, "num_gt": {id: n}, "wall_s", "cpu_s"}.

    ACTIVITYNET_DIR=CHECKOUT python run_official.py -l LABELMAP -g GT.csv -d DETS.csv [--exclusions CSV]

CHECKOUT is an activitynet/ActivityNet checkout (default: this script's folder, holding Evaluation/).

Shims (old numpy aliases the official code uses, removed in numpy 1.24 / 2.0), set only where absent:
np.float = float, np.NAN = np.nan (np.bool exists again in numpy 2 as np.bool_; with numpy 2.4 only
np.float and np.NAN are set). The Python-2 style implicit relative imports inside ava/ resolve by
putting Evaluation/ava on sys.path. The official `run_evaluation` runs as is; a subclass of
ObjectDetectionEvaluation.evaluate is wrapped only to record the instance, so that its per-class arrays
can be read by class id (the printed dict is keyed by class name, which need not be unique). --exclusions removes the GT rows of
the listed keyframes first (the current official script has no exclusions; this equals dropping them on
both sides, since detections on keyframes absent from GT are ignored).
"""
import argparse
import json
import logging
import math
import os
import sys
import tempfile
import time

import numpy as np

for _name, _value in (("bool", bool), ("float", float), ("NAN", np.nan)):
    if not hasattr(np, _name):
        setattr(np, _name, _value)

ROOT = os.environ.get("ACTIVITYNET_DIR", os.path.dirname(os.path.abspath(__file__)))   # holds Evaluation/
sys.path[:0] = [os.path.join(ROOT, "Evaluation"), os.path.join(ROOT, "Evaluation", "ava")]

import get_ava_performance as gap  # noqa: E402
from ava import object_detection_evaluation as ode  # noqa: E402

_instances = []


_evaluate = ode.ObjectDetectionEvaluation.evaluate


def _recording_evaluate(self):
    _instances.append(self)
    return _evaluate(self)


def evaluate(labelmap, groundtruth, detections):
    """The official run_evaluation on three paths -> {"mAP", "ap", "num_gt"} (ids as strings)."""
    ode.ObjectDetectionEvaluation.evaluate = _recording_evaluate
    gap.pprint.pprint = lambda *args, **kw: None                 # the metrics are read below instead
    with open(labelmap) as lm, open(groundtruth) as g, open(detections) as d:
        gap.run_evaluation(lm, g, d)
    ev = _instances[-1]
    aps = ev.average_precision_per_class
    plain = lambda v: None if math.isnan(v) else float(v)  # noqa: E731
    return {"mAP": plain(float(np.nanmean(aps))) if not np.isnan(aps).all() else None,
            "ap": {str(i + 1): plain(v) for i, v in enumerate(aps)},
            "num_gt": {str(i + 1): int(n) for i, n in enumerate(ev.num_gt_instances_per_class)}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-l", "--labelmap", required=True)
    ap.add_argument("-g", "--groundtruth", required=True)
    ap.add_argument("-d", "--detections", required=True)
    ap.add_argument("--exclusions")
    a = ap.parse_args()
    gt_path = a.groundtruth
    if a.exclusions:
        import csv
        with open(a.exclusions) as f:
            excl = {gap.make_image_key(r[0], r[1]) for r in csv.reader(f)}
        tmp = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
        with open(a.groundtruth) as f:
            for row in csv.reader(f):
                if gap.make_image_key(row[0], row[1]) not in excl:
                    tmp.write(",".join(row) + "\n")
        tmp.close()
        gt_path = tmp.name
    logging.basicConfig(level=logging.WARNING)
    t0, c0 = time.perf_counter(), time.process_time()
    result = evaluate(a.labelmap, gt_path, a.detections)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({**result, "wall_s": wall, "cpu_s": cpu}))


if __name__ == "__main__":
    main()
