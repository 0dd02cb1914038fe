"""``masknet keygen``, ``masknet sign`` and ``--trusted-key``, and the OpenSSF tool on our signatures."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from masknet_edge.cli.main import main
from tests.conftest import ROOT

pytest.importorskip(
    "cryptography", reason="signed bundles need the cryptography package (masknet-edge[edge])"
)

#: The OpenSSF model-signing tool, in a venv of its own (`make signing-interop`).
MODEL_SIGNING = ROOT / ".venv-modelsigning" / "bin" / "model_signing"


def _run(*args: object):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture
def signed(bundles, tmp_path) -> tuple[Path, Path, Path]:
    """A copy of the float bundle, a key pair, and the bundle signed with it."""
    bundle = tmp_path / "shop.mnb"
    shutil.copy(bundles["none"], bundle)
    res = _run("keygen", "--out", tmp_path / "release.pem")
    assert res.exit_code == 0, res.output
    res = _run("sign", bundle, "--key", tmp_path / "release.pem")
    assert res.exit_code == 0 and (tmp_path / "shop.mnb.sig").is_file(), res.output
    return bundle, tmp_path / "release.pem", tmp_path / "release.pem.pub"


def test_verify_and_rank_accept_a_bundle_signed_by_a_trusted_key(signed, shop_data):
    bundle, _, public = signed
    res = _run("verify", bundle, "--trusted-key", public, "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["signed_by"]
    res = _run(
        "rank", bundle, "--trusted-key", public, "--context", '{"user_id": "u1"}',
        "--candidates", shop_data / "items.csv", "--k", "3",
    )  # fmt: skip
    assert res.exit_code == 0 and len(res.output.splitlines()) == 3, res.output


def test_verify_refuses_an_untrusted_signer_and_an_unsigned_bundle_in_one_line(signed, bundles, tmp_path):
    bundle, _, _ = signed
    assert _run("keygen", "--out", tmp_path / "stranger.pem").exit_code == 0
    res = _run("verify", bundle, "--trusted-key", tmp_path / "stranger.pem.pub")
    assert res.exit_code != 0 and "does not trust" in res.output and len(res.output.splitlines()) == 1
    res = _run("verify", bundles["none"], "--trusted-key", tmp_path / "stranger.pem.pub")
    assert res.exit_code != 0 and "no signature" in res.output, res.output
    res = _run("verify", bundle, "--revoked-key", tmp_path / "stranger.pem.pub")
    assert res.exit_code == 2 and "--trusted-key" in res.output


def test_sign_refuses_to_overwrite_and_to_sign_what_is_not_a_bundle(signed, tmp_path):
    bundle, key, _ = signed
    before = (tmp_path / "shop.mnb.sig").read_bytes()
    res = _run("sign", bundle, "--key", key)
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert (tmp_path / "shop.mnb.sig").read_bytes() == before
    for out in (bundle, key):
        res = _run("sign", bundle, "--key", key, "--out", out, "--overwrite")
        assert res.exit_code != 0 and "would overwrite" in res.output, res.output
    (tmp_path / "notes.txt").write_text("not a bundle")
    res = _run("sign", tmp_path / "notes.txt", "--key", key)
    assert res.exit_code != 0 and "not a masknet-edge bundle" in res.output, res.output
    assert not (tmp_path / "notes.txt.sig").exists()
    res = _run("keygen", "--out", key)
    assert res.exit_code != 0 and "never overwritten" in res.output, res.output


def test_an_encrypted_key_reads_its_password_from_the_environment(signed, tmp_path, monkeypatch):
    bundle, _, _ = signed
    monkeypatch.setenv("RELEASE_KEY_PASSWORD", "s3cret")
    res = _run("keygen", "--out", tmp_path / "locked.pem", "--password-env", "RELEASE_KEY_PASSWORD")
    assert res.exit_code == 0, res.output
    assert b"ENCRYPTED" in (tmp_path / "locked.pem").read_bytes()
    res = _run("sign", bundle, "--key", tmp_path / "locked.pem", "--overwrite")
    assert res.exit_code != 0 and "Password was not given" in res.output, res.output
    res = _run("sign", bundle, "--key", tmp_path / "locked.pem", "--overwrite", "--password-env", "NOPE")
    assert res.exit_code != 0 and "NOPE" in res.output
    res = _run(
        "sign",
        bundle,
        "--key",
        tmp_path / "locked.pem",
        "--overwrite",
        "--password-env",
        "RELEASE_KEY_PASSWORD",
    )
    assert res.exit_code == 0, res.output
    assert _run("verify", bundle, "--trusted-key", tmp_path / "locked.pem.pub").exit_code == 0


def _model_signing() -> Path:
    if not MODEL_SIGNING.exists():
        pytest.skip(
            "no OpenSSF model_signing venv (run `make signing-interop`; needs model-signing from PyPI)"
        )
    return MODEL_SIGNING


def test_the_openssf_tool_verifies_our_signature(signed):
    bundle, _, public = signed
    tool = _model_signing()
    args = ["verify", "key", str(bundle), "--signature", f"{bundle}.sig", "--public_key", str(public)]
    out = subprocess.run([str(tool), *args], capture_output=True, text=True)
    assert out.returncode == 0 and "Verification succeeded" in out.stdout, out.stdout + out.stderr
    with bundle.open("ab") as fh:  # and it refuses the same bundle changed by one byte
        fh.write(b"\0")
    out = subprocess.run([str(tool), *args], capture_output=True, text=True)
    assert out.returncode != 0


def test_we_verify_the_openssf_tools_signature(signed):
    bundle, key, public = signed
    tool = _model_signing()
    (bundle.parent / "shop.mnb.sig").unlink()
    out = subprocess.run(
        [str(tool), "sign", "key", str(bundle), "--private_key", str(key), "--signature", f"{bundle}.sig"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    res = _run("verify", bundle, "--trusted-key", public)
    assert res.exit_code == 0 and "signature OK" in res.output, res.output
