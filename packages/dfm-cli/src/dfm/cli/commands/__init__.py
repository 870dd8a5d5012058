"""dfm-cli's own commands, one module per group (imported only when invoked)."""
