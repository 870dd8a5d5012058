"""DFM on NVIDIA FLARE: the ``flare`` transport, provisioning and a local POC deployment.

Importing this package does not import nvflare; the submodules that need it
(:mod:`dfm.flare.builder`, :mod:`dfm.flare.controller`, :mod:`dfm.flare.executor`, :mod:`dfm.flare.courier`,
:mod:`dfm.flare.identity`, :mod:`dfm.flare.service`, :mod:`dfm.flare.admin`) are imported only by FLARE
itself or when a session starts.
"""
