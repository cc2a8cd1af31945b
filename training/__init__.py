"""Offline training of SiamRPN / DaSiamRPN networks (``dasiamrpn-train``, ``dasiamrpn-prepare``)."""
