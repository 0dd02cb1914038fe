"""FarmHash ``Fingerprint64`` in pure Python: the feature hash where no compiled binding installs.

``farmhash::Fingerprint64`` is ``farmhashna::Hash64`` (Geoff Pike, Google, MIT licence), a fixed
function of the bytes on every platform. The ``pyfarmhash`` binding ships wheels for Linux x86-64
only; on arm64 and 32-bit ARM boxes, macOS and Windows it needs a C compiler and Python headers,
which device images rarely have. This module computes the same 64-bit value with Python integers
(masked to 64 bits after every multiplication and addition), so a device without the binding
encodes exactly as training did; the tests compare it with the binding over every length class
and the stored hash vectors. It is slower (a few microseconds per text), which the encoder's caches
of fingerprints per value hide after a value's first request.
"""

from __future__ import annotations

__all__ = ["fingerprint64"]

_MASK = (1 << 64) - 1
K0 = 0xC3A5C85C97CB3127
K1 = 0xB492B66FBE98F273
K2 = 0x9AE16A3B2F90404F


def _u64(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 8], "little")


def _u32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "little")


def _rotate(v: int, shift: int) -> int:
    """Rotate a 64-bit value right by ``shift`` (0 < shift < 64)."""
    return ((v >> shift) | (v << (64 - shift))) & _MASK


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def _hash16(u: int, v: int, mul: int) -> int:
    """Murmur-inspired mix of two 64-bit values."""
    a = ((u ^ v) * mul) & _MASK
    a ^= a >> 47
    b = ((v ^ a) * mul) & _MASK
    b ^= b >> 47
    return (b * mul) & _MASK


def _len0to16(s: bytes) -> int:
    n = len(s)
    if n >= 8:
        mul = (K2 + n * 2) & _MASK
        a = (_u64(s, 0) + K2) & _MASK
        b = _u64(s, n - 8)
        c = (_rotate(b, 37) * mul + a) & _MASK
        d = ((_rotate(a, 25) + b) * mul) & _MASK
        return _hash16(c, d, mul)
    if n >= 4:
        mul = (K2 + n * 2) & _MASK
        return _hash16((n + (_u32(s, 0) << 3)) & _MASK, _u32(s, n - 4), mul)
    if n > 0:
        y = s[0] + (s[n >> 1] << 8)
        z = n + (s[n - 1] << 2)
        return (_shift_mix(((y * K2) ^ (z * K0)) & _MASK) * K2) & _MASK
    return K2


def _len17to32(s: bytes) -> int:
    n = len(s)
    mul = (K2 + n * 2) & _MASK
    a = (_u64(s, 0) * K1) & _MASK
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * mul) & _MASK
    d = (_u64(s, n - 16) * K2) & _MASK
    return _hash16(
        (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK,
        (a + _rotate((b + K2) & _MASK, 18) + c) & _MASK,
        mul,
    )


def _len33to64(s: bytes) -> int:
    n = len(s)
    mul = (K2 + n * 2) & _MASK
    a = (_u64(s, 0) * K2) & _MASK
    b = _u64(s, 8)
    c = (_u64(s, n - 8) * mul) & _MASK
    d = (_u64(s, n - 16) * K2) & _MASK
    y = (_rotate((a + b) & _MASK, 43) + _rotate(c, 30) + d) & _MASK
    z = _hash16(y, (a + _rotate((b + K2) & _MASK, 18) + c) & _MASK, mul)
    e = (_u64(s, 16) * mul) & _MASK
    f = _u64(s, 24)
    g = ((y + _u64(s, n - 32)) * mul) & _MASK
    h = ((z + _u64(s, n - 24)) * mul) & _MASK
    return _hash16(
        (_rotate((e + f) & _MASK, 43) + _rotate(g, 30) + h) & _MASK,
        (e + _rotate((f + a) & _MASK, 18) + g) & _MASK,
        mul,
    )


def _weak32(s: bytes, at: int, a: int, b: int) -> tuple[int, int]:
    """A 16-byte hash of the 32 bytes at ``at`` and two seeds."""
    w, x, y, z = _u64(s, at), _u64(s, at + 8), _u64(s, at + 16), _u64(s, at + 24)
    a = (a + w) & _MASK
    b = _rotate((b + a + z) & _MASK, 21)
    c = a
    a = (a + x + y) & _MASK
    b = (b + _rotate(a, 44)) & _MASK
    return (a + z) & _MASK, (b + c) & _MASK


def _long(s: bytes) -> int:
    """Over 64 bytes: 64-byte blocks through a 56-byte state, then the last 64 bytes."""
    n, seed = len(s), 81
    x = (seed * K2 + _u64(s, 0)) & _MASK
    y = (seed * K1 + 113) & _MASK
    z = (_shift_mix((y * K2 + 113) & _MASK) * K2) & _MASK
    v0 = v1 = w0 = w1 = 0
    end = ((n - 1) // 64) * 64
    for at in range(0, end, 64):
        x = (_rotate((x + y + v0 + _u64(s, at + 8)) & _MASK, 37) * K1) & _MASK
        y = (_rotate((y + v1 + _u64(s, at + 48)) & _MASK, 42) * K1) & _MASK
        x ^= w1
        y = (y + v0 + _u64(s, at + 40)) & _MASK
        z = (_rotate((z + w0) & _MASK, 33) * K1) & _MASK
        v0, v1 = _weak32(s, at, (v1 * K1) & _MASK, (x + w0) & _MASK)
        w0, w1 = _weak32(s, at + 32, (z + w1) & _MASK, (y + _u64(s, at + 16)) & _MASK)
        z, x = x, z
    mul = (K1 + ((z & 0xFF) << 1)) & _MASK
    last = n - 64
    w0 = (w0 + ((n - 1) & 63)) & _MASK
    v0 = (v0 + w0) & _MASK
    w0 = (w0 + v0) & _MASK
    x = (_rotate((x + y + v0 + _u64(s, last + 8)) & _MASK, 37) * mul) & _MASK
    y = (_rotate((y + v1 + _u64(s, last + 48)) & _MASK, 42) * mul) & _MASK
    x ^= (w1 * 9) & _MASK
    y = (y + v0 * 9 + _u64(s, last + 40)) & _MASK
    z = (_rotate((z + w0) & _MASK, 33) * mul) & _MASK
    v0, v1 = _weak32(s, last, (v1 * mul) & _MASK, (x + w0) & _MASK)
    w0, w1 = _weak32(s, last + 32, (z + w1) & _MASK, (y + _u64(s, last + 16)) & _MASK)
    z, x = x, z
    return _hash16(
        (_hash16(v0, w0, mul) + _shift_mix(y) * K0 + z) & _MASK,
        (_hash16(v1, w1, mul) + x) & _MASK,
        mul,
    )


def fingerprint64(text: str | bytes) -> int:
    """FarmHash Fingerprint64 of ``text``'s UTF-8 bytes (or of ``bytes``), an unsigned 64-bit int.

    >>> fingerprint64("a") == 12917804110809363939
    True
    """
    s = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    n = len(s)
    if n <= 16:
        return _len0to16(s)
    if n <= 32:
        return _len17to32(s)
    if n <= 64:
        return _len33to64(s)
    return _long(s)
