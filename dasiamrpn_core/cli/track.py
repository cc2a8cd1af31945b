"""``dasiamrpn-track``: track one target through a video, an image folder or a camera."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from collections.abc import Callable, Iterable

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import CheckpointError
from ..tracker import TrackResult
from ..frame_source import FrameSource
from ..visualize import VideoSink, annotate
from .common import add_tracker_arguments, parse_box, tracker_from_arguments


def select_box_interactively(frame: np.ndarray) -> tuple[float, float, float, float]:
    """Let the user draw the box when a display and a GUI-enabled OpenCV are present."""
    import cv2
    if not os.environ.get("DISPLAY") and sys.platform.startswith("linux"):
        raise SystemExit("no --box given and no display to draw one on: pass --box x,y,w,h")
    try:
        x, y, w, h = cv2.selectROI("dasiamrpn-track: draw the target, then ENTER", frame, False)
        cv2.destroyAllWindows()
    except cv2.error as exc:
        raise SystemExit(f"this OpenCV build has no GUI ({exc.err}); pass --box x,y,w,h") from exc
    if w == 0 or h == 0:
        raise SystemExit("no box drawn")
    return float(x), float(y), float(w), float(h)


def track_to_file(tracker, first: np.ndarray, box, frames: Iterable[np.ndarray], output: Path,
                  sink: VideoSink | None = None, max_frames: int | None = None, total: int | None = None,
                  on_result: Callable[[int, TrackResult], None] | None = None) -> list[float]:
    """Track ``frames`` after ``first`` (already initialised on ``box``), one results line per frame
    (``x,y,w,h,score,state``; the first line is the init box), with a progress bar; returns the
    per-frame track times. ``on_result(i, result)`` is called for frame i = 1, 2, ..."""
    output.parent.mkdir(parents=True, exist_ok=True)
    times: list[float] = []
    with open(output, "w") as out:
        out.write("{:.3f},{:.3f},{:.3f},{:.3f},1.0000,init\n".format(*box))
        if sink:
            sink.write(annotate(first, box, 1.0, "tracking"))
        bar = tqdm(frames, total=(total - 1) if total else None, unit="frame", desc="tracking")
        for frame in bar:
            if max_frames and len(times) + 1 >= max_frames:
                break
            t0 = time.perf_counter()
            r = tracker.track(frame)
            times.append(time.perf_counter() - t0)
            out.write("{:.3f},{:.3f},{:.3f},{:.3f},{:.4f},{}\n".format(*r.box, r.score, r.state))
            bar.set_postfix(fps=f"{1.0 / np.mean(times[-30:]):.1f}", score=f"{r.score:.2f}")
            if sink:
                sink.write(annotate(frame, r.box, r.score, r.state, text=f"{1.0 / times[-1]:.0f} FPS"))
            if on_result is not None:
                on_result(len(times), r)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", help="video file, image folder or camera index (e.g. 0)")
    parser.add_argument("--box", type=parse_box, default=None, help="initial box x,y,w,h (0-based pixels)")
    parser.add_argument("--output", type=Path, default=Path("output/track/results.txt"),
                        help="per-frame results: x,y,w,h,score,state (default: %(default)s)")
    parser.add_argument("--video", type=Path, default=None, help="also write an annotated video (.mp4/.avi)")
    parser.add_argument("--max-frames", type=int, default=None, help="stop after this many frames")
    add_tracker_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        source = FrameSource(args.source)
        tracker = tracker_from_arguments(args)
    except (ValueError, CheckpointError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frames = iter(source)
    first = next(frames, None)
    if first is None:
        print(f"error: {args.source} has no frames", file=sys.stderr)
        return 2
    box = args.box or select_box_interactively(first)
    try:
        tracker.init(first, box)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sink = VideoSink(args.video, source.fps) if args.video else None
    total = len(source) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    times = track_to_file(tracker, first, box, frames, args.output, sink, args.max_frames, total)
    if sink:
        sink.close()
    fps = len(times) / sum(times) if times else float("nan")
    print(f"tracked {len(times)} frames at {fps:.1f} FPS ({tracker.mode}, {tracker.device}, {tracker.precision}); "
          f"results: {args.output}"
          + (f"; video: {args.video}" if args.video else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
