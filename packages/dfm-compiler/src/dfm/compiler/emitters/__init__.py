"""Emitters rendering a placed pipeline: ``text``, ``dot``, and ``svg``/``png`` through Graphviz.

Each is ``emit(prepared, federation=None) -> str | bytes``. With the federation the
output also shows every node's candidate sites and the estimated bytes of each edge.
"""
