"""Signed bundles: the OpenSSF Model Signing format, written and checked with ``cryptography`` alone.

A signature is a detached file beside the bundle (``BUNDLE.sig``), exactly what ``model_signing
sign key BUNDLE --signature BUNDLE.sig`` writes for a one-file model, so the OpenSSF tool verifies our
bundles (``model_signing verify key BUNDLE --signature BUNDLE.sig --public_key KEY.pub``) and we
verify its signatures. The file is a Sigstore bundle (v0.3 JSON) holding a DSSE envelope whose
payload is an in-toto statement:

- ``predicate.resources``: one entry, name ``"."``, the SHA-256 of the whole bundle file, so the
  signature covers every member, the manifest and the ZIP structure alike;
- ``subject``: the bundle's file name and the SHA-256 over the resources' digests (the format's
  root digest);
- the envelope's signature: ECDSA (P-256/SHA-256, P-384/SHA-384 or P-521/SHA-512, as the format
  allows) over DSSE's pre-authentication encoding of the payload;
- ``verificationMaterial.publicKey.hint``: the SHA-256 of the signer's public key (PEM,
  SubjectPublicKeyInfo), which picks the key among the trusted ones.

No network, no transparency log: the trust decision is the device's list of public keys
(:class:`TrustedKeys`), several at once for rotation, with revoked keys refused even when listed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from masknet_edge.edge_runtime.atomic import atomic_path
from masknet_edge.edge_runtime.bounded import InputTooLarge, read_bounded
from masknet_edge.edge_runtime.errors import ArgumentError, MissingDependencyError, SignatureError

__all__ = [
    "SIGNATURE_SUFFIX",
    "TrustedKeys",
    "generate_key",
    "key_id",
    "sign_bundle",
    "signature_path",
]

SIGNATURE_SUFFIX = ".sig"
#: A signature file is about 1.5 KB; anything far larger is not one.
MAX_SIGNATURE_BYTES = 1 << 16
MAX_KEY_BYTES = 1 << 16
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://model_signing/signature/v1.0"
#: The serialization ``model_signing`` records for a model of one file (its default ignore list).
SERIALIZATION = {
    "method": "files",
    "hash_type": "sha256",
    "allow_symlinks": False,
    "ignore_paths": [".gitignore", ".git", ".github", ".gitattributes"],
}
_CURVES = {"secp256r1": "SHA256", "secp384r1": "SHA384", "secp521r1": "SHA512"}


def _crypto() -> Any:
    """The ``cryptography`` modules this needs, or a clear error naming the package to install."""
    try:
        from cryptography import exceptions
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
    except ImportError:
        raise MissingDependencyError(
            "signed bundles need the 'cryptography' package: pip install cryptography (or masknet-edge[edge])"
        ) from None
    return exceptions, hashes, serialization, ec


def signature_path(bundle: str | os.PathLike[str]) -> Path:
    """Where a bundle's detached signature lives: ``BUNDLE.sig`` beside it."""
    return Path(f"{os.fspath(bundle)}{SIGNATURE_SUFFIX}")


