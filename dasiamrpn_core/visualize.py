"""Drawing boxes on frames, annotated videos and contact sheets (shared by the CLI, demo,
benchmarks and the ROS debug image)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PREDICTION_COLOUR = (0, 200, 255)   # BGR orange-yellow
TRUTH_COLOUR = (0, 220, 0)          # BGR green
STATE_COLOURS = {"tracking": PREDICTION_COLOUR, "searching": (0, 140, 255), "lost": (0, 0, 255)}
# one colour per target id (BGR, cycled): several targets of one MultiTracker, the node's debug image
ID_COLOURS = ((0, 200, 255), (255, 120, 0), (60, 220, 60), (220, 60, 220), (0, 90, 255), (255, 220, 0),
              (140, 140, 255), (40, 160, 160))


def id_colour(target_id: int) -> tuple[int, int, int]:
    return ID_COLOURS[(int(target_id) - 1) % len(ID_COLOURS)]


def draw_box(frame: np.ndarray, box, colour=PREDICTION_COLOUR, label: str | None = None,
             thickness: int = 2) -> np.ndarray:
    """Draw an (x, y, w, h) box in place (skipped when the box is missing/NaN)."""
    if box is None or not np.all(np.isfinite(box)):
        return frame
    x, y, w, h = (float(v) for v in box)
    p1, p2 = (int(round(x)), int(round(y))), (int(round(x + w)), int(round(y + h)))
    cv2.rectangle(frame, p1, p2, colour, thickness)
    if label:
        cv2.putText(frame, label, (p1[0], max(12, p1[1] - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1,
                    cv2.LINE_AA)
    return frame


def annotate(frame: np.ndarray, box, score: float, state: str, truth=None, text: str | None = None) -> np.ndarray:
    """A copy of ``frame`` with the prediction (and optionally the ground truth) drawn."""
    out = frame.copy()
    if truth is not None:
        draw_box(out, truth, TRUTH_COLOUR, None, 1)
    draw_box(out, box, STATE_COLOURS.get(state, PREDICTION_COLOUR), f"{state} {score:.2f}")
    if text:
        cv2.putText(out, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(out, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def annotate_targets(frame: np.ndarray, results, text: str | None = None) -> np.ndarray:
    """A copy of ``frame`` with every target's box ``{id: TrackResult}`` in its id's colour (a thin box
    when not tracking), labelled ``id state score``."""
    out = frame.copy()
    for target_id, r in results.items():
        draw_box(out, r.box, id_colour(target_id), f"{target_id} {r.state} {r.score:.2f}",
                 2 if r.state == "tracking" else 1)
    if text:
        cv2.putText(out, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(out, text, (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return out


class VideoSink:
    """Writes BGR frames to an .mp4 (mp4v) or .avi (MJPG) file."""

    def __init__(self, path: str | Path, fps: float = 25.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None

    def write(self, frame: np.ndarray) -> None:
        if self.writer is None:
            fourcc = cv2.VideoWriter_fourcc(*("MJPG" if self.path.suffix.lower() == ".avi" else "mp4v"))
            h, w = frame.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), fourcc, self.fps, (w, h))
            if not self.writer.isOpened():
                raise RuntimeError(f"cannot open a video writer for {self.path}")
        self.writer.write(frame)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.writer = None

    def __enter__(self) -> VideoSink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def contact_sheet(tiles: list[np.ndarray], columns: int = 4, tile_width: int = 320) -> np.ndarray:
    """Tile frames (resized to a common width) into one image."""
    if not tiles:
        raise ValueError("contact_sheet needs at least one frame")
    resized = [cv2.resize(t, (tile_width, int(round(t.shape[0] * tile_width / t.shape[1])))) for t in tiles]
    tile_h = max(t.shape[0] for t in resized)
    rows = []
    for start in range(0, len(resized), columns):
        row = [np.pad(t, ((0, tile_h - t.shape[0]), (0, 0), (0, 0))) for t in resized[start:start + columns]]
        row += [np.zeros((tile_h, tile_width, 3), np.uint8)] * (columns - len(row))
        rows.append(np.hstack(row))
    return np.vstack(rows)
