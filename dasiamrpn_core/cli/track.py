"""``dasiamrpn-track``: track one target (or several: ``--box`` repeated) through a video, an image
folder or a camera.

Several boxes run in one ``MultiTracker`` (one batched network call per frame, mutual awareness in
dasiamrpn/longterm unless ``--independent-targets``) and write one results file per target,
``<output stem>_id<N><suffix>`` (N = 1, 2, ... in the order of the boxes), each in the one-target
format, and an annotated video with a colour per id."""
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
from ..multi import MultiTracker
from ..tracker import TrackResult, validate_box
from ..frame_source import FrameSource
from ..visualize import VideoSink, annotate, annotate_targets
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


RESULT_LINE = "{:.3f},{:.3f},{:.3f},{:.3f},{:.4f},{}\n"


def target_output(output: Path, target_id: int) -> Path:
    """The results file of one target of several: ``results.txt`` -> ``results_id2.txt``."""
    return output.with_name(f"{output.stem}_id{target_id}{output.suffix}")


def track_targets_to_files(multi: MultiTracker, first: np.ndarray, boxes, frames: Iterable[np.ndarray],
                           output: Path, sink: VideoSink | None = None, max_frames: int | None = None,
                           total: int | None = None) -> list[float]:
    """Several targets: ``multi`` gets one target per box on ``first``, then tracks ``frames``; one
    results file per target (``target_output``); returns the per-frame track times (all targets)."""
    ids = [multi.add(first, box) for box in boxes]
    output.parent.mkdir(parents=True, exist_ok=True)
    files = {i: open(target_output(output, i), "w") for i in ids}
    times: list[float] = []
    try:
        for i, box in zip(ids, boxes):
            files[i].write(RESULT_LINE.format(*box, 1.0, "init"))
        if sink:
            sink.write(annotate_targets(first, {i: TrackResult(tuple(b), 1.0) for i, b in zip(ids, boxes)}))
        bar = tqdm(frames, total=(total - 1) if total else None, unit="frame", desc=f"tracking {len(ids)} targets")
        for frame in bar:
            if max_frames and len(times) + 1 >= max_frames:
                break
            t0 = time.perf_counter()
            results = multi.track(frame)
            times.append(time.perf_counter() - t0)
            for i, r in results.items():
                files[i].write(RESULT_LINE.format(*r.box, r.score, r.state))
            bar.set_postfix(fps=f"{1.0 / np.mean(times[-30:]):.1f}")
            if sink:
                sink.write(annotate_targets(frame, results, text=f"{1.0 / times[-1]:.0f} FPS"))
    finally:
        for f in files.values():
            f.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("source", help="video file, image folder or camera index (e.g. 0)")
    parser.add_argument("--box", type=parse_box, action="append", default=None,
                        help="initial box x,y,w,h (0-based pixels); repeat it for several targets")
    parser.add_argument("--output", type=Path, default=Path("output/track/results.txt"),
                        help="per-frame results: x,y,w,h,score,state (default: %(default)s); several "
                             "targets: one file per target, <stem>_id<N><suffix>")
    parser.add_argument("--independent-targets", action="store_true",
                        help="several targets: mutual awareness off (each as a separate tracker would follow it)")
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
    boxes = args.box or [select_box_interactively(first)]
    sink = None
    try:
        if len(boxes) == 1:
            tracker.init(first, boxes[0])
        else:
            multi = MultiTracker(tracker, mutual_awareness=not args.independent_targets)
            for number, box in enumerate(boxes, 1):   # every box checked before anything is written
                try:
                    validate_box(box, first.shape)
                except ValueError as exc:
                    raise ValueError(f"--box number {number} {box}: {exc}") from exc
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sink = VideoSink(args.video, source.fps) if args.video else None
    total = len(source) or None
    if args.max_frames:
        total = min(total or args.max_frames, args.max_frames)
    if len(boxes) == 1:
        times = track_to_file(tracker, first, boxes[0], frames, args.output, sink, args.max_frames, total)
    else:
        times = track_targets_to_files(multi, first, boxes, frames, args.output, sink, args.max_frames, total)
    if sink:
        sink.close()
    fps = len(times) / sum(times) if times else float("nan")
    print(f"tracked {len(times)} frames at {fps:.1f} FPS ({tracker.mode}, {tracker.device}, {tracker.precision}); "
          f"results: {args.output if len(boxes) == 1 else target_output(args.output, 1).name + ' ...'}"
          + (f"; video: {args.video}" if args.video else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
