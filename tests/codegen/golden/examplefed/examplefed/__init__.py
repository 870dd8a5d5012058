"""examplefed: a DFM federation package."""
