"""Drop what the chosen options exclude (runs in the generated project's folder)."""

import shutil
from pathlib import Path

PACKAGE = "dfm_adapter_{{ cookiecutter.underscored }}"

if "{{ cookiecutter.include_async_example }}" != "y":
    for path in (Path("src", PACKAGE, "async_adapters.py"), Path("tests", "test_async_adapters.py")):
        path.unlink()

# A template installed by pip (inside the dfm-cli wheel) has byte-code caches; a new project has none.
for cache in sorted(Path.cwd().rglob("__pycache__")):
    shutil.rmtree(cache)
