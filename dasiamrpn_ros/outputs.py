"""The tracker node's per-frame outputs: every publisher of a tracked frame, and what one frame's
targets become on them (``~/detections`` with one ``Detection2D`` per target, the first target's
``~/box``, ``~/score`` and ``~/state``, one ``~/marker`` per target, the debug image, and with
``use_depth`` ``~/detections_3d`` and ``~/position``). docs/ros.md documents the topics.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from geometry_msgs.msg import PointStamped, PolygonStamped
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Float32, Header, String
from visualization_msgs.msg import ImageMarker

from dasiamrpn_core.tracker import TrackResult
from dasiamrpn_core.visualize import annotate, annotate_targets

from .depth_input import DepthOutcome
from .image_conversion import bgr_to_compressed, bgr_to_image
from .messages import (VISION_MSGS_ERROR, Detection2DArray, Detection3DArray, Target2D, Target3D, box_polygon,
                       detections, detections_3d, image_marker, position_point)

OUTPUT_QUEUE = 10   # keep-last depth of the output topics (the debug images keep 1)


class TrackerOutputs:
    """The publishers of tracked frames, made on ``node`` through ``made(destroy, entity)`` (the node
    destroys them on deactivation); ``~/detections`` and ``~/detections_3d`` only where vision_msgs
    imports (``log_warning`` says so once)."""

    def __init__(self, node, made: Callable[[Callable[[Any], Any], Any], Any], use_depth: bool,
                 log_warning: Callable[[str], None]):
        def publisher(kind, topic: str, depth: int = OUTPUT_QUEUE):
            return made(node.destroy_publisher, node.create_publisher(kind, topic, depth))

        self.detections = None
        if VISION_MSGS_ERROR is None:
            self.detections = publisher(Detection2DArray, "~/detections")
        else:
            log_warning(VISION_MSGS_ERROR)
        self.box = publisher(PolygonStamped, "~/box")
        self.score = publisher(Float32, "~/score")
        self.state = publisher(String, "~/state")
        self.marker = publisher(ImageMarker, "~/marker")
        self.debug = publisher(Image, "~/debug_image", 1)
        self.debug_compressed = publisher(CompressedImage, "~/debug_image/compressed", 1)
        self.detections_3d = self.position = None
        if use_depth:
            if VISION_MSGS_ERROR is None:
                self.detections_3d = publisher(Detection3DArray, "~/detections_3d")
            self.position = publisher(PointStamped, "~/position")

    def debug_watched(self) -> bool:
        return self.debug.get_subscription_count() > 0 or self.debug_compressed.get_subscription_count() > 0

    @staticmethod
    def debug_image(image: np.ndarray, targets: Sequence[Target2D], states: dict[int, str], several: bool):
        """The annotated frame: one target as the single-target node always drew it, several in a
        colour per id labelled ``id state score``."""
        if not several and len(targets) == 1:
            target = targets[0]
            state = states[target.target_id]
            text = None if target.box is not None else f"{state} {target.score:.2f}"
            return annotate(image, target.box, target.score, state, text=text)
        return annotate_targets(image, {t.target_id: TrackResult(tuple(t.box), t.score, states[t.target_id])
                                        for t in targets if t.box is not None})

    def publish_frame(self, header: Header, targets: Sequence[Target2D], states: dict[int, str], first_id: int | None,
                      label: str, debug: np.ndarray | None = None) -> None:
        """One frame's outputs for its targets (box None: not tracking, left out of ~/detections)."""
        if self.detections is not None:  # the stamped output: boxes, scores and target ids together
            self.detections.publish(detections(
                header, [t if states[t.target_id] == "tracking" else Target2D(t.target_id, None, t.score)
                         for t in targets], label))
        first = next((t for t in targets if t.target_id == first_id), None)
        if first is not None:
            # the header-less score and state of the first target (for people and simple scripts; they
            # cannot be paired with a frame reliably) before its box: a consumer keyed on the box has
            # seen them
            self.score.publish(Float32(data=first.score))
            self.state.publish(String(data=states[first.target_id]))
            self.box.publish(box_polygon(header, first.box))
        for t in targets:
            self.marker.publish(image_marker(header, t.box, t.target_id, states[t.target_id]))
        if debug is not None:
            if self.debug.get_subscription_count() > 0:
                self.debug.publish(bgr_to_image(debug, header=header))
            if self.debug_compressed.get_subscription_count() > 0:
                self.debug_compressed.publish(bgr_to_compressed(debug, header=header))

    def publish_3d(self, header: Header, located: DepthOutcome, scores: dict[int, float], label: str) -> None:
        """``~/detections_3d`` (every tracked frame; empty without an estimate) and ``~/position`` (each
        estimate), stamped like the colour frame, in the depth frame's frame_id."""
        header_3d = Header(stamp=header.stamp, frame_id=located.frame_id or header.frame_id)
        targets = [Target3D(target_id, estimate, scores[target_id])
                   for target_id, estimate in sorted(located.estimates.items()) if target_id in scores]
        if self.detections_3d is not None:
            self.detections_3d.publish(detections_3d(header_3d, targets, label))
        for target in targets:
            self.position.publish(position_point(header_3d, target.estimate))

    def end(self, header: Header, depth_frame_id: str | None, ended_ids: Sequence[int]) -> None:
        """Targets ended by ~/stop: one empty detection array (and 3D array with depth) ends the session
        on the stamped output; with several, each one's marker is removed."""
        if self.detections is not None:
            self.detections.publish(detections(header, [], ""))
        if depth_frame_id is not None and self.detections_3d is not None:
            self.detections_3d.publish(detections_3d(Header(stamp=header.stamp, frame_id=depth_frame_id), [], ""))
        if len(ended_ids) > 1:
            for target_id in ended_ids:
                self.remove_marker(header, target_id)

    def remove_marker(self, header: Header, target_id: int) -> None:
        self.marker.publish(image_marker(header, None, target_id, "lost"))
