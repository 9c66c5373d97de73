#!/usr/bin/env python3
"""Builds the .rpm with rpmbuild (Debian's `rpm` package) from the asset list of
`[package.metadata.generate-rpm]` in Cargo.toml, read as cargo-generate-rpm reads it.

Why not cargo-generate-rpm itself: it can only be built from source, and its `rpm` crate comes
with OpenPGP signing that cannot be turned off (cargo-generate-rpm asks for the `signature-pgp`
feature and has no features of its own), so building it cost 1,074 s of a cold CI run (scripts/
test); rpmbuild is an apt-get install of seconds. The section keeps cargo-generate-rpm's format,
so `cargo generate-rpm` still works where it is installed.

Usage: scripts/rpmbuild.py <directory standing for target/release> <output directory>
Prints the path of the .rpm made.
"""

import glob
import os
import shlex
import subprocess
import sys
import tempfile
import tomllib


def spec_quote(path: str) -> str:
    # %files takes paths with spaces in double quotes; rpm's macros start with %.
    if any(c in path for c in '"%\n'):
        sys.exit(f"scripts/rpmbuild.py: cannot package a path holding \", % or a newline: {path}")
    return f'"{path}"'


def main() -> None:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    release_dir, out_dir = (os.path.abspath(a) for a in sys.argv[1:])
    with open("Cargo.toml", "rb") as f:
        package = tomllib.load(f)["package"]
    rpm = package["metadata"]["generate-rpm"]

    install, files = [], []
    for asset in rpm["assets"]:
        source = asset["source"]
        # As cargo-generate-rpm and cargo-deb do: target/release/ is wherever the build is.
        if source.startswith("target/release/"):
            source = os.path.join(release_dir, source.removeprefix("target/release/"))
        sources = sorted(os.path.abspath(path) for path in glob.glob(source))
        if not sources:
            sys.exit(f"scripts/rpmbuild.py: no file matches the asset {asset['source']}")
        for path in sources:
            dest = asset["dest"]
            if dest.endswith("/"):
                dest += os.path.basename(path)
            install.append(
                f"install -D -m {asset.get('mode', '644')} {shlex.quote(path)} "
                f'"%{{buildroot}}"{shlex.quote(dest)}'
            )
            files.append(("%doc " if asset.get("doc") else "") + spec_quote(dest))

    suggests = [f"Suggests: {name}" for name in rpm.get("suggests", {})]
    spec = "\n".join(
        [
            f"Name: {package['name']}",
            f"Version: {package['version']}",
            "Release: 1",
            f"Summary: {package['description']}",
            f"License: {package['license']}",
            f"URL: {package['repository']}",
            # Requires from the ELF files, as cargo-generate-rpm's auto-req = "auto".
            "AutoReqProv: " + ("yes" if rpm.get("auto-req", "auto") != "no" else "no"),
            *suggests,
            "",
            "%description",
            package["description"],
            "",
            "%install",
            *install,
            "",
            "%files",
            *files,
            "",
        ]
    )
    with tempfile.TemporaryDirectory(prefix="fluxloop-rpmbuild.") as top:
        spec_path = os.path.join(top, "fluxloop.spec")
        with open(spec_path, "w") as f:
            f.write(spec)
        defines = {
            "_topdir": top,
            "_rpmdir": out_dir,
            "_build_name_fmt": "%%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm",
            # The binary comes stripped; no debuginfo package, no /usr/lib/.build-id links,
            # and none of the post-install steps (strip, man-page recompression).
            "debug_package": "%{nil}",
            "_build_id_links": "none",
            "__os_install_post": "%{nil}",
        }
        command = ["rpmbuild", "--quiet", "-bb"]
        for name, value in defines.items():
            command += ["--define", f"{name} {value}"]
        subprocess.run(command + [spec_path], check=True, stdout=sys.stderr)
    name = f"{package['name']}-{package['version']}-1"
    made = glob.glob(os.path.join(out_dir, f"{name}.*.rpm"))
    if len(made) != 1:
        sys.exit(f"scripts/rpmbuild.py: expected one {name} package in {out_dir}, found {made}")
    print(made[0])


if __name__ == "__main__":
    main()
