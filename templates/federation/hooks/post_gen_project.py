"""Tidy the new federation (runs in the generated project's folder)."""

import shutil
from pathlib import Path

# A template installed by pip (inside the dfm-cli wheel) has byte-code caches; a new project has none.
for cache in sorted(Path.cwd().rglob("__pycache__")):
    shutil.rmtree(cache)
