"""The public hook implementation marker."""

import pluggy

hookimpl = pluggy.HookimplMarker("dfm")
"""Mark a function as a DFM hook implementation: ``@dfm.kernel.hookimpl``."""
