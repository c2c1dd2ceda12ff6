"""gmssl (PyPI, pure-Python SM2/SM3) as the independent implementation for the SM2/SM3
interop tests in bank-adapters/tests/it/gmssl.rs. Every argument and output is hex.

Usage:
  python sm2_gmssl.py keygen                          -> "PRIVATE PUBLIC" (PUBLIC = x||y)
  python sm2_gmssl.py sign PRIVATE PUBLIC MESSAGE     -> signature r||s (64 bytes as hex)
  python sm2_gmssl.py verify PUBLIC SIGNATURE MESSAGE -> "true" or "false"
  python sm2_gmssl.py sm3 MESSAGE                     -> digest

Signing and verifying use gmssl's sign_with_sm3 / verify_with_sm3: SM3(Z || M) with the
default distinguishing id "1234567812345678" (ENTL 0x0080), the signature as r||s hex
(asn1=False), which is what Tianping's SM2 signer produces.

gmssl's CryptSM2 constructor strips a "04" prefix with str.lstrip("04"), which also eats
leading '0' and '4' digits of x; the public key is therefore assigned after construction.
"""

import secrets
import sys

from gmssl import func, sm2, sm3

ORDER = int(sm2.default_ecc_table["n"], 16)


def crypt(private_hex, public_hex):
    instance = sm2.CryptSM2(private_key=private_hex, public_key="")
    instance.public_key = public_hex
    return instance


def keygen():
    d = secrets.randbelow(ORDER - 2) + 1
    private_hex = "%064x" % d
    public_hex = crypt(private_hex, "")._kg(d, sm2.default_ecc_table["g"])
    return f"{private_hex} {public_hex}"


def main(arguments):
    command = arguments[0] if arguments else ""
    if command == "keygen" and len(arguments) == 1:
        return keygen()
    if command == "sign" and len(arguments) == 4:
        _, private_hex, public_hex, message = arguments
        return crypt(private_hex, public_hex).sign_with_sm3(bytes.fromhex(message))
    if command == "verify" and len(arguments) == 4:
        _, public_hex, signature, message = arguments
        valid = crypt("", public_hex).verify_with_sm3(signature, bytes.fromhex(message))
        return "true" if valid else "false"
    if command == "sm3" and len(arguments) == 2:
        return sm3.sm3_hash(func.bytes_to_list(bytes.fromhex(arguments[1])))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.stdout.write(main(sys.argv[1:]))
