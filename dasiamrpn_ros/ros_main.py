"""Running a node until Ctrl-C / SIGTERM and shutting down in the one order that exits cleanly.

Order: executor shutdown -> join the spin thread -> the node's own threads -> destroy node ->
``rclpy.shutdown()`` (the other order aborted with exit code 134 on the PyPI Jazzy wheels).
rclpy's own signal handlers are off; SIGINT and SIGTERM only set an event that the main thread
waits on, so both exit with code 0.

Shutdown is bounded: every join has a timeout. If a callback or the node's own thread is still busy
after it (a model reload from a slow disk, a long tracking step), the process logs what it left
behind and ends with ``os._exit``: Python would otherwise wait for the executor's worker threads at
exit, and destroying the node under a running callback is not safe.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence

import rclpy
from rclpy.executors import Executor, MultiThreadedExecutor
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions
from rclpy.utilities import remove_ros_args

POLL_S = 0.2
SHUTDOWN_TIMEOUT_S = 2.0   # per step: executor, spin thread, the node's threads


def init_without_signal_handlers(argv: Sequence[str] | None) -> None:
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
                       close: Callable[[float], bool] | None = None,
                       busy: Callable[[], list[str]] | None = None,
                       timeout: float = SHUTDOWN_TIMEOUT_S) -> int:
    """Spin ``node`` on ``executor`` in a thread until ``stop`` is set; shut down within a bound.

    ``close(timeout)`` stops the node's own threads (after the executor, before ``destroy_node``) and
    returns False if they did not finish; ``busy()`` lists what is still running. Returns 0, or 1 if
    the spin thread died with an exception; does not return (``os._exit``) if something is still busy.
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
    executor.shutdown(timeout_sec=timeout)
    thread.join(timeout)
    closed = close(timeout) if close is not None else True
    left = (busy() if busy is not None else []) + ["the executor"] * thread.is_alive()
    if not closed and not left:
        left.append("the node's threads")
    if failure and stop.is_set() and isinstance(failure[0], RuntimeError):
        # rclpy 7.1.11's executor can raise "cannot schedule new futures after shutdown" when it is
        # shut down while spinning (ros2/rclpy#1724): a normal stop, not a failure
        node.get_logger().info(f"executor stopped with {failure[0]} during shutdown")
        failure.clear()
    code = 1 if failure else 0
    if failure:
        node.get_logger().fatal(f"executor stopped with {type(failure[0]).__name__}: {failure[0]}")
    if left:
        node.get_logger().warning(f"shutdown: {', '.join(left)} still busy after {timeout:.0f} s; "
                                  f"exiting without waiting")
        rclpy.try_shutdown()
        exit_now(code)
    node.destroy_node()
    rclpy.try_shutdown()
    return code


def exit_now(code: int) -> None:
    """End the process at once (flushing our output), not waiting for threads that are still busy."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def run_node(argv: Sequence[str] | None, make_node: Callable[[threading.Event], Node], prog: str, description: str,
             startup_error: type[Exception], node_name: str, threads: int, epilog: str) -> int:
    """A node's console script: ``--help`` (``description``, ``epilog``) answered and exit 0 before rclpy
    starts (anything else outside ``--ros-args`` is left to rclpy); rclpy without its signal
    handlers; ``make_node(stop)``, exit 1 with the reason if it raises ``startup_error``; spin on a
    ``threads``-thread executor until SIGINT/SIGTERM, then the bounded shutdown above (the node's
    ``close`` and ``busy``)."""
    argv = list(sys.argv if argv is None else argv)
    argparse.ArgumentParser(prog=prog, description=description, epilog=epilog).parse_known_args(
        remove_ros_args(list(argv))[1:])
    init_without_signal_handlers(argv)
    stop = install_stop_signals()
    try:
        node = make_node(stop)
    except startup_error as exc:
        rclpy.logging.get_logger(node_name).fatal(str(exc))
        rclpy.try_shutdown()
        return 1
    return spin_until_stopped(node, MultiThreadedExecutor(num_threads=threads), stop,
                              close=node.close, busy=node.busy)
