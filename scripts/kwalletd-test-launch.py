#!/usr/bin/env python3
"""Start kwalletd5 the way pam_kwallet does at login, so that it opens its wallet unprompted.

Used by the tests' KWallet harness (tests/common/secret_service.rs); never by fluxloop itself.
kwalletd5 --pam-login HASH_FD SOCKET_FD reads the wallet key (56 bytes, here all zeros) from
HASH_FD, then accepts one connection on SOCKET_FD (the listening socket named by
PAM_KWALLET5_LOGIN) before it opens the wallet. Rust's standard library cannot place a file
descriptor at a chosen number in a child, so this script does it, then becomes kwalletd5
(exec keeps the process id the harness waits on and kills).
"""

import fcntl
import os
import socket

HASH_FD, SOCKET_FD = 3, 4
HASH_SIZE = 56

sock_path = os.environ["PAM_KWALLET5_LOGIN"]
try:
    os.unlink(sock_path)
except FileNotFoundError:
    pass
listener = socket.socket(socket.AF_UNIX)
listener.bind(sock_path)
listener.listen(1)
# The connection kwalletd5 waits for: queued by the kernel until it accepts.
socket.socket(socket.AF_UNIX).connect(sock_path)

read_end, write_end = os.pipe()
os.write(write_end, b"\0" * HASH_SIZE)
os.close(write_end)

# Move both above the target numbers first, so placing one cannot close the other.
high_hash = fcntl.fcntl(read_end, fcntl.F_DUPFD, 10)
high_socket = fcntl.fcntl(listener.fileno(), fcntl.F_DUPFD, 10)
os.dup2(high_hash, HASH_FD)
os.dup2(high_socket, SOCKET_FD)
os.execvp("kwalletd5", ["kwalletd5", "--pam-login", str(HASH_FD), str(SOCKET_FD)])
