"""ROS 2 adapter of the DaSiamRPN tracker: the ``dasiamrpn_tracker`` node, a replay camera and tools.

The tracking algorithm lives in :mod:`dasiamrpn_core` (no ROS); this package only converts images,
handles parameters, services and topics, and runs the tracker on the newest frame.
"""
