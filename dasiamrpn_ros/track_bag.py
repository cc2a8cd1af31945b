"""``dasiamrpn-track-bag``: track an image topic of a rosbag2 (MCAP or sqlite3) offline, no ROS
graph running: the results file of ``dasiamrpn-track`` (one line per image), and with ``--out-bag``
a bag of ``vision_msgs/Detection2DArray`` stamped like the images (``ros2 bag``, Foxglove).

    dasiamrpn-track-bag BAG --topic /camera/image_raw --box x,y,w,h [--out-bag DIR] [--output results.txt]

(It lives beside the node, not in ``dasiamrpn-track``: the core imports no ROS package, and bags
carry ROS messages.)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from collections.abc import Sequence

import torch

from dasiamrpn_core import CheckpointError, ExportError
from dasiamrpn_core.cli.common import add_tracker_arguments, parse_box, tracker_from_arguments
from dasiamrpn_core.cli.track import track_to_file

from .bags import STORAGES, BagError, DetectionsBagWriter, bag_frames
from .image_conversion import ImageConversionError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-track-bag", description=__doc__.split("\n\n")[0])
    parser.add_argument("bag", type=Path, help="rosbag2 directory, .mcap or .db3 file")
    parser.add_argument("--topic", default=None, help="image topic (default: the bag's only one)")
    parser.add_argument("--box", type=parse_box, required=True, help="initial box x,y,w,h on the first image")
    parser.add_argument("--output", type=Path, default=Path("output/track/results.txt"))
    parser.add_argument("--out-bag", type=Path, default=None, help="also write the detections as a rosbag2 here")
    parser.add_argument("--storage", choices=STORAGES, default="mcap", help="storage of --out-bag (default mcap)")
    parser.add_argument("--label", default="target", help="class_id in the detections (default target)")
    add_tracker_arguments(parser)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    writer = None
    try:
        tracker = tracker_from_arguments(args)
        frames = bag_frames(args.bag, args.topic)
        first = next(frames, None)
        if first is None:
            raise BagError(f"{args.bag}: the topic has no images")
        header = first[0]   # of the image being tracked (results come back before the next one is read)
        tracker.init(first[1], args.box)

        def images():
            nonlocal header
            for header, frame in frames:  # noqa: B007 (the current header, read by the writer)
                yield frame

        if args.out_bag:
            writer = DetectionsBagWriter(args.out_bag, storage=args.storage)
            writer.write((header.stamp.sec, header.stamp.nanosec), header.frame_id, args.box, 1.0, 1, args.label)

        def on_result(_i, result):
            if writer is not None:
                box = result.box if result.state == "tracking" else None
                writer.write((header.stamp.sec, header.stamp.nanosec), header.frame_id, box, result.score, 1,
                             args.label)

        times = track_to_file(tracker, first[1], args.box, images(), args.output, on_result=on_result)
    except (BagError, CheckpointError, ExportError, ImageConversionError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if writer is not None:
            writer.close()
    print(f"tracked {len(times)} images of {args.bag}; results: {args.output}"
          + (f"; detections bag: {args.out_bag}" if args.out_bag else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
