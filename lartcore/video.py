"""Video frames in and out with PyAV (it bundles its own FFmpeg libraries; no ffmpeg binary needed).

A clip's video starts at AVA second 900 (`lartcore.schema`): AVA timestamp t (seconds) is clip time t - 900,
i.e. video frame (t - 900) * fps; Track frame f (30 fps) is clip time f / 30.
Frames are (H, W, 3) uint8 RGB.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np

from lartcore.fileio import atomic_path
from lartcore.schema import FIRST_SECOND, FPS

log = logging.getLogger(__name__)

# Output codecs in order of preference, by container; all play in Chromium.
_CODECS = {"mp4": ("libx264", "h264", "mpeg4"), "webm": ("libvpx-vp9", "libvpx")}


def _open_video(path: str | Path):
    import av  # noqa: PLC0415  (the render extra)

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"video not found: {path}")
    try:
        container = av.open(str(path))
    except av.error.FFmpegError as e:
        raise ValueError(f"{path}: not a readable video ({e})") from None
    if not container.streams.video:
        container.close()
        raise ValueError(f"{path}: no video stream")
    return container, container.streams.video[0]


def video_info(path: str | Path) -> dict:
    """{'fps', 'frames' (may be 0 when the container does not say), 'height', 'width', 'duration' (s)}."""
    container, stream = _open_video(path)
    with container:
        duration = float(stream.duration * stream.time_base) if stream.duration else (
            container.duration / 1e6 if container.duration else 0.0)
        return {"fps": float(stream.average_rate or FPS), "frames": int(stream.frames),
                "height": stream.codec_context.height, "width": stream.codec_context.width,
                "duration": duration}


def iter_frames(path: str | Path) -> Iterator[tuple[float, np.ndarray]]:
    """Every frame in order: (clip time in seconds, (H, W, 3) uint8 RGB)."""
    container, stream = _open_video(path)
    with container:
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield float(frame.time), frame.to_ndarray(format="rgb24")


def frames_between(path: str | Path, first: float, last: float) -> Iterator[tuple[float, np.ndarray]]:
    """The frames shown from AVA time `first` to `last` (s), in order, decoded after one seek (for playing
    or exporting a stretch): (AVA timestamp, (H, W, 3) uint8 RGB); frames before `first` are skipped."""
    container, stream = _open_video(path)
    with container:
        half_frame = 0.5 / float(stream.average_rate or FPS)
        container.seek(int(max(first - FIRST_SECOND, 0.0) / stream.time_base), stream=stream, backward=True)
        for frame in container.decode(stream):
            t = FIRST_SECOND + float(frame.time)
            if t > last + half_frame:
                break
            if t >= first - half_frame:
                yield t, frame.to_ndarray(format="rgb24")


def frames_at(path: str | Path, timestamps: Iterable[float]) -> list[np.ndarray]:
    """The frames shown at the given AVA timestamps (s): per timestamp, seek to the keyframe before it and
    decode up to the first frame whose time reaches it (the last frame if the clip ends first)."""
    container, stream = _open_video(path)
    out = []
    with container:
        half_frame = 0.5 / float(stream.average_rate or FPS)
        for t in timestamps:
            target = t - FIRST_SECOND
            container.seek(int(max(target, 0.0) / stream.time_base), stream=stream, backward=True)
            last = None
            for frame in container.decode(stream):
                last = frame
                if frame.time >= target - half_frame:
                    break
            if last is None:
                raise ValueError(f"{path}: no frame at AVA timestamp {t} (clip time {target:.3f} s)")
            out.append(last.to_ndarray(format="rgb24"))
    return out


def _pick_codec(path: Path) -> tuple[Path, str, str]:
    """-> (path to write, container format, encoder). An .mp4 without an H.264/MPEG-4 encoder in this
    PyAV build becomes .webm with VP9."""
    import av  # noqa: PLC0415  (the render extra)

    fmt = path.suffix.lower().lstrip(".")
    if fmt not in _CODECS:
        raise ValueError(f"{path}: expected an .mp4 or .webm output name")
    for name in _CODECS[fmt]:
        if name in av.codecs_available:
            return path, fmt, name
    for name in _CODECS["webm"]:
        if name in av.codecs_available:
            log.warning("no %s encoder in this PyAV build; writing VP9 WebM instead", fmt)
            return path.with_suffix(".webm"), "webm", name
    raise RuntimeError(f"{path}: this PyAV build has none of the encoders {sum(_CODECS.values(), ())}")


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float = FPS, options: dict | None = None,
                metadata: dict | None = None) -> Path:
    """Encode (H, W, 3) uint8 RGB frames (all one size) to H.264 MP4 (yuv420p, odd sizes padded by one
    black row/column) or VP9 WebM, atomically. `options`: encoder options (e.g. x264 {"preset": "veryfast"};
    used only with libx264); `metadata`: container tags (e.g. {"comment": ...}). Returns the path written
    (see `_pick_codec`)."""
    import av  # noqa: PLC0415  (the render extra)

    path, fmt, codec = _pick_codec(Path(path))
    with atomic_path(path) as tmp, av.open(str(tmp), "w", format=fmt) as container:
        container.metadata.update(metadata or {})
        stream = None
        for image in frames:
            image = np.asarray(image, dtype=np.uint8)
            if stream is None:
                shape = image.shape
                stream = container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
                stream.height, stream.width = shape[0] + shape[0] % 2, shape[1] + shape[1] % 2
                stream.pix_fmt = "yuv420p"
                if options and codec == "libx264":
                    stream.options = dict(options)
            if image.shape != shape:
                raise ValueError(f"{path}: frame size changed from {shape} to {image.shape}")
            padded = np.pad(image, ((0, shape[0] % 2), (0, shape[1] % 2), (0, 0)))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(padded, format="rgb24")))
        if stream is None:
            raise ValueError(f"{path}: no frames to write")
        container.mux(stream.encode())
    return path
