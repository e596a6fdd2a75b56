"""`lart` command line: every subcommand's arguments; the handlers are in `lartcore.cli.commands`, and
those of the commands that need no torch (eval, data check) in `lartcore.cli.light`.

    lart demo                      build the demo data, train, predict, evaluate, report (cached)
    lart data build-demo|pack|stats|check|convert-phalp ...
    lart train CONFIG [key=value ...]   (multi-GPU: torchrun --nproc_per_node K -m lartcore.cli train ...)
    lart predict | eval | import-official | render [--checkpoint CKPT] | notebooks ...

Every failure ends as one line on stderr, `lart: error: FILE[:LINE]: what was expected, what was found`,
and exit status 2 (1: a check that ran and failed; 130: interrupted); `lart --debug ...` (or `--debug`
after the command) re-raises instead, with the traceback.

A handlers module is imported when a command runs, so `lart --help` answers at once instead of loading
torch and the rest (about 4 s), and `lart eval` loads only what reading and scoring CSV files needs.
"""
from __future__ import annotations

import argparse
import os
import sys

# ---------------------------------------------------------------- arguments

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lart", description="LART Studio: action recognition from 3D pose "
                                     "and tracking (re-implementation of LART, CVPR 2023).")
    parser.add_argument("--debug", action="store_true", help="on an error, show the Python traceback")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="the main job on the bundled demo dataset (idempotent, cached)")
    p.add_argument("--root", default=None, help="demo data folder (default: $LART_DATA_ROOT/demo)")
    p.add_argument("--markdown", action="store_true",
                   help="print only the results and findings as Markdown (no notebooks)")
    p.add_argument("--readme", default=None, metavar="FILE",
                   help="rewrite the generated demo block of FILE (e.g. README.md) from the results (no notebooks)")
    p.set_defaults(handler="run_demo")

    # ---- lart data ...
    data = sub.add_parser("data", help="datasets: build the demo set, pack tracks, statistics, checks")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")

    p = dsub.add_parser("build-demo", help="generate the synthetic demo dataset in the real formats")
    p.add_argument("--out", default=None, help="output folder (default: $LART_DATA_ROOT/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", choices=["demo", "tiny"], default="demo", help="tiny is for tests")
    p.add_argument("--force", action="store_true", help="rebuild even if a complete build exists")
    p.set_defaults(handler="run_build_demo")

    p = dsub.add_parser("pack", help="convert per-track release pickles into a packed track store")
    p.add_argument("src", help="folder of <dataset>_<video>_<keyframe>_<tid>_<len>.pkl files")
    p.add_argument("dst", help="store folder (resumable: rerun to continue an interrupted pack)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed files, report them")
    p.set_defaults(handler="run_pack")

    p = dsub.add_parser("stats", help="Table 1 statistics of a packed store (#clips, #tracks, #bbox, hours)")
    p.add_argument("store", help="packed store folder")
    p.set_defaults(handler="run_stats")

    p = dsub.add_parser("check", help="check a data root against a manifest; non-zero exit if incomplete")
    p.add_argument("manifest", help="manifest YAML (see data_manifests/) or its name, e.g. ava_v2.2")
    p.add_argument("root", help="data root to check")
    p.set_defaults(handler="run_check")

    p = dsub.add_parser("convert-phalp", help="turn PHALP per-video result pickles into release-format tracks")
    p.add_argument("src", nargs="+", help="PHALP results .pkl file(s)")
    p.add_argument("--out", required=True, help="output folder of per-track pickles")
    p.add_argument("--dataset", default="demo", help="dataset prefix of the written file names")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed files, report them")
    p.set_defaults(handler="run_convert_phalp")

    # ---- lart eval
    p = sub.add_parser("eval", help="AVA v2.2 frame-mAP@0.5 of a detection CSV (official semantics)")
    p.add_argument("--labelmap", default=None, help="pbtxt label map (default: the 60 evaluated classes)")
    p.add_argument("--gt", required=True, help="ground-truth CSV")
    p.add_argument("--pred", required=True, help="detection CSV")
    p.add_argument("--exclusions", default=None, help="CSV of video_id,timestamp keys dropped on both sides")
    p.add_argument("--flavor", choices=["activitynet", "slowfast"], default="activitynet")
    p.add_argument("--strict", action="store_true", help="rows the official evaluator reads although AVA's "
                   "rules do not allow them (boxes outside [0, 1] or reversed, ids outside 1..80, NaN, quoted "
                   "fields, a BOM) are errors instead of one warning per kind")
    p.add_argument("--out", default=None, help="folder for per-class AP (CSV + JSON)")
    p.set_defaults(handler="run_eval")

    # ---- lart train
    p = sub.add_parser("train", help="train a model from a config (YAML path or packaged name, e.g. "
                       "demo_lart_pose_n5); multi-GPU: torchrun --nproc_per_node K -m lartcore.cli train ...")
    p.add_argument("config", help="config YAML file, or a packaged config: <variant> (paper size, fine-tune), "
                   "<variant>_pretrain (paper, stage 1) or demo_<variant>")
    p.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. epochs=3 model.depth=2")
    p.add_argument("--resume", action="store_true", help="continue the run's checkpoint.pt bit-for-bit")
    p.add_argument("--run-dir", default=None, help="output folder (default: results/<dataset>/<name>)")
    p.set_defaults(handler="run_train")

    # ---- lart import-official
    p = sub.add_parser("import-official", help="convert an official LART (Lightning) checkpoint into ours")
    p.add_argument("ckpt", help="official .ckpt file (e.g. epoch_002-EMA.ckpt)")
    p.add_argument("out", help="output checkpoint path")
    p.add_argument("--trusted", action="store_true", help="unpickle the whole file with its own classes (can "
                   "execute code; only for files you trust). Not needed for official checkpoints: without it "
                   "tensors, plain types and their omegaconf configs are read as data, nothing else")
    p.add_argument("--pose-stats", default=None, help="PHALP mean_std.npy to store as pose normalisation")
    p.set_defaults(handler="run_import_official")

    # ---- lart predict
    p = sub.add_parser("predict", help="per-track action scores -> AVA detection CSV (what `lart eval` scores)")
    p.add_argument("checkpoint", help="our checkpoint (.pt; official ones: `lart import-official` first)")
    p.add_argument("--store", required=True, help="packed track store or folder of release track pickles")
    p.add_argument("--boxes", default=None, help="provided person boxes CSV (SlowFast style), e.g. "
                   "ava_val_predicted_boxes.csv; needed by --protocol paper")
    p.add_argument("--out", required=True, help="output detection CSV")
    p.add_argument("--protocol", choices=["paper", "official"], default="paper",
                   help="paper: every keyframe second of every track, 12-frame mean, provided boxes matched "
                   "by IoU; official: the released code's test path (track.fullframe@avg.6): one box per "
                   "track file at its KEY_FRAME, the first 125 frames, 4 others drawn with numpy's RNG, "
                   "unclipped boxes with confidence >= 0.8, 60 classes (lartcore/infer.py)")
    p.add_argument("--seed", type=int, default=0, help="official: the numpy seed of the other people's shuffle "
                   "(the official code draws them unseeded; with this seed it draws the same)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.set_defaults(handler="run_predict")

    # ---- lart notebooks
    p = sub.add_parser("notebooks", help="execute the notebooks reproducing the paper's tables and figures "
                       "headless, write HTML reports")
    p.add_argument("--only", nargs="+", default=None, metavar="NAME", help="notebook names (default: all)")
    p.add_argument("--data-root", default=None, help="data root (default: the bundled demo dataset)")
    p.add_argument("--results-dir", default=None, help="results registry (default: $LART_RESULTS_DIR)")
    p.add_argument("--size", choices=["demo", "paper"], default="demo",
                   help="demo: small demo configs; paper: paper configs on real data")
    p.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                   help="config override for every variant (repeatable), e.g. --override epochs=1")
    p.add_argument("--reports", default="reports", help="folder for the HTML reports")
    p.add_argument("--force", action="store_true", help="execute every notebook, even one whose notebook, "
                   "code and inputs did not change since its report was written (default: reuse that report)")
    p.set_defaults(handler="run_notebooks")

    # ---- lart render
    p = sub.add_parser("render", help="overlay body meshes, boxes, ids and labels on a whole clip -> MP4")
    p.add_argument("--tracks", required=True, help="track store folder or folder of release track pickles")
    p.add_argument("--out", required=True, help="output .mp4 (H.264) or .webm (VP9)")
    p.add_argument("--video", default=None, help="the clip's video, starting at AVA second 900 (default: "
                   "a neutral backdrop)")
    p.add_argument("--clip", default=None, help="video id to render when the tracks hold several "
                   "(default: the --video file name, or the only video)")
    p.add_argument("--smpl-dir", default=None, help="SMPL model folder (default: $LART_SMPL_DIR, else the "
                   "stand-in body)")
    p.add_argument("--checkpoint", default=None, help="draw this checkpoint's predictions (top-k per person, "
                   "'stand 92%%'); default: the dataset's labels, marked 'GT stand' / '~stand 80%%' (pseudo)")
    p.add_argument("--top-k", type=int, default=3, help="labels per person (default 3)")
    p.add_argument("--threshold", type=float, default=0.0, help="lowest predicted score drawn (default 0)")
    p.set_defaults(handler="run_render")

    for command in [*sub.choices.values(), *dsub.choices.values()]:   # --debug also after the command
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                             help="on an error, show the Python traceback")
    return parser


