"""Federation configs: models, the converter and the loader."""

from dfm.kernel.config.loader import load_config, load_config_text
from dfm.kernel.config.models import Federation
from dfm.kernel.config.sources import config_source

__all__ = ["Federation", "config_source", "load_config", "load_config_text"]
