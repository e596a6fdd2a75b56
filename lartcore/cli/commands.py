"""The `lart` command handlers: each turns parsed arguments into one library call and prints its result.
`lartcore.cli` parses the command line and imports this module only when one of its commands runs, so
that `lart --help` answers at once instead of loading torch and the rest (about 4 s); the commands that
need none of that (`lart eval`, `lart data check`) have their handlers in `lartcore.cli.light`."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from lartcore import demo, infer, notebooks, paths, pipeline, variants
from lartcore.checkpoint import import_official
from lartcore.data import store, tracks
from lartcore.demodata import synthetic
from lartcore.registry import Registry
from lartcore.train import train


def run_demo(args) -> int:
    # The demo models are tiny: on a shared 2-core machine intra-op threads cost more in synchronisation
    # than they gain (measured, demo LART-pose n=5 train step: 0.08 CPU-s with 1 thread, 1.3 with 2).
    torch.set_num_threads(1)
    start, cpu = time.perf_counter(), time.process_time()
    root = pipeline.resolve_data_root(args.root or paths.demo_root(), "demo")
    quiet = args.markdown or args.readme
    if not quiet:
        print("\n== Demo dataset (synthetic, deterministic; not AVA) ==")
        for split, stats in demo.data_stats(root).items():
            print(f"\n-- {split}\n{stats.to_string(index=False)}")
    result = demo.run(root, progress=(lambda _line: None) if quiet else lambda line: print(line, flush=True))
    if args.readme:
        print(f"demo results written to {demo.update_readme(args.readme, result)}")
    if args.markdown:
        print(demo.markdown(result))
    if quiet:
        return 0
    print(f"\n== {demo.BANNER} ==\nframe-mAP@0.5 and PM/OM/PI means (AP points), paper protocol, results in "
          f"{next(iter(result.runs.values())).parent}")
    print(result.table.rename(index=demo.LABELS).to_string(float_format=lambda x: f"{x:6.1f}"))
    print(f"\n== Findings on the demo data ({demo.BANNER}): every claim, margin = a - b (AP points) ==")
    print(demo.findings_text(result.findings))
    print(f"\n== Not testable on the demo data ==\n{demo.untested_text(tuple(result.table.index))}")
    print("\n== Notebooks reproducing the paper's tables and figures ==", flush=True)
    notebooks.run(params={"data_root": str(root)})
    print(f"\nlart demo: {time.perf_counter() - start:.1f} s wall, {time.process_time() - cpu:.1f} s CPU")
    return 0


def run_build_demo(args) -> int:
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


def run_pack(args) -> int:
    dst = store.pack(args.src, args.dst, workers=args.workers, skip_bad=args.skip_bad)
    packed = store.TrackStore(dst)
    skipped = store.read_skipped(dst)
    print(f"packed {len(packed)} tracks ({int(packed.index['length'].sum())} frames) into {dst}")
    if len(skipped):
        print(f"skipped {len(skipped)} bad file(s), listed in {dst / store.SKIPPED}")
    return 0


def run_stats(args) -> int:
    print(store.stats(args.store).to_string(index=False, float_format=lambda x: f"{x:.2f}"))
    return 0


def run_convert_phalp(args) -> int:
    report = tracks.convert_phalp(args.src, args.out, args.dataset, args.skip_bad)
    print(f"convert-phalp: wrote {report.tracks} tracks to {args.out} ({report.shot_changes} shot changes in "
          f"{paths.SHOTS_FILE}); PHALP files: {report.files.summary()}")
    return 0


def run_train(args) -> int:
    cfg = variants.load_train_config(args.config, args.overrides)
    run_dir = Path(args.run_dir) if args.run_dir else Registry().run_dir(cfg.dataset, cfg.name)
    train(cfg, run_dir, resume=args.resume)
    return 0


def run_import_official(args) -> int:
    res = import_official(args.ckpt, args.out, trusted=args.trusted, pose_stats=args.pose_stats)
    print(f"imported {res.loaded} tensors into {args.out} (appearance dim {res.config.appearance_dim}, "
          f"{res.config.num_classes} classes); dropped {res.dropped}; kept {len(res.smpl_keys)} SMPL buffers")
    if args.pose_stats is None:
        print("note: no --pose-stats given: pose normalisation is the identity; the official weights expect "
              "PHALP's mean_std.npy")
    return 0


def run_predict(args) -> int:
    report = infer.predict(args.checkpoint, args.store, args.out, args.boxes, args.protocol, args.batch_size,
                           args.device, args.seed)
    if report is None:   # a rank > 0 under torchrun: rank 0 writes and reports
        return 0
    scored = (f"{report.keyframes} track files of > 1 frame (one key frame each)" if args.protocol == "official"
              else f"{report.keyframes} track keyframes")
    print(f"predict ({args.protocol}): {report.tracks} tracks, {report.frames} frames, {scored} -> "
          f"{report.boxes} boxes, {report.rows} rows in {args.out}")
    if report.unmatched:
        print(f"  {report.unmatched} provided boxes matched no track (IoU < {infer.MATCH_IOU}): no rows for them")
    if report.bad_tokens:
        print(f"  {report.bad_tokens} detected tokens had NaN/inf features: treated as undetected")
    return 0


def run_notebooks(args) -> int:
    if args.size == "demo":   # tiny models: one intra-op thread is faster on a busy machine (as `lart demo`)
        torch.set_num_threads(1)
    params = {"size": args.size, "overrides": tuple(args.override)}
    if args.data_root is not None:
        params["data_root"] = str(args.data_root)
    if args.results_dir is not None:
        params["results_dir"] = str(args.results_dir)
    try:
        notebooks.run(args.only or notebooks.NOTEBOOKS, params, args.reports, force=args.force)
    except RuntimeError as e:
        print(f"lart notebooks: {e}", file=sys.stderr)
        return 1
    return 0


def run_render(args) -> int:
    from lartcore import render  # noqa: PLC0415  (trimesh + pyrender: seconds of imports no other command needs)
    result = render.render_video(args.tracks, args.out, video=args.video, clip=args.clip,
                                 smpl_dir=args.smpl_dir, checkpoint=args.checkpoint, top_k=args.top_k,
                                 threshold=args.threshold)
    print(f"wrote {result.path} ({result.frames} frames, {result.tracks} tracks, {result.body})\n"
          f"{result.labels}")
    return 0
