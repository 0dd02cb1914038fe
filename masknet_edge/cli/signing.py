"""``masknet keygen`` and ``masknet sign``: keys and detached OpenSSF model signatures for bundles."""

from __future__ import annotations

import os
from pathlib import Path

import click

from masknet_edge.cli.tools import CliError, emit_json, guarded, json_option


def _password(env: str | None) -> bytes | None:
    """The key password from the environment variable ``env`` (never from the command line, where
    other users of the machine could read it in the process list)."""
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise CliError(f"--password-env {env}: that environment variable is not set or empty")
    return value.encode()


_PASSWORD_ENV = click.option(
    "--password-env", metavar="NAME", help="Environment variable holding the private key's password."
)


@click.command()
@click.option(
    "--out", type=click.Path(path_type=Path), required=True, help="Private key to write (and OUT.pub)."
)
@_PASSWORD_ENV
@json_option
@guarded
def keygen(out: Path, password_env: str | None, as_json: bool) -> None:
    """Make a signing key pair: the private key (mode 0600) and the public key devices trust.

    \b
    Example:
      masknet keygen --out release.pem            # writes release.pem and release.pem.pub
    """
    from masknet_edge.edge_runtime.signing import TrustedKeys, generate_key

    private, public = generate_key(out, _password(password_env))
    kid = next(iter(TrustedKeys.load([public]).keys))
    if as_json:
        emit_json({"private_key": str(private), "public_key": str(public), "key_id": kid})
        return
    click.echo(f"wrote {private} (keep it secret) and {public} (ship it to devices); key id {kid[:16]}")


@click.command()
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option("--key", type=click.Path(path_type=Path), required=True, help="Private key (masknet keygen).")
@click.option("--out", type=click.Path(path_type=Path), help="Signature to write. Default: BUNDLE.sig.")
@_PASSWORD_ENV
@click.option("--overwrite", is_flag=True, help="Replace an existing signature.")
@json_option
@guarded
def sign(
    bundle: Path, key: Path, out: Path | None, password_env: str | None, overwrite: bool, as_json: bool
) -> None:
    """Sign a bundle: a detached signature in the OpenSSF Model Signing format (BUNDLE.sig).

    Devices check it with ``Ranker.load(path, trusted_keys=[...])`` or ``masknet verify
    --trusted-key``; the OpenSSF tool with ``model_signing verify key BUNDLE --signature BUNDLE.sig
    --public_key KEY.pub``.

    \b
    Example:
      masknet sign shop.mnb --key release.pem
    """
    from masknet_edge.edge_runtime.bundle import read_bundle
    from masknet_edge.edge_runtime.signing import sign_bundle, signature_path

    target = out if out is not None else signature_path(bundle)
    if target.resolve() in {bundle.resolve(), key.resolve()}:
        raise CliError(f"--out {target} would overwrite the bundle or the key it signs with")
    if (target.exists() or target.is_symlink()) and not overwrite:
        raise CliError(f"{target} exists; use --overwrite to replace it")
    read_bundle(bundle)  # sign only what a device would load
    written = sign_bundle(bundle, key, target, _password(password_env))
    if as_json:
        emit_json({"bundle": str(bundle), "signature": str(written)})
        return
    click.echo(f"wrote {written}")
