"""`lart` command line: every subcommand's arguments and its handler, on top of the library.

    lart demo                      build the demo data, train, predict, evaluate, report (cached)
    lart data build-demo|pack|stats|check|convert-phalp ...
    lart train CONFIG [key=value ...]   (multi-GPU: torchrun --nproc_per_node K -m lartcore.cli train ...)
    lart predict | eval | import-official | render | notebooks ...

A handler turns arguments into one library call and prints its result. The library module a command
needs is imported when the command runs (`_module`), so `lart --help` answers at once instead of loading
torch and the rest (about 4 s).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from importlib import import_module
from pathlib import Path

from lartcore import paths


def _module(name: str):
    """lartcore.<name>, imported on first use (see the module docstring)."""
    return import_module(f"lartcore.{name}")


# ---------------------------------------------------------------- handlers

def _demo(args) -> int:
    import torch
    demo, notebooks = _module("demo"), _module("notebooks")
    # The demo models are tiny: on a shared 2-core machine intra-op threads cost more in synchronisation
    # than they gain (measured, demo LART-pose n=5 train step: 0.08 CPU-s with 1 thread, 1.3 with 2).
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    root = _module("pipeline").resolve_data_root(args.root or paths.demo_root(), "demo")
    print("\n== Demo dataset (synthetic, deterministic; not AVA) ==")
    for split, stats in demo.data_stats(root).items():
        print(f"\n-- {split}\n{stats.to_string(index=False)}")
    result = demo.run(root, progress=lambda line: print(line, flush=True))
    print(f"\n== {demo.BANNER} ==\nframe-mAP@0.5 and PM/OM/PI means (AP points), paper protocol, results in "
          f"{next(iter(result.runs.values())).parent}")
    print(result.table.to_string(float_format=lambda x: f"{x:6.2f}"))
    print(f"\n== Findings on the demo data ({demo.BANNER}) ==")
    print(result.findings.to_string(index=False, float_format=lambda x: f"{x:6.2f}"))
    print("\n== Notebooks reproducing the paper's tables and figures ==", flush=True)
    notebooks.run(params={"data_root": str(root)})
    print(f"\nlart demo: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    return 0


def _build_demo(args) -> int:
    synthetic = _module("data.synthetic")
    root = Path(args.out) if args.out else paths.demo_root()
    if not args.force and synthetic.is_built(root, args.size, args.seed):
        print(f"demo dataset already built in {root} (use --force to rebuild)")
        return 0
    synthetic.build_demo(root, size=args.size, seed=args.seed, force=args.force)
    counts = json.loads((root / "manifest.json").read_text())["counts"]
    print(f"demo dataset ({args.size}, seed {args.seed}) written to {root}")
    for k, v in counts.items():
        print(f"  {k}: {v}")
    return 0


def _pack(args) -> int:
    store = _module("data.store")
    dst = store.pack(args.src, args.dst, workers=args.workers, skip_bad=args.skip_bad)
    packed = store.TrackStore(dst)
    skipped = store.read_skipped(dst)
    print(f"packed {len(packed)} tracks ({int(packed.index['length'].sum())} frames) into {dst}")
    if len(skipped):
        print(f"skipped {len(skipped)} bad file(s), listed in {dst / store.SKIPPED}")
    return 0


def _stats(args) -> int:
    print(_module("data.store").stats(args.store).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return 0


def _check(args) -> int:
    """Print the table; exit 1 if a required entry is missing or malformed."""
    import pandas as pd
    manifest = _module("data.manifest")
    found = manifest.load_manifest(args.manifest)
    if not Path(args.root).is_dir():
        raise FileNotFoundError(f"data root {args.root} is not a folder")
    table = manifest.check_manifest(found, args.root)
    with pd.option_context("display.max_colwidth", 120, "display.width", 200):
        print(f"{found.name}: {found.path}\nroot: {args.root}\n{table.to_string(index=False)}")
    failed = table[table.required & (table.status != "present")]
    print(f"ok: all {int(table.required.sum())} required entries present" if failed.empty else
          f"FAILED: {len(failed)} required entries not usable: {', '.join(failed.entry)}")
    return 0 if failed.empty else 1


def _convert_phalp(args) -> int:
    report = _module("data.tracks").convert_phalp(args.src, args.out, args.dataset, args.skip_bad)
    print(f"convert-phalp: wrote {report.tracks} tracks to {args.out} ({report.shot_changes} shot changes in "
          f"{paths.SHOTS_FILE}); PHALP files: {report.files.summary()}")
    return 0


def _train(args) -> int:
    cfg = _module("variants").load_train_config(args.config, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else _module("registry").Registry().run_dir(cfg.dataset, cfg.name)
    _module("train").train(cfg, run_dir, resume=args.resume)
    return 0


def _import_official(args) -> int:
    res = _module("checkpoint").import_official(args.ckpt, args.out, trusted=args.trusted,
                                                pose_stats=args.pose_stats)
    print(f"imported {res.loaded} tensors into {args.out} (appearance dim {res.config.appearance_dim}, "
          f"{res.config.num_classes} classes); dropped {res.dropped}; kept {len(res.smpl_keys)} SMPL buffers")
    if args.pose_stats is None:
        print("note: no --pose-stats given: pose normalisation is the identity; the official weights expect "
              "PHALP's mean_std.npy")
    return 0


def _predict(args) -> int:
    infer = _module("infer")
    report = infer.predict(args.checkpoint, args.store, args.out, args.boxes, args.protocol, args.batch_size,
                           args.device)
    print(f"predict ({args.protocol}): {report.tracks} tracks, {report.frames} frames, {report.keyframes} "
          f"track keyframes -> {report.boxes} boxes, {report.rows} rows in {args.out}")
    if report.unmatched:
        print(f"  {report.unmatched} provided boxes matched no track (IoU < {infer.MATCH_IOU}): no rows for them")
    if report.bad_tokens:
        print(f"  {report.bad_tokens} detected tokens had NaN/inf features: treated as undetected")
    return 0


def _notebooks(args) -> int:
    notebooks = _module("notebooks")
    if args.size == "demo":   # tiny models: one intra-op thread is faster on a busy machine (as `lart demo`)
        import torch
        torch.set_num_threads(1)
    params = {"size": args.size, "overrides": tuple(args.override)}
    if args.data_root is not None:
        params["data_root"] = str(args.data_root)
    if args.results_dir is not None:
        params["results_dir"] = str(args.results_dir)
    try:
        notebooks.run(args.only or notebooks.NOTEBOOKS, params, args.reports)
    except RuntimeError as e:
        print(f"lart notebooks: {e}", file=sys.stderr)
        return 1
    return 0


def _render(args) -> int:
    result = _module("render").render_video(args.tracks, args.out, video=args.video, clip=args.clip,
                                            smpl_dir=args.smpl_dir)
    print(f"wrote {result.path} ({result.frames} frames, {result.tracks} tracks, {result.body})")
    return 0


def _eval(args) -> int:
    return _module("eval").cli_eval(args)


# ---------------------------------------------------------------- arguments

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lart", description="LART Studio: action recognition from 3D pose "
                                     "and tracking (re-implementation of LART, CVPR 2023).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="the main job on the bundled demo dataset (idempotent, cached)")
    p.add_argument("--root", default=None, help="demo data folder (default: $LART_DATA_ROOT/demo)")
    p.set_defaults(func=_demo)

    # ---- lart data ...
    data = sub.add_parser("data", help="datasets: build the demo set, pack tracks, statistics, checks")
    dsub = data.add_subparsers(dest="data_command", required=True, metavar="DATA_COMMAND")

    p = dsub.add_parser("build-demo", help="generate the synthetic demo dataset in the real formats")
    p.add_argument("--out", default=None, help="output folder (default: $LART_DATA_ROOT/demo)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", choices=["demo", "tiny"], default="demo", help="tiny is for tests")
    p.add_argument("--force", action="store_true", help="rebuild even if a complete build exists")
    p.set_defaults(func=_build_demo)

    p = dsub.add_parser("pack", help="convert per-track release pickles into a packed track store")
    p.add_argument("src", help="folder of <dataset>_<video>_<keyframe>_<tid>_<len>.pkl files")
    p.add_argument("dst", help="store folder (resumable: rerun to continue an interrupted pack)")
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed files, report them")
    p.set_defaults(func=_pack)

    p = dsub.add_parser("stats", help="Table 1 statistics of a packed store (#clips, #tracks, #bbox, hours)")
    p.add_argument("store", help="packed store folder")
    p.set_defaults(func=_stats)

    p = dsub.add_parser("check", help="check a data root against a manifest; non-zero exit if incomplete")
    p.add_argument("manifest", help="manifest YAML (see data_manifests/) or its name, e.g. ava_v2.2")
    p.add_argument("root", help="data root to check")
    p.set_defaults(func=_check)

    p = dsub.add_parser("convert-phalp", help="turn PHALP per-video result pickles into release-format tracks")
    p.add_argument("src", nargs="+", help="PHALP results .pkl file(s)")
    p.add_argument("--out", required=True, help="output folder of per-track pickles")
    p.add_argument("--dataset", default="demo", help="dataset prefix of the written file names")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable/malformed files, report them")
    p.set_defaults(func=_convert_phalp)

    # ---- lart eval
    p = sub.add_parser("eval", help="AVA v2.2 frame-mAP@0.5 of a detection CSV (official semantics)")
    p.add_argument("--labelmap", default=None, help="pbtxt label map (default: the 60 evaluated classes)")
    p.add_argument("--gt", required=True, help="ground-truth CSV")
    p.add_argument("--pred", required=True, help="detection CSV")
    p.add_argument("--exclusions", default=None, help="CSV of video_id,timestamp keys dropped on both sides")
    p.add_argument("--flavor", choices=["activitynet", "slowfast"], default="activitynet")
    p.add_argument("--out", default=None, help="folder for per-class AP (CSV + JSON)")
    p.set_defaults(func=_eval)

    # ---- lart train
    p = sub.add_parser("train", help="train a model from a config (YAML path or packaged name, e.g. "
                       "demo_lart_pose_n5); multi-GPU: torchrun --nproc_per_node K -m lartcore.cli train ...")
    p.add_argument("config", help="config YAML file, or a packaged config: <variant> (paper size, fine-tune), "
                   "<variant>_pretrain (paper, stage 1) or demo_<variant>")
    p.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. epochs=3 model.depth=2")
    p.add_argument("--resume", action="store_true", help="continue the run's checkpoint.pt bit-for-bit")
    p.add_argument("--run-dir", default=None, help="output folder (default: results/<dataset>/<name>)")
    p.set_defaults(func=_train)

    # ---- lart import-official
    p = sub.add_parser("import-official", help="convert an official LART (Lightning) checkpoint into ours")
    p.add_argument("ckpt", help="official .ckpt file (e.g. epoch_002-EMA.ckpt)")
    p.add_argument("out", help="output checkpoint path")
    p.add_argument("--trusted", action="store_true", help="unpickle the file's omegaconf hyper_parameters "
                   "(can execute code; only for files you trust). Without it the load is weights-only")
    p.add_argument("--pose-stats", default=None, help="PHALP mean_std.npy to store as pose normalisation")
    p.set_defaults(func=_import_official)

    # ---- lart predict
    p = sub.add_parser("predict", help="per-track action scores -> AVA detection CSV (what `lart eval` scores)")
    p.add_argument("checkpoint", help="our checkpoint (.pt; official ones: `lart import-official` first)")
    p.add_argument("--store", required=True, help="packed track store or folder of release track pickles")
    p.add_argument("--boxes", default=None, help="provided person boxes CSV (SlowFast style), e.g. "
                   "ava_val_predicted_boxes.csv; needed by --protocol paper")
    p.add_argument("--out", required=True, help="output detection CSV")
    p.add_argument("--protocol", choices=["paper", "official"], default="paper",
                   help="paper: 12-frame mean, provided boxes matched by IoU; official: `avg.6`, the track's "
                   "own detected boxes with confidence >= 0.8, 60 classes per box")
    p.add_argument("--batch-size", type=int, default=8, help="windows per forward pass")
    p.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    p.set_defaults(func=_predict)

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
    p.set_defaults(func=_notebooks)

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
    p.set_defaults(func=_render)

    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except (FileNotFoundError, ValueError) as e:  # user errors: one clear line, no traceback
        print(f"lart: error: {e}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":
    sys.exit(main())
