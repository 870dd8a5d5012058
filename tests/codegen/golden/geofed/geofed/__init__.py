"""geofed: a DFM federation package."""
