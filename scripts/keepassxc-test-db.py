#!/usr/bin/env python3
"""Create a KeePassXC database for the end-to-end tests (tests/common/secret_service.rs).

Usage: keepassxc-test-db.py <database.kdbx>, the database password on stdin.

KeePassXC serves a database over the Secret Service only when its metadata names the group to
expose (custom data FDO_SECRETS_EXPOSED_GROUP = "{group-uuid}"), so this makes a `fluxloop`
group and names it there. Generated per test run: no binary database is kept in the repository.
The key derivation is made cheap (Argon2, 2 iterations, 1 MiB), since every test opens one.
"""

import sys

from lxml import etree
from pykeepass import create_database


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: keepassxc-test-db.py <database.kdbx> < password", file=sys.stderr)
        return 2
    path = sys.argv[1]
    password = sys.stdin.readline().rstrip("\n")
    if not password:
        print("keepassxc-test-db.py: no password on stdin", file=sys.stderr)
        return 2

    kp = create_database(path, password=password)
    kdf = kp.kdbx.header.value.dynamic_header.kdf_parameters.data.dict
    kdf["I"].value = 2
    kdf["M"].value = 1024 * 1024

    group = kp.add_group(kp.root_group, "fluxloop")
    custom_data = kp._xpath("/KeePassFile/Meta/CustomData", first=True)
    item = etree.SubElement(custom_data, "Item")
    etree.SubElement(item, "Key").text = "FDO_SECRETS_EXPOSED_GROUP"
    etree.SubElement(item, "Value").text = "{" + str(group.uuid) + "}"
    kp.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
