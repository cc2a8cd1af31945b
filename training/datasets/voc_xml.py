"""PASCAL-VOC style XML annotations (ImageNet VID and DET)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .records import DatasetError


def parse(path: Path) -> tuple[tuple[int, int], list[dict]]:
    """((width, height), [{"name", "trackid", "box": (x, y, w, h)}]) of one XML file."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise DatasetError(f"malformed XML annotation {path}: {exc}") from exc
    size = root.find("size")
    width = int(size.findtext("width", "0")) if size is not None else 0
    height = int(size.findtext("height", "0")) if size is not None else 0
    objects = []
    for obj in root.iter("object"):
        bb = obj.find("bndbox")
        if bb is None:
            continue
        x0, y0 = float(bb.findtext("xmin", "nan")), float(bb.findtext("ymin", "nan"))
        x1, y1 = float(bb.findtext("xmax", "nan")), float(bb.findtext("ymax", "nan"))
        objects.append({"name": obj.findtext("name", "unknown"), "trackid": obj.findtext("trackid", "0"),
                        "box": (x0, y0, x1 - x0, y1 - y0)})
    return (width, height), objects
