"""A bot as a Robocorp user writes it, run in its own interpreter by
test_daemon.RobocorpTest: RPA.Robocorp.Vault picks the secret manager from
RPA_SECRET_MANAGER. It prints a JSON report; values are compared here and
only the result of the comparison is printed."""

import json
import os
import sys

from RPA.Robocorp.Vault import Vault

vault = Vault()
secret = vault.get_secret(sys.argv[1])
report = {
    "adapter": type(vault.adapter).__module__ + "." + type(vault.adapter).__qualname__,
    "name": secret.name,
    "keys": sorted(secret.keys()),
    "repr": repr(secret),
    "password_matches": secret["password"] == os.environ["TEST_EXPECT_PASSWORD"],
}
secret["password"] = os.environ["TEST_NEW_PASSWORD"]
vault.set_secret(secret)
again = Vault().get_secret(sys.argv[1])
report["new_password_stored"] = again["password"] == os.environ["TEST_NEW_PASSWORD"]
print(json.dumps(report))
