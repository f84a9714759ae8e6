"""Tests of the client against a real secretbrokerd process (see daemon.py).

Every value a test stores is random per run, so a value found where it must
not be (a repr, an error, the audit log) cannot be a coincidence.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import unittest
from pathlib import Path

import grpc

import secretbroker
from secretbroker import Client, NotFound, PermissionDenied, Unauthenticated
from secretbroker.robocorp import SecretBrokerSecretManager

from .daemon import LEGACY_SKIP, Daemon, legacy
from .helpers import isolate_env

HERE = Path(__file__).resolve().parent
PACKAGE_ROOT = HERE.parent

BOT_IDENTITY = "py-bot"
READER_IDENTITY = "py-reader"
BOT_TOKEN = secrets.token_urlsafe(32)
READER_TOKEN = secrets.token_urlsafe(32)


def _value(label: str) -> str:
    return f"{label}-{secrets.token_hex(8)}"


def _start(test_class, **kwargs) -> Daemon:
    d = Daemon(
        tokens={BOT_IDENTITY: BOT_TOKEN, READER_IDENTITY: READER_TOKEN},
        writers=[BOT_IDENTITY, f"unix:uid:{os.getuid()}"],
        readers={READER_IDENTITY: ["demo"]},
        **kwargs,
    )
    test_class.addClassCleanup(d.cleanup)
    d.start()
    return d


class DaemonTestCase(unittest.TestCase):
    """One daemon on 127.0.0.1:0 for the whole class, and a client with the
    bot's token."""

    daemon: Daemon
    client: Client

    @classmethod
    def setUpClass(cls):
        cls.daemon = _start(cls)
        cls.client = Client(cls.daemon.address, token=BOT_TOKEN)
        cls.addClassCleanup(cls.client.close)

    def setUp(self):
        self.home = isolate_env(self)
        self.stored_values = []

    def put(self, locker, credential, attributes, username=None):
        self.stored_values += [v for v in attributes.values() if isinstance(v, str)]
        return self.client.put_credential(locker, credential, attributes, username=username)