def _pae(payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the envelope's signature signs."""
    head = f"DSSEv1 {len(PAYLOAD_TYPE)} {PAYLOAD_TYPE} {len(payload)}".encode()
    return head + b" " + payload


def _public_pem(public_key: Any) -> bytes:
    _, _, serialization, _ = _crypto()
    return public_key.public_bytes(
        encoding=serialization.Encoding.PEM, format=serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_id(public_key: Any) -> str:
    """A public key's id: the SHA-256 of its PEM text, as the format's ``publicKey.hint``."""
    return hashlib.sha256(_public_pem(public_key)).hexdigest()


def _hash_for(key: Any, where: str) -> Any:
    _, hashes, _, ec = _crypto()
    curve = getattr(getattr(key, "curve", None), "name", None)
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) or curve not in _CURVES:
        raise SignatureError(
            f"{where}: not an elliptic-curve key on P-256, P-384 or P-521 (the curves the OpenSSF "
            "model signing format allows); make one with 'masknet keygen'"
        )
    return getattr(hashes, _CURVES[curve])()


def _read_key_text(key: str | os.PathLike[str] | bytes, what: str) -> tuple[bytes, str]:
    """A key's PEM bytes and a name for messages: ``key`` is PEM bytes or a file's path."""
    if isinstance(key, bytes):
        return key, f"{what} (PEM bytes)"
    if not isinstance(key, (str, os.PathLike)):
        raise ArgumentError(f"expected a {what} as a file path or PEM bytes. Received: {type(key).__name__}")
    path = Path(key)
    try:
        return read_bounded(path, MAX_KEY_BYTES), str(path)
    except InputTooLarge:
        raise SignatureError(f"{path}: over {MAX_KEY_BYTES} bytes; not a PEM key") from None
    except OSError as exc:
        raise SignatureError(f"cannot read {what} {path}: {exc.strerror or exc}") from None


def _load_public(key: str | os.PathLike[str] | bytes) -> tuple[str, Any]:
    _, _, serialization, _ = _crypto()
    data, where = _read_key_text(key, "public key")
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        raise SignatureError(
            f"{where}: not a PEM public key (the '.pub' file 'masknet keygen' writes beside the key)"
        ) from None
    _hash_for(public, where)
    return key_id(public), public


@dataclass(frozen=True)
class TrustedKeys:
    """The public keys a device accepts bundles from, and the keys it refuses although listed.

    Build it with :meth:`load`. Several trusted keys at once let a fleet rotate keys: ship the new
    public key with the app, sign with it, then revoke the old one.
    """

    keys: dict[str, Any]
    revoked: frozenset[str]

    @classmethod
    def load(
        cls,
        trusted: Iterable[str | os.PathLike[str] | bytes],
        revoked: Iterable[str | os.PathLike[str] | bytes] = (),
    ) -> TrustedKeys:
        """Read trusted and revoked public keys (PEM files or PEM bytes).

        Args:
            trusted: keys whose signatures are accepted; at least one.
            revoked: keys whose signatures are refused, listed as trusted or not. Defaults to none.
        """
        if isinstance(trusted, (str, bytes, os.PathLike)) or isinstance(revoked, (str, bytes, os.PathLike)):
            raise ArgumentError("trusted and revoked keys are lists of keys: wrap a single key in a list")
        keys = dict(_load_public(k) for k in trusted)
        if not keys:
            raise ArgumentError("no trusted key given: a signature can only be checked against a key")
        return cls(keys=keys, revoked=frozenset(_load_public(k)[0] for k in revoked))

    def check(self, bundle: bytes, signature: bytes, where: str) -> str:
        """Check ``signature`` (a ``.sig`` file's bytes) over the bundle file's bytes; return the
        signer's key id or raise :class:`SignatureError` naming ``where`` and the reason."""
        exceptions, _, _, ec = _crypto()
        envelope, hint = _envelope(signature, where)
        if hint in self.revoked:
            raise SignatureError(f"{where}: signed by a revoked key ({hint[:16]}); the bundle is refused")
        public = self.keys.get(hint)
        if public is None:
            raise SignatureError(
                f"{where}: signed by a key this device does not trust ({hint[:16]}); "
                f"trusted: {', '.join(k[:16] for k in sorted(self.keys))}"
            )
        payload, sig = envelope
        try:
            public.verify(sig, _pae(payload), ec.ECDSA(_hash_for(public, where)))
        except exceptions.InvalidSignature:
            raise SignatureError(f"{where}: the signature does not match its statement (forged)") from None
        _check_statement(payload, hashlib.sha256(bundle).hexdigest(), where)
        return hint


def _envelope(signature: bytes, where: str) -> tuple[tuple[bytes, bytes], str]:
    """The (payload, signature) of a signature file and its key hint; checks the file's structure."""
    try:
        doc = json.loads(signature)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SignatureError(f"{where}: not a signature file (not JSON)") from None
    try:
        if doc["mediaType"] != BUNDLE_MEDIA_TYPE:
            raise SignatureError(
                f"{where}: media type {doc['mediaType']!r:.80}, expected {BUNDLE_MEDIA_TYPE}"
            )
        hint = doc["verificationMaterial"]["publicKey"]["hint"]
        env = doc["dsseEnvelope"]
        if env["payloadType"] != PAYLOAD_TYPE:
            raise SignatureError(f"{where}: payload type {env['payloadType']!r:.80}, expected {PAYLOAD_TYPE}")
        (entry,) = env["signatures"]
        payload = base64.b64decode(env["payload"], validate=True)
        sig = base64.b64decode(entry["sig"], validate=True)
    except SignatureError:
        raise
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise SignatureError(
            f"{where}: not a key-based OpenSSF model signature (one DSSE signature and a key hint expected)"
        ) from None
    if not isinstance(hint, str):
        raise SignatureError(f"{where}: the key hint is not a text")
    return (payload, sig), hint


def _check_statement(payload: bytes, bundle_sha256: str, where: str) -> None:
    """The signed statement must name exactly this bundle file's bytes."""
    try:
        statement = json.loads(payload)
        ok_type = statement["_type"] == STATEMENT_TYPE and statement["predicateType"] == PREDICATE_TYPE
        (resource,) = statement["predicate"]["resources"]
        (subject,) = statement["subject"]
        digest = resource["digest"]
        root = hashlib.sha256(bytes.fromhex(digest)).hexdigest()
        named = resource["name"] == "." and resource["algorithm"] == "sha256"
        rooted = subject["digest"]["sha256"] == root
    except (KeyError, TypeError, ValueError, UnicodeDecodeError):
        raise SignatureError(f"{where}: the signed statement is not a one-file model signature") from None
    if not (ok_type and named and rooted):
        raise SignatureError(f"{where}: the signed statement is not a one-file model signature")
    if digest != bundle_sha256:
        raise SignatureError(
            f"{where}: the signature is for other bytes (another bundle, or this one modified after signing)"
        )


def read_signature(path: Path) -> bytes:
    """A signature file's bytes, bounded; :class:`SignatureError` naming it when absent or unreadable."""
    try:
        return read_bounded(path, MAX_SIGNATURE_BYTES)
    except FileNotFoundError:
        raise SignatureError(
            f"{path}: no signature; this device accepts only signed bundles ('masknet sign BUNDLE --key KEY')"
        ) from None
    except InputTooLarge:
        raise SignatureError(f"{path}: over {MAX_SIGNATURE_BYTES} bytes; not a signature file") from None
    except OSError as exc:
        raise SignatureError(f"cannot read signature {path}: {exc.strerror or exc}") from None


def _load_private(key: str | os.PathLike[str], password: bytes | None) -> Any:
    _, _, serialization, _ = _crypto()
    data, where = _read_key_text(key, "private key")
    try:
        private = serialization.load_pem_private_key(data, password)
    except TypeError as exc:  # a password given for a plain key, or none for an encrypted one
        raise SignatureError(f"{where}: {exc}") from None
    except ValueError:
        raise SignatureError(f"{where}: not a PEM private key, or the password is wrong") from None
    _hash_for(private, where)
    return private


def sign_bundle(
    bundle: str | os.PathLike[str],
    key: str | os.PathLike[str],
    out: str | os.PathLike[str] | None = None,
    password: bytes | None = None,
) -> Path:
    """Sign a bundle file with an elliptic-curve private key; write the detached signature.

    Args:
        bundle: the bundle file; read once, so the signature covers exactly the bytes read.
        key: the PEM private key (``masknet keygen``).
        out: where to write the signature. Defaults to ``BUNDLE.sig``.
        password: the key's password when it is encrypted. Defaults to none.

    Returns:
        The signature's path (written atomically).
    """
    exceptions, _, _, ec = _crypto()
    private = _load_private(key, password)
    bundle = Path(bundle)
    data = bundle.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": bundle.name, "digest": {"sha256": hashlib.sha256(bytes.fromhex(digest)).hexdigest()}}
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "resources": [{"name": ".", "algorithm": "sha256", "digest": digest}],
            "serialization": SERIALIZATION,
        },
    }
    payload = json.dumps(statement, indent=2).encode()
    sig = private.sign(_pae(payload), ec.ECDSA(_hash_for(private, str(key))))
    document = {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key_id(private.public_key())}, "tlogEntries": []},
        "dsseEnvelope": {
            "payload": base64.b64encode(payload).decode(),
            "payloadType": PAYLOAD_TYPE,
            "signatures": [{"sig": base64.b64encode(sig).decode(), "keyid": ""}],
        },
    }
    target = Path(out) if out is not None else signature_path(bundle)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(document, indent=2) + "\n")
    return target


def generate_key(out: str | os.PathLike[str], password: bytes | None = None) -> tuple[Path, Path]:
    """Make a P-256 key pair: the private key at ``out`` (mode 0600) and its public key at
    ``out.pub``, the file devices trust. Neither may exist (a key is never overwritten).

    Args:
        out: the private key's path.
        password: encrypt the private key with it. Defaults to none (an unencrypted PEM).
    """
    _, _, serialization, ec = _crypto()
    out = Path(out)
    public_out = Path(f"{out}.pub")
    for path in (out, public_out):
        if path.exists() or path.is_symlink():
            raise FileExistsError(17, "exists; a key is never overwritten (choose another name)", str(path))
    private = ec.generate_private_key(ec.SECP256R1())
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    with atomic_path(out, replace=False, mode=0o600) as tmp:
        tmp.write_bytes(pem)
    with atomic_path(public_out, replace=False) as tmp:
        tmp.write_bytes(_public_pem(private.public_key()))
    return out, public_out
