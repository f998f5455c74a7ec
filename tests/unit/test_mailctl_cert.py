"""mailctl cert status|renew, run as the administrator runs them; issuance itself
is tested against pebble in tests/interop/test_acmed.py."""

import re

OK, ERROR = 0, 1


def test_status_without_a_certificate(instance):
    (instance.base / "tls/cert.pem").unlink()
    proc = instance.mailctl("cert", "status")
    assert proc.stdout == (f"certificate: none in {instance.base}/tls/cert.pem\n"
                           "last attempt: never\n")


def test_status_of_the_self_signed_certificate(instance):
    instance.mailctl("domain", "add", "example.test")
    lines = instance.mailctl("cert", "status").stdout.splitlines()
    assert lines[0] == f"certificate: {instance.base}/tls/cert.pem"
    assert lines[1] == "names: mail.example.test, localhost"
    assert lines[2] == "issuer: CN=mail.example.test (self-signed)"
    assert re.fullmatch(r"expires: \d{4}-\d\d-\d\d \d\d:\d\d UTC \((824|825) days left\)",
                        lines[3])
    assert lines[4] == "missing names: autoconfig.example.test, mta-sts.example.test"
    assert lines[5] == "last attempt: never"


def test_renew_with_the_ca_unreachable_fails_and_says_why(instance):
    instance.add_config('[acmed]\ndirectory = "https://127.0.0.1:1/directory"\n')
    before = (instance.base / "tls/cert.pem").read_bytes()
    proc = instance.mailctl("cert", "renew", check=False)
    assert proc.returncode == ERROR
    assert proc.stderr.splitlines()[-1].startswith(
        "mailctl: renewal failed: cannot reach https://127.0.0.1:1/directory: ")
    assert (instance.base / "tls/cert.pem").read_bytes() == before
    lines = instance.mailctl("cert", "status").stdout.splitlines()
    assert lines[-2].startswith("last attempt: ") and "cannot reach" in lines[-2]
    assert lines[-1].startswith("next automatic attempt: after ")
    assert lines[-1].endswith("(1 failure(s) in a row)")