class CredentialTest(DaemonTestCase):
    def test_put_then_get_system_and_user_defined(self):
        sys_pw, user_pw = _value("sys"), _value("user")
        w = self.put("demo", "erp", {"username": "erp-bot", "password": sys_pw})
        self.assertEqual(w.scope, "system")
        self.assertEqual(w.source.secret_name, "demo_erp")
        w = self.put("demo", "erp", {"username": "user123", "password": user_pw}, username="ABCD\\user123")
        self.assertEqual(w.scope, "user")
        self.assertEqual(w.source.secret_name, "demo_erp_ABCD--user123")

        mine = self.client.get_credential("demo", "erp", username="ABCD\\user123")
        self.assertEqual(mine.password, user_pw)
        self.assertEqual(mine["username"], "user123")
        self.assertEqual(mine.scope, "user")
        self.assertEqual(mine.source.secret_name, "demo_erp_ABCD--user123")
        self.assertEqual(mine.source.logical_name, "demo_erp_ABCD\\user123")
        self.assertEqual(mine.source.provider, "store")
        self.assertEqual(mine.source.provider_kind, "embedded")
        self.assertEqual(mine.source.locker, "demo")
        self.assertFalse(mine.stale)
        self.assertIsNotNone(mine.updated_at)

        other = self.client.get_credential("demo", "erp", username="ABCD\\jane")
        self.assertEqual(other.password, sys_pw)
        self.assertEqual(other.scope, "system")
        self.assertEqual(other.source.secret_name, "demo_erp")
        system = self.client.get_credential("demo", "erp")
        self.assertEqual(dict(system), {"username": "erp-bot", "password": sys_pw})

    def test_attribute_selection(self):
        pw = _value("attr")
        self.put("demo", "attrs", {"username": "u1", "password": pw, "domain": "ABCD"})
        self.assertEqual(self.client.get_credential("demo", "attrs", attribute="password"), pw)
        self.assertEqual(self.client.get_credential("demo", "attrs", username="ABCD\\x", attribute="domain"), "ABCD")
        with self.assertRaises(NotFound) as cm:
            self.client.get_credential("demo", "attrs", attribute="pin")
        self.assertIn("pin", cm.exception.message)
        self.assertNotIn(pw, str(cm.exception))

    def test_fresh_read(self):
        pw = _value("fresh")
        self.put("demo", "fresh", {"password": pw})
        self.assertEqual(self.client.get_credential("demo", "fresh", fresh=True).password, pw)

    def test_binary_attribute_round_trip(self):
        self.put("demo", "blob", {"cert": b"\xff\x00\xfe", "note": b"plain text"})
        got = self.client.get_credential("demo", "blob")
        self.assertEqual(got["cert"], b"\xff\x00\xfe")
        self.assertEqual(got["note"], "plain text")

    def test_autologin(self):
        pw = _value("login")
        w = self.client.put_autologin("ABCD\\runner1", {"username": "runner1", "domain": "ABCD", "password": pw})
        self.stored_values.append(pw)
        self.assertEqual(w.scope, "auto_login")
        got = self.client.get_autologin("ABCD\\runner1")
        self.assertEqual(got.password, pw)
        self.assertEqual(got.login_name, "runner1")
        self.assertEqual(got.scope, "auto_login")
        self.assertEqual(got.source.secret_name, "autologin_ABCD--runner1")
        with self.assertRaises(NotFound) as cm:
            self.client.get_autologin("ABCD\\nobody")
        self.assertIn("autologin_ABCD--nobody", cm.exception.message)

    def test_repr_and_str_mask_values(self):
        pw = _value("mask")
        self.put("demo", "masked", {"username": "m", "password": pw})
        cred = self.client.get_credential("demo", "masked")
        for text in (repr(cred), str(cred), f"{cred}", repr(cred.items())):
            self.assertNotIn(pw, text)
        self.assertIn("password", repr(cred))
        self.assertIn("username", repr(cred))

    def test_not_found_has_code_and_message(self):
        with self.assertRaises(NotFound) as cm:
            self.client.get_credential("demo", "nosuchcred", username="ABCD\\user9")
        err = cm.exception
        self.assertEqual(err.code, grpc.StatusCode.NOT_FOUND)
        self.assertIn("demo_nosuchcred", err.message)
        self.assertTrue(str(err).startswith("NotFound: "), str(err))
        self.assertIsInstance(err, KeyError)
        self.assertIsInstance(err, secretbroker.SecretBrokerError)

    def test_unknown_locker(self):
        with self.assertRaises(secretbroker.SecretBrokerError) as cm:
            self.client.get_credential("nolocker", "erp")
        self.assertIn("nolocker", cm.exception.message)

    def test_list_lockers(self):
        lockers = {lk.name: lk for lk in self.client.list_lockers()}
        self.assertEqual(sorted(lockers), ["demo", "finance"])
        self.assertEqual(lockers["demo"].provider, "store")
        self.assertEqual(lockers["demo"].provider_kind, "embedded")
        self.assertEqual(lockers["finance"].prefix, "accounting")
        self.assertTrue(lockers["demo"].writable)

    def test_delete(self):
        self.put("demo", "gone", {"password": _value("gone")})
        w = self.client.delete_credential("demo", "gone")
        self.assertEqual(w.source.secret_name, "demo_gone")
        with self.assertRaises(NotFound):
            self.client.get_credential("demo", "gone")
        self.client.put_autologin("tmpuser", {"password": "p"})
        self.client.delete_autologin("tmpuser")
        with self.assertRaises(NotFound):
            self.client.get_autologin("tmpuser")

    def test_environment_configuration(self):
        pw = _value("env")
        self.put("demo", "envcred", {"password": pw})
        os.environ["SECRETBROKER_ADDR"] = self.daemon.address
        os.environ["SECRETBROKER_TOKEN"] = BOT_TOKEN
        with Client() as c:
            self.assertEqual(c.get_credential("demo", "envcred").password, pw)
        del os.environ["SECRETBROKER_TOKEN"]
        token_file = Path(self.home) / "token"
        token_file.write_text(BOT_TOKEN + "\n")
        os.environ["SECRETBROKER_TOKEN_FILE"] = str(token_file)
        with Client() as c:
            self.assertEqual(c.get_credential("demo", "envcred").password, pw)


