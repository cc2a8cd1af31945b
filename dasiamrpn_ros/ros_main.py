"""Running a node until Ctrl-C / SIGTERM and shutting down in the one order that exits cleanly.

Order: executor shutdown -> join the spin thread -> the node's own threads -> destroy node ->
``rclpy.shutdown()`` (the other order aborted with exit code 134 on the PyPI Jazzy wheels).
rclpy's own signal handlers are off; SIGINT and SIGTERM only set an event that the main thread
waits on, so both exit with code 0.
"""
from __future__ import annotations

import signal
import threading
from typing import Callable, Optional, Sequence

import rclpy
from rclpy.executors import Executor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

POLL_S = 0.2


def init_without_signal_handlers(argv: Optional[Sequence[str]]) -> None:
    rclpy.init(args=list(argv) if argv is not None else None,
               signal_handler_options=SignalHandlerOptions.NO)


def install_stop_signals() -> threading.Event:
    stop = threading.Event()

    def on_signal(signum, _frame) -> None:
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    return stop


def spin_until_stopped(node: Node, executor: Executor, stop: threading.Event,
                       close: Optional[Callable[[], None]] = None) -> int:
    """Spin ``node`` on ``executor`` in a thread until ``stop`` is set; shut down cleanly.

    ``close`` stops the node's own threads (after the executor, before ``destroy_node``).
    Returns 0, or 1 if the spin thread died with an exception.
    """
    failure: list[BaseException] = []

    def spin() -> None:
        try:
            executor.spin()
        except BaseException as exc:  # reported below; the main thread decides the exit code
            failure.append(exc)

    executor.add_node(node)
    thread = threading.Thread(target=spin, name="executor", daemon=True)
    thread.start()
    while not stop.wait(POLL_S):
        if not thread.is_alive():
            break
    executor.shutdown()
    thread.join()
    if close is not None:
        close()
    if failure:
        node.get_logger().fatal(f"executor stopped with {type(failure[0]).__name__}: {failure[0]}")
    node.destroy_node()
    rclpy.try_shutdown()
    return 1 if failure else 0
