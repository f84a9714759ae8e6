"""Tests of the client that need no daemon: configuration, token discovery,
the plaintext rule, masking, error mapping, name splitting."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
import unittest
from pathlib import Path

import grpc

import secretbroker
from secretbroker import Client, Credential, SecretBrokerError, Unavailable
from secretbroker.botcity import split_name
from secretbroker.credential import Source
from secretbroker.errors import from_rpc_error
from secretbroker.robocorp import Secret, SecretBrokerSecretManager

from .helpers import isolate_env

TOKEN = "tok-unit-Zq8Lr2Vx9"
VALUE = "pw-Unit-4f7d1e"


def _bearer(client: Client):
    return [v for k, v in client._metadata if k == "authorization"]


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        self._code, self._details = code, details

    def code(self):
        return self._code

    def details(self):
        return self._details


class TokenTest(unittest.TestCase):
    def setUp(self):
        self.home = isolate_env(self)

    def _file(self, content: str) -> str:
        fd, path = tempfile.mkstemp(prefix="sbpy-token-")
        os.write(fd, content.encode())
        os.close(fd)
        self.addCleanup(os.unlink, path)
        return path

    def test_argument_first(self):
        os.environ["SECRETBROKER_TOKEN"] = "from-env"
        with Client(token=TOKEN) as c:
            self.assertEqual(_bearer(c), ["Bearer " + TOKEN])
            self.assertEqual(c.token_origin, "the token argument")

    def test_env_then_env_file_then_admin_token(self):
        data = Path(self.home) / "state"
        data.mkdir()
        (data / "admin.token").write_text("admin-tok\n")
        os.environ["SECRETBROKER_DATA_DIR"] = str(data)
        with Client() as c:
            self.assertEqual(_bearer(c), ["Bearer admin-tok"])
            self.assertIn("local admin token", c.token_origin)
        os.environ["SECRETBROKER_TOKEN_FILE"] = self._file("file-tok\n")
        with Client() as c:
            self.assertEqual(_bearer(c), ["Bearer file-tok"])
            self.assertEqual(c.token_origin, "SECRETBROKER_TOKEN_FILE")
        os.environ["SECRETBROKER_TOKEN"] = "env-tok"
        with Client() as c:
            self.assertEqual(_bearer(c), ["Bearer env-tok"])

    def test_admin_token_in_xdg_state_home_and_home(self):
        (Path(self.home) / ".local/state/secretbroker").mkdir(parents=True)
        (Path(self.home) / ".local/state/secretbroker/admin.token").write_text("home-tok\n")
        with Client() as c:
            self.assertEqual(_bearer(c), ["Bearer home-tok"])
        xdg = Path(self.home) / "xdg"
        (xdg / "secretbroker").mkdir(parents=True)
        (xdg / "secretbroker/admin.token").write_text("xdg-tok\n")
        os.environ["XDG_STATE_HOME"] = str(xdg)
        with Client() as c:
            self.assertEqual(_bearer(c), ["Bearer xdg-tok"])

    def test_token_file_argument(self):
        with Client(token_file=self._file("  arg-file-tok \n")) as c:
            self.assertEqual(_bearer(c), ["Bearer arg-file-tok"])

    def test_empty_token_sends_none_and_skips_discovery(self):
        os.environ["SECRETBROKER_TOKEN"] = "env-tok"
        with Client(token="") as c:
            self.assertEqual(_bearer(c), [])

    def test_no_token_anywhere(self):
        os.environ["SECRETBROKER_TOKEN"] = "  "
        os.environ["SECRETBROKER_TOKEN_FILE"] = ""
        with Client() as c:
            self.assertEqual(_bearer(c), [])
            self.assertEqual(c.token_origin, "nowhere")

    def test_missing_token_file_names_the_file(self):
        os.environ["SECRETBROKER_TOKEN_FILE"] = "/nonexistent/sbpy/token"
        with self.assertRaisesRegex(ValueError, "SECRETBROKER_TOKEN_FILE.*/nonexistent/sbpy/token"):
            Client()

    def test_bad_token_characters_never_echoed(self):
        bad = "secret part with spaces"
        with self.assertRaises(ValueError) as cm:
            Client(token=bad)
        self.assertNotIn("secret part", str(cm.exception))

    def test_refuses_plaintext_token_to_remote_address(self):
        for addr in ("192.0.2.10:7787", "broker.example.com:7787", "[2001:db8::1]:7787"):
            with self.subTest(addr=addr):
                with self.assertRaises(ValueError) as cm:
                    Client(addr, token=TOKEN)
                msg = str(cm.exception)
                self.assertIn("plaintext", msg)
                self.assertIn(addr, msg)
                self.assertNotIn(TOKEN, msg)
        os.environ["SECRETBROKER_TOKEN"] = TOKEN
        with self.assertRaisesRegex(ValueError, "SECRETBROKER_TOKEN"):
            Client("192.0.2.10:7787")

    def test_loopback_and_unix_may_carry_a_token(self):
        for addr in ("127.0.0.1:7787", "127.3.2.1:7787", "localhost:7787", "[::1]:7787", "unix:/run/sb.sock"):
            with self.subTest(addr=addr):
                with Client(addr, token=TOKEN) as c:
                    self.assertEqual(_bearer(c), ["Bearer " + TOKEN])

    def test_remote_address_without_token_is_allowed(self):
        with Client("192.0.2.10:7787") as c:
            self.assertEqual(_bearer(c), [])

    def test_local_admin_token_never_goes_to_a_remote_address(self):
        data = Path(self.home) / "state"
        data.mkdir()
        (data / "admin.token").write_text("admin-tok\n")
        os.environ["SECRETBROKER_DATA_DIR"] = str(data)
        with Client("192.0.2.10:7787") as c:
            self.assertEqual(_bearer(c), [])
            self.assertEqual(c.token_origin, "nowhere")


class AddressTest(unittest.TestCase):
    def setUp(self):
        isolate_env(self)

    def test_default_and_env(self):
        with Client() as c:
            self.assertEqual(c.target, secretbroker.DEFAULT_ADDRESS)
        os.environ["SECRETBROKER_ADDR"] = "unix:///run/sb.sock"
        with Client() as c:
            self.assertEqual(c.target, "unix:/run/sb.sock")
        with Client(unix_socket="/tmp/x.sock") as c:
            self.assertEqual(c.target, "unix:/tmp/x.sock")

    def test_bad_addresses(self):
        for addr in ("nohostport", "host:", ":7787", "dns:///h:1", "unix:"):
            with self.subTest(addr=addr):
                with self.assertRaises(ValueError):
                    Client(addr)

    def test_option_combinations(self):
        with self.assertRaisesRegex(ValueError, "address or unix_socket"):
            Client("127.0.0.1:1", unix_socket="/tmp/s")
        with self.assertRaisesRegex(ValueError, "cert and key"):
            Client(cert="/tmp/c.pem")
        with self.assertRaisesRegex(ValueError, "unix socket"):
            Client(unix_socket="/tmp/s", ca="/tmp/ca.pem")
        with self.assertRaisesRegex(ValueError, "server_name needs TLS"):
            Client(server_name="broker")
        with self.assertRaisesRegex(ValueError, "timeout"):
            Client(timeout=0)
        with self.assertRaisesRegex(ValueError, "reading ca"):
            Client("192.0.2.1:7787", ca="/nonexistent/ca.pem")

    def test_tls_allows_token_to_remote(self):
        tmp = tempfile.mkdtemp(prefix="sbpy-ca-")
        self.addCleanup(shutil.rmtree, tmp, True)
        ca = Path(tmp) / "ca.pem"
        ca.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        with Client("192.0.2.10:7787", token=TOKEN, ca=ca, server_name="broker") as c:
            self.assertEqual(_bearer(c), ["Bearer " + TOKEN])

    def test_closed_client(self):
        c = Client()
        c.close()
        c.close()
        with self.assertRaisesRegex(ValueError, "closed"):
            c.list_lockers()

    def test_purpose_is_percent_encoded(self):
        with Client(purpose="nightly run #42, ü") as c:
            self.assertIn(("x-secretbroker-purpose", "nightly%20run%20%2342%2C%20%C3%BC"), c._metadata)

    def test_argument_types(self):
        with Client() as c:
            with self.assertRaises(TypeError):
                c.get_credential(None, "erp")
            with self.assertRaises(ValueError):
                c.get_credential("demo", "")
            with self.assertRaises(TypeError) as cm:
                c.put_credential("demo", "erp", {"password": 12345})
            self.assertNotIn("12345", str(cm.exception))

    def test_unreachable_is_unavailable(self):
        # Port 1 on loopback: nothing listens, the connection is refused.
        with Client("127.0.0.1:1", token="", timeout=5) as c:
            with self.assertRaises(Unavailable) as cm:
                c.list_lockers()
        self.assertIn(cm.exception.code, (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED))


class CredentialTest(unittest.TestCase):
    def cred(self):
        return Credential(
            {"username": "bot", "password": VALUE, "blob": b"\xff\x00"},
            source=Source(provider="store", secret_name="demo_erp", scope="system"),
            login_name="bot",
        )

    def test_mapping(self):
        c = self.cred()
        self.assertEqual(c["password"], VALUE)
        self.assertEqual(c.password, VALUE)
        self.assertEqual(c.username, "bot")
        self.assertIsNone(c.domain)
        self.assertEqual(c.get("nope", "dflt"), "dflt")
        self.assertEqual(sorted(c), ["blob", "password", "username"])
        self.assertEqual(dict(c)["blob"], b"\xff\x00")
        self.assertEqual(c.scope, "system")

    def test_every_rendering_is_masked(self):
        c = self.cred()
        for text in (repr(c), str(c), f"{c}", "%s" % (c,), "%r" % (c,), repr(c.values()), repr(c.items()), repr([c]), repr({"c": c})):
            self.assertNotIn(VALUE, text)
            self.assertNotIn("\\xff", text)
        self.assertIn("password", repr(c))
        self.assertIn("demo_erp", repr(c))

    def test_missing_key_message_has_no_value(self):
        with self.assertRaises(KeyError) as cm:
            self.cred()["domain"]
        self.assertNotIn(VALUE, str(cm.exception))
        self.assertIn("domain", str(cm.exception))

    def test_not_picklable(self):
        with self.assertRaisesRegex(TypeError, "cannot be pickled"):
            pickle.dumps(self.cred())

    def test_robocorp_secret_masked(self):
        s = Secret("demo/erp", "d", {"password": VALUE, "username": "bot"})
        self.assertEqual(repr(s), "Secret(name=demo/erp, keys=[password, username])")
        self.assertNotIn(VALUE, str(s))
        s["password"] = "x"
        s.update({"domain": "ABCD"})
        self.assertEqual(dict(s), {"password": "x", "username": "bot", "domain": "ABCD"})


class ErrorTest(unittest.TestCase):
    def test_mapping_and_text(self):
        cases = {
            grpc.StatusCode.NOT_FOUND: secretbroker.NotFound,
            grpc.StatusCode.PERMISSION_DENIED: secretbroker.PermissionDenied,
            grpc.StatusCode.UNAUTHENTICATED: secretbroker.Unauthenticated,
            grpc.StatusCode.UNAVAILABLE: secretbroker.Unavailable,
            grpc.StatusCode.DEADLINE_EXCEEDED: secretbroker.DeadlineExceeded,
            grpc.StatusCode.INVALID_ARGUMENT: secretbroker.InvalidArgument,
            grpc.StatusCode.RESOURCE_EXHAUSTED: secretbroker.ResourceExhausted,
            grpc.StatusCode.FAILED_PRECONDITION: secretbroker.FailedPrecondition,
            grpc.StatusCode.INTERNAL: SecretBrokerError,
        }
        for code, cls in cases.items():
            with self.subTest(code=code):
                err = from_rpc_error(FakeRpcError(code, "the message"))
                self.assertIs(type(err), cls)
                self.assertEqual(err.code, code)
                self.assertEqual(err.message, "the message")
        err = from_rpc_error(FakeRpcError(grpc.StatusCode.NOT_FOUND, 'secret not found (tried SYSTEM "demo_x")'))
        self.assertEqual(str(err), 'NotFound: secret not found (tried SYSTEM "demo_x")')
        self.assertIsInstance(err, KeyError)
        self.assertIsInstance(from_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "slow")), Unavailable)
        self.assertEqual(pickle.loads(pickle.dumps(err)).message, err.message)

    def test_empty_details(self):
        err = from_rpc_error(FakeRpcError(grpc.StatusCode.UNAVAILABLE, None))
        self.assertEqual(err.message, "the broker returned no message")


class NamesTest(unittest.TestCase):
    def setUp(self):
        isolate_env(self)

    def test_split_name(self):
        self.assertEqual(split_name("demo/erp"), ("demo", "erp"))
        with self.assertRaisesRegex(ValueError, "SECRETBROKER_LOCKER"):
            split_name("erp")
        os.environ["SECRETBROKER_LOCKER"] = "finance"
        self.assertEqual(split_name("erp"), ("finance", "erp"))
        self.assertEqual(split_name("erp", default_locker="demo"), ("demo", "erp"))
        for bad in ("", "/erp", "demo/", "a/b/c"):
            with self.subTest(bad=bad):
                with self.assertRaises(ValueError):
                    split_name(bad)

    def test_secret_manager_rejects_positional_arguments(self):
        with self.assertRaisesRegex(TypeError, "keyword arguments only"):
            SecretBrokerSecretManager("x")

    def test_botcity_label_without_locker(self):
        with self.assertRaisesRegex(ValueError, "SECRETBROKER_LOCKER"):
            secretbroker.get_credential("erp", "password")


if __name__ == "__main__":
    unittest.main()
