"""Federation configs: models, the converter and the loader."""

from dfm.kernel.config.loader import load_config, load_config_text
from dfm.kernel.config.models import Federation

__all__ = ["Federation", "load_config", "load_config_text"]
