"""The federation-local adapters of {{ cookiecutter.federation_name }} (found next to its config)."""
