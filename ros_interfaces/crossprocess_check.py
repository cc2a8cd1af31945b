#!/usr/bin/env python3
"""Cross-process check of the vision_msgs built by ros_interfaces/build.py.

    .venv/bin/python ros_interfaces/crossprocess_check.py [--domain 97]

Starts a subscriber process and a publisher process (rclpy, rmw_fastrtps_cpp,
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST) on one topic; the publisher sends a
vision_msgs/Detection2DArray with one detection, the subscriber checks every
value it receives and reports the topic's type hash as seen over DDS. Exit
code 0 when the message arrived intact and the hash is the expected upstream
one. Children get a copy of os.environ (the PyPI ROS wheels re-execute Python
once at start-up to set LD_LIBRARY_PATH).
"""

import argparse
import json
import os
import subprocess
import sys
import time

TOPIC = '/ros_interfaces_check/detections'
# RIHS01 hash of vision_msgs/msg/Detection2DArray (vision_msgs 4.1.1 definitions)
EXPECTED_HASH = 'RIHS01_214274120007f4a683866481336b70310268cfa107aebe9d594a6acf75bda968'


def make_msg():
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    msg = Detection2DArray()
    msg.header.frame_id = 'camera'
    det = Detection2D()
    det.bbox.center.position.x = 10.5
    det.bbox.center.position.y = 20.5
    det.bbox.size_x = 30.0
    det.bbox.size_y = 40.0
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id = 'target'
    hyp.hypothesis.score = 0.9
    det.results.append(hyp)
    det.id = '7'
    msg.detections.append(det)
    return msg


def publisher(seconds):
    import rclpy
    from rclpy.signals import SignalHandlerOptions
    from vision_msgs.msg import Detection2DArray
    # no rclpy signal handlers: the parent's SIGTERM simply ends this process
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = rclpy.create_node('ros_interfaces_check_pub')
    pub = node.create_publisher(Detection2DArray, TOPIC, 10)
    msg = make_msg()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pub.publish(msg)
        rclpy.spin_once(node, timeout_sec=0.2)
    node.destroy_node()
    rclpy.shutdown()


def subscriber(seconds):
    import rclpy
    from vision_msgs.msg import Detection2DArray
    rclpy.init()
    node = rclpy.create_node('ros_interfaces_check_sub')
    got = []
    node.create_subscription(Detection2DArray, TOPIC, got.append, 10)
    end = time.monotonic() + seconds
    while not got and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.2)
    result = {'received': bool(got)}
    if got:
        m = got[0]
        d = m.detections[0]
        h = d.results[0].hypothesis
        result.update(
            n_detections=len(m.detections), frame_id=m.header.frame_id,
            center=[d.bbox.center.position.x, d.bbox.center.position.y],
            size=[d.bbox.size_x, d.bbox.size_y], class_id=h.class_id,
            score=h.score, id=d.id)
        infos = node.get_publishers_info_by_topic(TOPIC)
        result['publisher_types'] = sorted({i.topic_type for i in infos})
        result['type_hashes'] = sorted({str(i.topic_type_hash) for i in infos})
    print(json.dumps(result), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--role', choices=['pub', 'sub'])
    ap.add_argument('--domain', default=os.environ.get('ROS_DOMAIN_ID', '97'))
    ap.add_argument('--timeout', type=float, default=30.0)
    args = ap.parse_args()
    if args.role == 'pub':
        return publisher(args.timeout)
    if args.role == 'sub':
        return subscriber(args.timeout)

    env = dict(os.environ)
    env['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    env['ROS_DOMAIN_ID'] = str(args.domain)
    me = os.path.abspath(__file__)
    t0 = time.monotonic()
    sub = subprocess.Popen([sys.executable, me, '--role', 'sub', '--timeout', str(args.timeout)],
                           env=env, stdout=subprocess.PIPE, text=True)
    pub = subprocess.Popen([sys.executable, me, '--role', 'pub', '--timeout', str(args.timeout)],
                           env=env)
    try:
        out, _ = sub.communicate(timeout=args.timeout + 15)
    finally:
        for proc in (pub, sub):
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    line = (out or '').strip().splitlines()[-1:] or ['{}']
    res = json.loads(line[0])
    expected = {'received': True, 'n_detections': 1, 'center': [10.5, 20.5],
                'size': [30.0, 40.0], 'class_id': 'target', 'score': 0.9, 'id': '7'}
    ok = all(res.get(k) == v for k, v in expected.items())
    hash_ok = res.get('type_hashes') == [EXPECTED_HASH]
    print(f'domain {args.domain}, {time.monotonic() - t0:.1f} s: received={res}')
    print('values intact: ' + ('yes' if ok else 'NO'))
    print('type hash over DDS matches upstream vision_msgs 4.1.1: '
          + ('yes' if hash_ok else 'NO'))
    return 0 if ok and hash_ok else 1


if __name__ == '__main__':
    sys.exit(main())
