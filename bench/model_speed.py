"""Speed of our LART (SDPA attention) vs a straightforward reference transformer with the official explicit
attention (matmul -> boolean-index assignment of -1e3 -> softmax -> matmul, as the official `Attention.forward`).

Official preset (`lart_official`, 52M parameters), batch 4 x 128 frames x 5 people (640 tokens), same weights,
same inputs. Each measurement: the best of 3 timed runs after one warm-up run.
  inference:         eval mode (test-time masks: gaps in-filled), torch.inference_mode, as `lart predict` runs
                     it: logits of the person of interest (slot 0, every frame) - ours `LART.poi_logits`
                     (undetected tokens of other people dropped), the reference its full forward
  all tokens:        eval mode, logits of every token of every slot (`LART.forward`), for comparison
  forward+backward:  train mode (BERT masking, same mask generator seed), dropout and drop path set to 0 in
                     both models so that outputs and gradients can be compared
Wall and process CPU time are both printed (on a shared machine the CPU-time ratio is the steadier one).
Checks: logits equal to 1e-5 in every mode; gradients to 1e-4 relative. Peak memory: CUDA = max allocated;
CPU = what one step adds to the peak RSS (VmHWM above the RSS before it), each step run in a fresh process.

    python bench/model_speed.py [--device cuda] [--dtype bf16] [--batch 4 --frames 128 --people 5]

--dtype bf16 adds our model under torch.autocast(bfloat16) (what `lart train` uses on CUDA), timed the same
way, against our float32 run: speed-up and max |logit diff| (tolerance 0.05, as tests/test_model.py checks on
CPU). On CUDA run as: python bench/model_speed.py --device cuda --dtype bf16 (not measured in this project's
sessions so far: no GPU was lent).
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

from lartcore.model import LART, LARTOutput, lart_official

# ---------------------------------------------------------------- the reference (official-style) encoder

def official_attention(attn, x, live, masked):
    """The official Attention.forward on our weights: x (B, N, D), live/masked (B, N) bool."""
    B, N, _ = x.shape
    q, k, v = attn.qkv(x).chunk(3, dim=-1)                                        # (B, N, H*dh) each
    q, k, v = (t.reshape(B, N, attn.heads, attn.dim_head).transpose(1, 2) for t in (q, k, v))  # (B, H, N, dh)
    dots = torch.matmul(q, k.transpose(-1, -2)) * attn.dim_head ** -0.5            # (B, H, N, N)
    pair = (live[:, None, :] & live[:, :, None])[:, None].repeat(1, attn.heads, 1, 1)
    dots[~pair] = -1e3                                                             # replaced, not added
    key_masked = masked[:, None, None, :].repeat(1, attn.heads, N, 1)
    dots[key_masked] = -1e3
    probs = torch.nn.functional.dropout(dots.softmax(dim=-1), attn.p, attn.training)
    out = torch.matmul(probs, v).transpose(1, 2).reshape(B, N, -1)                 # (B, N, H*dh)
    return attn.drop(attn.proj(out))


def our_forward(model: LART, batch, generator=None) -> LARTOutput:
    return model(batch, generator)


def reference_forward(model: LART, batch, generator=None) -> LARTOutput:
    tokens = model.embed(batch)                                                    # (B, T, P, D)
    live, masked = model.make_masks(batch["present"].bool(), generator)
    x = model.apply_mask(tokens, masked)                                           # (B, N, D)
    live, masked = live.flatten(1), masked.flatten(1)
    for blk in model.blocks:
        x = x + blk.drop_path(official_attention(blk.attn, blk.norm1(x), live, masked))
        x = x + blk.drop_path(blk.mlp(blk.norm2(x)))
    return model.heads(model.norm(x).view_as(tokens))


# ---------------------------------------------------------------- measurement

def make_batch(cfg, B, T, P, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    present = torch.rand(B, T, P, generator=g) > 0.1         # 10% random gaps
    present[:, T // 2:, 1:] = False                           # others leave halfway
    batch = {"pose_shape": torch.randn(B, T, P, 229, generator=g), "joints_3d": torch.randn(B, T, P, 135, generator=g),
             "appearance": torch.randn(B, T, P, cfg.appearance_dim, generator=g), "present": present}
    return {k: v.to(device) for k, v in batch.items()}


def _rss_mib(field: str) -> float:
    return int(re.search(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text()).group(1)) / 1024


class Peak:
    """Peak memory a `with` block adds, in MiB. CUDA: max allocated. CPU: the peak RSS (VmHWM) above the RSS at
    the start; only meaningful in a fresh process (a grown heap hides new allocations): see `fresh_peak`."""

    def __init__(self, device):
        self.device, self.mib = device, float("nan")

    def __enter__(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        elif Path("/proc/self/clear_refs").exists():
            Path("/proc/self/clear_refs").write_text("5")     # resets VmHWM to the current RSS
            self.start = _rss_mib("VmRSS")
        return self

    def __exit__(self, *exc):
        if self.device.type == "cuda":
            torch.cuda.synchronize()
            self.mib = torch.cuda.max_memory_allocated() / 2**20
        elif Path("/proc/self/status").exists():
            self.mib = _rss_mib("VmHWM") - self.start


def fresh_peak(mode: str, which: str, args) -> float:
    """CPU peak MiB of one `mode` step of `which` model, run once in a new process (see `Peak`)."""
    cmd = [sys.executable, __file__, "--peak-of", f"{mode}:{which}", "--batch", str(args.batch),
           "--frames", str(args.frames), "--people", str(args.people)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()[-1])


def timed(fn, device, warmup=1, repeats=3):
    """Best of `repeats` timed calls after `warmup` untimed ones: (wall s, process CPU s, peak MiB, output)."""
    for _ in range(warmup):
        fn()
    best = None
    for _ in range(repeats):
        with Peak(device) as peak:
            start, cpu_start = time.perf_counter(), time.process_time()
            out = fn()
            if device.type == "cuda":
                torch.cuda.synchronize()
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
        if best is None or seconds < best[0]:
            best = (seconds, cpu, peak.mib, out)
    return best


def infer(model, forward, batch):
    model.eval()
    with torch.inference_mode():
        if forward is our_forward:
            return model.poi_logits(batch)                                 # (B, T, C)
        return forward(model, batch).action_logits[:, :, 0]


def infer_all(model, forward, batch):
    model.eval()
    with torch.inference_mode():
        return forward(model, batch).action_logits                         # (B, T, P, C)


def train_step(model, forward, batch):
    model.train()
    model.zero_grad(set_to_none=True)
    logits = forward(model, batch, torch.Generator(batch["present"].device).manual_seed(1)).action_logits
    logits.float().square().mean().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--frames", type=int, default=128)
    ap.add_argument("--people", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    ap.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32",
                    help="bf16: also time our model under bfloat16 autocast against its float32 run")
    ap.add_argument("--peak-of", default=None, help=argparse.SUPPRESS)   # internal: MODE:MODEL, see fresh_peak
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    cfg = dataclasses.replace(lart_official(), dropout=0.0, drop_path=0.0)
    model = LART(cfg).to(device)
    batch = make_batch(cfg, args.batch, args.frames, args.people, device)
    steps = {"forward+backward": train_step, "inference": infer, "all tokens": infer_all}
    forwards = {"reference": reference_forward, "ours": our_forward}
    if args.peak_of:
        mode, which = args.peak_of.split(":")
        with Peak(device) as peak:
            steps[mode](model, forwards[which], batch)
        print(peak.mib)
        return
    print(f"LART official preset, {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M params, "
          f"batch {args.batch} x {args.frames} frames x {args.people} people, device {device}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    rows = {}
    # forward+backward first: it grows the process heap, after which the reference's large (B, H, N, N)
    # buffers come cheaper; in a fresh process its inference is ~1.5x slower. So this order is the
    # conservative one for the ratios.
    for mode, step in steps.items():
        t_ref, c_ref, m_ref, out_ref = timed(functools.partial(step, model, reference_forward, batch), device)
        t_our, c_our, m_our, out_our = timed(functools.partial(step, model, our_forward, batch), device)
        if device.type == "cpu":
            m_ref, m_our = fresh_peak(mode, "reference", args), fresh_peak(mode, "ours", args)
        rows[mode] = (t_ref, t_our, out_our)
        logits_ref, logits_our = (out_ref[0], out_our[0]) if mode == "forward+backward" else (out_ref, out_our)
        diff = (logits_ref - logits_our).abs().max().item()
        print(f"{mode:17s} reference {t_ref:7.3f} s (cpu {c_ref:7.3f} s) peak {m_ref:6.0f} MiB | ours {t_our:7.3f} s "
              f"(cpu {c_our:7.3f} s) peak {m_our:6.0f} MiB | speed-up {t_ref / t_our:5.2f}x wall, "
              f"{c_ref / c_our:5.2f}x cpu | max |logit diff| {diff:.1e}")
        assert diff < 1e-5, f"{mode}: outputs differ by {diff}"
        if mode == "forward+backward":
            rel = max(((out_ref[1][n] - g).norm() / g.norm().clamp_min(1e-12)).item() for n, g in out_our[1].items())
            print(f"{'':17s} gradients: {len(out_our[1])} tensors, max relative difference {rel:.1e}")
            assert set(out_ref[1]) == set(out_our[1]) and rel < 1e-4
    used = [rows["inference"], rows["forward+backward"]]
    end_to_end = sum(r[0] for r in used) / sum(r[1] for r in used)
    print(f"end to end (inference + forward+backward): {end_to_end:.2f}x faster (goal >= 3x)")
    if args.dtype == "bf16":
        bf16_rows(model, batch, steps, rows, device)


BF16_LOGIT_TOL = 0.05     # as tests/test_model.py


def bf16_rows(model, batch, steps, rows, device) -> None:
    """Our model under bfloat16 autocast vs its float32 run (the `rows` of main): time, peak, logit diff."""
    for mode in ("inference", "forward+backward"):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            t_bf, c_bf, m_bf, out_bf = timed(functools.partial(steps[mode], model, our_forward, batch), device)
        t32, out32 = rows[mode][1], rows[mode][2]
        logits_bf, logits32 = (out_bf[0], out32[0]) if mode == "forward+backward" else (out_bf, out32)
        diff = (logits_bf.float() - logits32.float()).abs().max().item()
        peak = f"peak {m_bf:6.0f} MiB" if device.type == "cuda" else "peak n/a on CPU"
        print(f"{mode:17s} ours bf16 autocast {t_bf:7.3f} s (cpu {c_bf:7.3f} s) {peak} | float32 {t32:7.3f} s | "
              f"speed-up {t32 / t_bf:5.2f}x | max |logit diff| vs float32 {diff:.1e} (tolerance {BF16_LOGIT_TOL})")
        assert diff <= BF16_LOGIT_TOL, f"{mode}: bf16 logits differ by {diff}"


if __name__ == "__main__":
    main()
