"""``dasiamrpn-bench-web``: what the web page costs and shows, in one run.

    dasiamrpn-bench-web [--rate 30] [--fps 30] [--seconds 20] [--json OUT]

A replay camera publishes the 640x480 demo clip at ``--rate`` Hz, the tracker node follows its face
(``dasiamrpn`` mode), and ``dasiamrpn-web`` serves the page at ``--fps``. Two phases of
``--seconds`` each: without a page, then with the page open in headless Debian chromium (selenium).
Per phase: the tracker's median track ms per frame (its /diagnostics ``track_ms``) and the web
node's CPU use (its process's user + system time over the phase); with the page: the frames the page
drew per second and the latency from the image's stamp to the page's receipt of its frame
(median, p95). The browser runs on this machine too (on a robot it runs on the operator's laptop),
so the second phase also carries its load.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from dasiamrpn_core.demo_sequence import make_sequence
from dasiamrpn_ros.testing import DomainLease, NodeProcess, Probe, console_script, headless_chromium

from .backends import cpu_model

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 60.0
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS   # utime, stime


def track_ms(probe: Probe, after: float) -> float:
    """The tracker's newest /diagnostics track_ms (its median over its last 100 frames) received after
    ``after`` (time.time())."""
    probe.wait_until(lambda: any(r.at > after for r in probe.snapshot("diagnostics")), WAIT_S)
    record = [r for r in probe.snapshot("diagnostics") if r.at > after][-1]
    values = {kv.key: kv.value for kv in record.msg.status[0].values}
    return float(values["track_ms"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dasiamrpn-bench-web", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=30.0, help="camera rate, Hz (default 30)")
    parser.add_argument("--fps", type=float, default=30.0, help="the web node's fps parameter (default 30)")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each phase (default 20)")
    parser.add_argument("--port", type=int, default=8089)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    seq = make_sequence("demo")
    result: dict = {"cpu": cpu_model(), "image": "640x480 bgr8", "rate_hz": args.rate, "fps": args.fps}
    with tempfile.TemporaryDirectory() as tmp, DomainLease() as lease:
        frames = Path(tmp) / "frames"
        frames.mkdir()
        for i, frame in enumerate(seq.frames):
            cv2.imwrite(str(frames / f"{i:04d}.png"), frame)
        tracker = NodeProcess.tracker(lease.domain_id, Path(tmp) / "tracker.log", {"mode": "dasiamrpn", "device": "cpu"},
                                      params_file=REPO / "config" / "tracker.yaml")
        probe = Probe(lease.domain_id)
        replay = NodeProcess(console_script("dasiamrpn-replay") + [str(frames), "--rate", str(args.rate), "--loop"],
                             lease.domain_id, Path(tmp) / "replay.log")
        web = NodeProcess(console_script("dasiamrpn-web") + ["--ros-args", "-p", f"port:={args.port}", "-p",
                                                             f"fps:={args.fps}"], lease.domain_id, Path(tmp) / "web.log")
        driver = None
        try:
            probe.wait_ready(tracker, WAIT_S)
            if not web.wait_for_output("page at http://", WAIT_S):
                raise RuntimeError(web.output())
            # follow the face: a box on the newest frame is close enough to start (the face moves slowly)
            if not probe.wait_until(lambda: probe.init_box(tuple(int(v) for v in seq.boxes[0])).success, WAIT_S):
                raise RuntimeError(tracker.output()[-2000:])
            phases = {}
            for phase in ("without_page", "with_page"):
                if phase == "with_page":
                    driver = headless_chromium()
                    driver.get(f"http://127.0.0.1:{args.port}/")
                    deadline = time.monotonic() + WAIT_S
                    while driver.execute_script("return window.dasiamrpn.frames") < 3 and time.monotonic() < deadline:
                        time.sleep(0.1)
                    driver.execute_script("window.dasiamrpn.latencies = []; window.dasiamrpn.frames = 0")
                start, wall, cpu0 = time.monotonic(), time.time(), cpu_seconds(web.proc.pid)
                time.sleep(args.seconds)
                elapsed, cpu1 = time.monotonic() - start, cpu_seconds(web.proc.pid)
                entry = {"tracker_track_ms": track_ms(probe, wall + args.seconds - 1.0),
                         "web_node_cpu_percent": round(100 * (cpu1 - cpu0) / elapsed, 1)}
                if driver is not None:
                    shown = driver.execute_script("return window.dasiamrpn.frames")
                    latencies = driver.execute_script("return window.dasiamrpn.latencies")
                    entry.update(page_fps=round(shown / elapsed, 1),
                                 latency_ms={"median": round(statistics.median(latencies) * 1e3, 1),
                                             "p95": round(float(np.percentile(latencies, 95)) * 1e3, 1),
                                             "frames": len(latencies)})
                phases[phase] = entry
                print(phase, json.dumps(entry), flush=True)
            result["phases"] = phases
        finally:
            if driver is not None:
                driver.quit()
            probe.close()
            for node in (web, replay, tracker):
                node.stop()
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