class BotCityTest(DaemonTestCase):
    def test_get_credential_label_key(self):
        sys_pw, user_pw = _value("bc-sys"), _value("bc-user")
        self.put("demo", "portal", {"username": "svc", "password": sys_pw})
        self.put("demo", "portal", {"username": "u7", "password": user_pw}, username="ABCD\\bot7")
        os.environ["SECRETBROKER_ADDR"] = self.daemon.address
        os.environ["SECRETBROKER_TOKEN"] = BOT_TOKEN
        self.assertEqual(secretbroker.get_credential("demo/portal", "password"), sys_pw)
        self.assertEqual(secretbroker.get_credential(label="demo", key="username", credential="portal"), "svc")
        os.environ["SECRETBROKER_USERNAME"] = "ABCD\\bot7"
        self.assertEqual(secretbroker.get_credential("demo/portal", "password"), user_pw)
        os.environ["SECRETBROKER_LOCKER"] = "demo"
        self.assertEqual(secretbroker.get_credential("portal", "username"), "u7")
        with self.assertRaises(NotFound):
            secretbroker.get_credential("demo/portal", "no-such-key")


class RobocorpTest(DaemonTestCase):
    def test_get_secret_and_set_secret(self):
        pw = _value("rc")
        self.put("demo", "swaglabs", {"username": "standard_user", "password": pw})
        mgr = SecretBrokerSecretManager(address=self.daemon.address, token=BOT_TOKEN)
        self.addCleanup(mgr.close)
        secret = mgr.get_secret("demo/swaglabs")
        self.assertEqual(secret.name, "demo/swaglabs")
        self.assertEqual(secret["password"], pw)
        self.assertEqual(sorted(secret), ["password", "username"])
        self.assertIn("demo_swaglabs", secret.description)
        self.assertNotIn(pw, repr(secret))
        self.assertEqual(repr(secret), "Secret(name=demo/swaglabs, keys=[password, username])")

        new_pw = _value("rc-new")
        self.stored_values.append(new_pw)
        secret["password"] = new_pw
        mgr.set_secret(secret)
        self.assertEqual(self.client.get_credential("demo", "swaglabs").password, new_pw)

        with self.assertRaises(KeyError):
            mgr.get_secret("demo/nosuchsecret")

    def test_default_locker_and_user_from_environment(self):
        sys_pw, user_pw = _value("rc-sys"), _value("rc-user")
        self.put("finance", "ledger", {"password": sys_pw})
        self.put("finance", "ledger", {"password": user_pw}, username="ABCD\\clerk")
        os.environ.update(SECRETBROKER_ADDR=self.daemon.address, SECRETBROKER_TOKEN=BOT_TOKEN,
                          SECRETBROKER_LOCKER="finance", SECRETBROKER_USERNAME="ABCD\\clerk")
        mgr = SecretBrokerSecretManager()
        self.addCleanup(mgr.close)
        secret = mgr.get_secret("ledger")
        self.assertEqual(secret["password"], user_pw)
        # Written back to where it was read from: the user-defined credential.
        secret["password"] = _value("rc-user2")
        self.stored_values.append(secret["password"])
        mgr.set_secret(secret)
        self.assertEqual(self.client.get_credential("finance", "ledger", username="ABCD\\clerk").password, secret["password"])
        self.assertEqual(self.client.get_credential("finance", "ledger").password, sys_pw)

    def test_selected_by_rpa_secret_manager(self):
        pw, new_pw = _value("rpa"), _value("rpa-new")
        self.put("demo", "vaultbot", {"username": "vb", "password": pw})
        self.stored_values.append(new_pw)
        env = dict(os.environ)
        env.update(
            RPA_SECRET_MANAGER="secretbroker.robocorp.SecretBrokerSecretManager",
            SECRETBROKER_ADDR=self.daemon.address,
            SECRETBROKER_TOKEN=BOT_TOKEN,
            PYTHONPATH=os.pathsep.join([str(PACKAGE_ROOT), str(HERE / "fakes")]),
            PYTHONDONTWRITEBYTECODE="1",
            TEST_EXPECT_PASSWORD=pw,
            TEST_NEW_PASSWORD=new_pw,
        )
        run = subprocess.run([sys.executable, str(HERE / "robocorp_bot.py"), "demo/vaultbot"], env=env,
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(run.returncode, 0, f"bot failed:\n{run.stdout}\n{run.stderr}")
        report = json.loads(run.stdout.strip().splitlines()[-1])
        self.assertEqual(report["adapter"], "secretbroker.robocorp.SecretBrokerSecretManager")
        self.assertEqual(report["keys"], ["password", "username"])
        self.assertTrue(report["password_matches"])
        self.assertTrue(report["new_password_stored"])
        self.assertNotIn(pw, run.stdout + run.stderr)
        self.assertNotIn(new_pw, run.stdout + run.stderr)
        self.assertEqual(self.client.get_credential("demo", "vaultbot").password, new_pw)


@unittest.skipIf(legacy(), LEGACY_SKIP)
class AuthTest(DaemonTestCase):
    def test_wrong_token_is_unauthenticated(self):
        with Client(self.daemon.address, token="not-" + BOT_TOKEN) as c:
            with self.assertRaises(Unauthenticated) as cm:
                c.list_lockers()
        self.assertEqual(cm.exception.code, grpc.StatusCode.UNAUTHENTICATED)
        self.assertNotIn(BOT_TOKEN, str(cm.exception))

    def test_no_token_is_unauthenticated(self):
        with Client(self.daemon.address, token="") as c:
            with self.assertRaises(Unauthenticated):
                c.get_credential("demo", "erp")

    def test_policy_limits_a_reader(self):
        self.put("finance", "secretplan", {"password": _value("plan")})
        self.put("demo", "readable", {"password": _value("readable")})
        with Client(self.daemon.address, token=READER_TOKEN) as reader:
            self.assertEqual(reader.get_credential("demo", "readable").password, self.stored_values[-1])
            with self.assertRaises(PermissionDenied) as cm:
                reader.get_credential("finance", "secretplan")
            self.assertEqual(cm.exception.code, grpc.StatusCode.PERMISSION_DENIED)
            with self.assertRaises(PermissionDenied):
                reader.put_credential("demo", "readable", {"password": "x"})

    def test_local_admin_token_is_found(self):
        self.assertTrue(self.daemon.admin_token_path.is_file(), "the daemon did not create admin.token")
        os.environ["SECRETBROKER_DATA_DIR"] = str(self.daemon.data_dir)
        with Client(self.daemon.address) as c:
            self.assertIn("local admin token", c.token_origin)
            self.assertIn("demo", [lk.name for lk in c.list_lockers()])

    def test_audit_records_requests_without_values(self):
        pw = _value("audit")
        self.put("demo", "audited", {"password": pw})
        with Client(self.daemon.address, token=BOT_TOKEN, purpose="nightly run #42") as c:
            self.assertEqual(c.get_credential("demo", "audited").password, pw)
        audit = self.daemon.audit_path.read_text(encoding="utf-8", errors="replace")
        self.assertIn("demo_audited", audit)
        self.assertIn(BOT_IDENTITY, audit)
        self.assertIn("nightly run #42", audit, "the purpose header did not reach the audit log decoded")
        self.assertNotIn(pw, audit)
        self.assertNotIn(BOT_TOKEN, audit)


class UnixSocketTest(unittest.TestCase):
    """A second daemon on a unix socket; the peer's uid is its identity (no
    token needed)."""

    @classmethod
    def setUpClass(cls):
        cls.daemon = _start(cls, listen="unix:{workdir}/sb.sock")

    def setUp(self):
        isolate_env(self)

    def test_unix_socket(self):
        self.assertTrue(self.daemon.address.startswith("unix:"), self.daemon.address)
        path = self.daemon.address[len("unix:"):]
        pw = _value("unix")
        with Client(unix_socket=path, token="") as c:
            self.assertEqual(c.put_credential("demo", "sock", {"password": pw}).scope, "system")
            self.assertEqual(c.get_credential("demo", "sock").password, pw)
        with Client(self.daemon.address, token=BOT_TOKEN) as c:
            self.assertEqual(c.get_credential("demo", "sock", attribute="password"), pw)


if __name__ == "__main__":
    unittest.main()