def describe(e: BaseException) -> str:
    """One line for an exception: an OSError as `FILE: reason`, a project error (a ValueError naming its
    file) as its message; anything else with its type, as a likely bug."""
    if isinstance(e, OSError) and e.filename is not None:
        target = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else f"{e.filename}"
        text = f"{target}: {e.strerror or type(e).__name__}"
    elif isinstance(e, KeyError) and len(e.args) == 1 and isinstance(e.args[0], str):
        text = e.args[0]            # str(KeyError) quotes its message
    else:
        text = str(e) or type(e).__name__
        if not isinstance(e, (ValueError, OSError, LookupError)):
            text = f"{type(e).__name__}: {text} (unexpected: rerun with --debug for the traceback)"
    return " ".join(text.split())   # one line


LIGHT = frozenset({"run_eval", "run_check"})   # the handlers in `lartcore.cli.light`


def handlers(name: str):
    """The module holding handler `name`, imported now (after parsing: `lart --help` stays fast)."""
    if name in LIGHT:
        # numpy (documented variable, read when numpy is imported) asks the kernel for 2 MB pages for every
        # array of 4 MB and more; on this project's 2-core VMs fresh 2 MB pages are slow to fault in:
        # `lart eval` at AVA-val scale spent 1.7 s in the kernel with them, 0.7 s without (bench/eval_speed.py)
        os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")
        from lartcore.cli import light  # noqa: PLC0415  (numpy, pyarrow: ~0.25 s)
        return light
    from lartcore.cli import commands  # noqa: PLC0415  (torch and the rest: ~4 s)
    return commands


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = getattr(handlers(args.handler), args.handler)(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("lart: interrupted", file=sys.stderr)
        return 130
    except Exception as e:   # every failure: one clear line, no traceback (unless --debug)
        if args.debug:
            raise
        print(f"lart: error: {describe(e)}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
