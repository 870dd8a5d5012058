"""The vault: where secrets are read from, and how they are scrubbed from what leaves a site."""

from __future__ import annotations

import logging
import os

import pytest

from dfm.kernel.config.models import SecretsConfig
from dfm.kernel.errors import DfmError
from dfm.runner.vault import Vault


def test_secrets_file_inside_the_federation_directory(tmp_path):
    (tmp_path / "secrets.yaml").write_text("api-key: k-123456\n")
    vault = Vault("a", SecretsConfig(file="secrets.yaml"), tmp_path)
    assert vault.get("api-key") == "k-123456"


@pytest.mark.parametrize("where", ["../outside.yaml", "/etc/hostname"])
def test_secrets_file_outside_the_federation_directory_is_refused(tmp_path, where):
    fed = tmp_path / "fed"
    fed.mkdir()
    (tmp_path / "outside.yaml").write_text("api-key: stolen\n")
    vault = Vault("a", SecretsConfig(file=where), fed)
    with pytest.raises(DfmError, match="must be inside the federation directory"):
        vault.get("api-key")


def test_secrets_file_that_is_not_a_regular_file_is_refused(tmp_path):
    os.mkfifo(tmp_path / "fifo.yaml")
    vault = Vault("a", SecretsConfig(file="fifo.yaml"), tmp_path)
    with pytest.raises(DfmError, match="not a regular file"):  # and it does not hang
        vault.get("api-key")


def test_unparsable_secrets_file_is_not_echoed(tmp_path):
    (tmp_path / "secrets.json").write_text('{"api-key": "k-123456",')
    vault = Vault("a", SecretsConfig(file="secrets.json"), tmp_path)
    with pytest.raises(DfmError) as info:
        vault.get("api-key")
    assert "k-123456" not in str(info.value)


def test_scrub_covers_text_escapes_bytes_and_containers(monkeypatch):
    secret = "pa'ss\"wörd"
    monkeypatch.setenv("V_TOKEN", secret)
    vault = Vault("a", SecretsConfig(env_prefix="V_"), __import__("pathlib").Path("."))
    assert not vault.seen
    vault.get("token")
    assert vault.seen
    value = {
        "plain": f"x {secret} y",
        "repr": repr([secret]),
        "bytes": secret.encode(),
        "nested": ({secret: [secret]},),
    }
    scrubbed = vault.scrub_value(value)
    assert scrubbed == {"plain": "x *** y", "repr": "['***']", "bytes": b"***", "nested": ({"***": ["***"]},)}


def test_log_records_are_scrubbed_once_a_secret_is_known(monkeypatch, caplog):
    monkeypatch.setenv("W_TOKEN", "log-s3cret-value")
    Vault("a", SecretsConfig(env_prefix="W_"), __import__("pathlib").Path(".")).get("token")
    logger = logging.getLogger("some.adapter")
    with caplog.at_level(logging.INFO, logger="some.adapter"):
        logger.info("connecting with %s", "log-s3cret-value")
        try:
            raise RuntimeError("bad token log-s3cret-value")
        except RuntimeError:
            logger.exception("failed")
    assert "log-s3cret-value" not in caplog.text
    assert "connecting with ***" in caplog.text
