"""Signed bundles: what a forger can do to a bundle file, and that the device refuses each of it."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import stat
from pathlib import Path

import pytest

from masknet_edge.edge_runtime.bundle import read_bundle
from masknet_edge.edge_runtime.errors import ArgumentError, BundleError, SignatureError
from masknet_edge.edge_runtime.ranker import Ranker
from masknet_edge.edge_runtime.signing import TrustedKeys, generate_key, key_id, sign_bundle, signature_path
from tests.bundle_edits import rewrite_members

pytest.importorskip(
    "cryptography", reason="signed bundles need the cryptography package (masknet-edge[edge])"
)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("keys")
    return {name: generate_key(folder / f"{name}.pem") for name in ("release", "other", "old")}


@pytest.fixture
def signed(bundles, keys, tmp_path) -> Path:
    path = tmp_path / "shop.mnb"
    shutil.copy(bundles["none"], path)
    sign_bundle(path, keys["release"][0])
    return path


def _change_a_golden_score(members: dict[str, bytes]) -> None:
    golden = json.loads(members["golden.json"])
    golden["scores"][0] = min(1.0, golden["scores"][0] + 0.25)
    members["golden.json"] = json.dumps(golden).encode()


def test_a_signed_bundle_loads_and_names_its_signer(signed, keys):
    ranker = Ranker.load(signed, trusted_keys=[keys["release"][1]])
    assert ranker.bundle.signed_by == next(iter(TrustedKeys.load([keys["release"][1]]).keys))
    assert ranker.verify().ok
    assert Ranker.load(signed).bundle.signed_by is None  # without trusted keys nothing is checked


def test_a_forged_golden_score_with_recomputed_hashes_is_refused(signed, keys):
    rewrite_members(signed, _change_a_golden_score)
    read_bundle(signed)  # the forgery passes every hash: only the signature can tell
    with pytest.raises(SignatureError, match="signature is for other bytes"):
        Ranker.load(signed, trusted_keys=[keys["release"][1]])


def test_a_signature_by_an_untrusted_key_is_refused(signed, keys, tmp_path):
    sign_bundle(signed, keys["other"][0], out=signature_path(signed))
    with pytest.raises(SignatureError, match="does not trust"):
        Ranker.load(signed, trusted_keys=[keys["release"][1]])


def test_the_signature_of_another_bundle_is_refused(signed, bundles, keys, tmp_path):
    other = tmp_path / "int8.mnb"
    shutil.copy(bundles["int8"], other)
    sign_bundle(other, keys["release"][0])
    shutil.copy(signature_path(other), signature_path(signed))
    with pytest.raises(SignatureError, match="for other bytes"):
        read_bundle(signed, TrustedKeys.load([keys["release"][1]]))


def test_a_statement_edited_to_match_a_forgery_fails_the_signature(signed, keys):
    """The forger points the signed statement at the forged bytes: the ECDSA signature breaks."""
    rewrite_members(signed, _change_a_golden_score)
    sig_path = signature_path(signed)
    doc = json.loads(sig_path.read_text())
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    digest = hashlib.sha256(signed.read_bytes()).hexdigest()
    statement["predicate"]["resources"][0]["digest"] = digest
    statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(bytes.fromhex(digest)).hexdigest()
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig_path.write_text(json.dumps(doc))
    with pytest.raises(SignatureError, match="does not match its statement"):
        read_bundle(signed, TrustedKeys.load([keys["release"][1]]))


def test_a_revoked_key_is_refused_even_when_trusted_and_rotation_accepts_the_new_one(signed, keys):
    release, old = keys["release"][1], keys["old"][1]
    with pytest.raises(SignatureError, match="revoked key"):
        Ranker.load(signed, trusted_keys=[release, old], revoked_keys=[release])
    assert Ranker.load(signed, trusted_keys=[old, release], revoked_keys=[old]).bundle.signed_by


def test_an_unsigned_bundle_is_refused_when_keys_are_trusted(bundles, keys, tmp_path):
    path = tmp_path / "unsigned.mnb"
    shutil.copy(bundles["none"], path)
    with pytest.raises(SignatureError, match="no signature"):
        Ranker.load(path, trusted_keys=[keys["release"][1]])


def test_a_signed_bundle_whose_golden_records_fail_is_refused(signed, keys):
    """Signed by the trusted key, but its golden scores do not hold on this device: never serves."""
    rewrite_members(signed, _change_a_golden_score)
    sign_bundle(signed, keys["release"][0])
    with pytest.raises(BundleError, match="golden records fail on this device"):
        Ranker.load(signed, trusted_keys=[keys["release"][1]])


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a key-based OpenSSF model signature"),
        (b'{"mediaType": "application/other"}', "media type"),
    ],
)
def test_a_damaged_signature_file_gets_one_clear_error(signed, keys, content, message):
    signature_path(signed).write_bytes(content)
    with pytest.raises(SignatureError, match=message):
        read_bundle(signed, TrustedKeys.load([keys["release"][1]]))


def test_a_signature_that_is_a_device_is_refused_within_its_limit(signed, keys):
    sig = signature_path(signed)
    sig.unlink()
    sig.symlink_to("/dev/zero")
    with pytest.raises(SignatureError, match="not a signature file"):
        read_bundle(signed, TrustedKeys.load([keys["release"][1]]))


def test_keys_are_checked_when_read(tmp_path, keys):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_pub = tmp_path / "rsa.pub"
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa_pub.write_bytes(
        rsa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    with pytest.raises(SignatureError, match="P-256, P-384 or P-521"):
        TrustedKeys.load([rsa_pub])
    with pytest.raises(SignatureError, match="not a PEM public key"):
        TrustedKeys.load([keys["release"][0]])  # the private key where the public one belongs
    with pytest.raises(SignatureError, match="cannot read public key"):
        TrustedKeys.load([tmp_path / "absent.pub"])
    with pytest.raises(ArgumentError, match="wrap a single key in a list"):
        TrustedKeys.load(keys["release"][1])
    with pytest.raises(ArgumentError, match="no trusted key"):
        TrustedKeys.load([])


def test_a_new_private_key_is_owner_only_and_never_overwritten(tmp_path):
    private, public = generate_key(tmp_path / "k.pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert public.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    before = private.read_bytes()
    with pytest.raises(FileExistsError):
        generate_key(tmp_path / "k.pem")
    assert private.read_bytes() == before


def test_an_encrypted_key_signs_with_its_password_only(signed, tmp_path):
    private, public = generate_key(tmp_path / "locked.pem", password=b"s3cret")
    with pytest.raises(SignatureError, match="(?i)password was not given"):
        sign_bundle(signed, private)
    with pytest.raises(SignatureError, match="password is wrong"):
        sign_bundle(signed, private, password=b"wrong")
    sign_bundle(signed, private, password=b"s3cret")
    assert read_bundle(signed, TrustedKeys.load([public])).signed_by


def test_the_signature_follows_the_openssf_one_file_layout(signed, keys):
    """The fields ``model_signing verify`` reads (its own check runs in test_signing_interop)."""
    doc = json.loads(signature_path(signed).read_text())
    assert doc["mediaType"] == "application/vnd.dev.sigstore.bundle.v0.3+json"
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(keys["release"][1].read_bytes())
    assert doc["verificationMaterial"]["publicKey"]["hint"] == key_id(public)
    statement = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    digest = hashlib.sha256(signed.read_bytes()).hexdigest()
    assert statement["predicate"]["resources"] == [{"name": ".", "algorithm": "sha256", "digest": digest}]
    assert statement["subject"][0] == {
        "name": "shop.mnb",
        "digest": {"sha256": hashlib.sha256(bytes.fromhex(digest)).hexdigest()},
    }
