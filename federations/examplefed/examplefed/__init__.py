"""Local adapters of the greeting federation."""
