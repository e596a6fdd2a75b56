"""Formula weights for an official LART state_dict: every value is a function of (key name, flat index),
so the oracle (make_formula_ckpt.py, numpy 1.23) and LART Studio's tests (a copy in
tests/data/official/, numpy 2.x) build bit-identical float32 tensors without shipping a checkpoint.

    uniform(key, n)[i] = splitmix64((crc32(key) << 32) + i), top 53 bits, mapped to [-1, 1)
    value(key, shape)  = uniform * sqrt(3 / shape[1])  for a >= 2-D `.weight` (fan-in scaled: std 1/sqrt(fan_in)),
                                                        times 0.1 in the action heads (unsaturated scores)
                         1 + 0.1 * uniform              for a LayerNorm `norm.weight`
                         0.05 * uniform                 for a `.bias`
                         0.5 * uniform                  for anything else (pos_embedding, mask/class tokens,
                                                        SMPL-head init buffers)
Integer arithmetic is exact (uint64 wraps mod 2**64), so no libm or numpy version enters the values.
"""
import zlib

import numpy as np


def uniform(key: str, n: int) -> np.ndarray:
    """(n,) float64 in [-1, 1), a pure function of (key, index)."""
    z = np.arange(n, dtype=np.uint64) + np.uint64(zlib.crc32(key.encode()) << 32)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0 ** -52 - 1.0


def value(key: str, shape: tuple) -> np.ndarray:
    """float32 array of `shape` for state_dict key `key`."""
    u = uniform(key, int(np.prod(shape, dtype=np.int64))).reshape(shape)
    last = key.rsplit(".", 1)[-1]
    if last == "weight" and len(shape) >= 2:
        v = u * np.sqrt(3.0 / shape[1]) * (0.1 if "action_head" in key else 1.0)
    elif key.endswith("norm.weight"):
        v = 1.0 + 0.1 * u
    elif last == "bias":
        v = 0.05 * u
    else:
        v = 0.5 * u
    return v.astype(np.float32)
