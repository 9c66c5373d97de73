#!/usr/bin/env python3
"""The Homebrew formula, Scoop manifest and winget manifests in packaging/.

  scripts/manifests.py check
      Each file is well-formed (JSON, YAML) and has the fields its format requires; all name the
      version in Cargo.toml, and the Windows archive that .github/workflows/release.yml makes.
      No schema or linter of these formats installs on Linux (`brew audit`, Scoop's schema
      test and `winget validate` run on macOS or Windows), so this checks what they would.
  scripts/manifests.py update VERSION SHA256SUMS SOURCE_SHA256
      Sets the version and the hashes for a release (packaging/README.md): the Windows zip's
      from the release's SHA256SUMS, the source archive's for Homebrew.
"""

import json
import re
import sys
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
FORMULA = PACKAGING / "homebrew" / "fluxloop.rb"
SCOOP = PACKAGING / "scoop" / "fluxloop.json"
WINGET = PACKAGING / "winget"
WINGET_FILES = {
    "version": WINGET / "FluxLoop.fluxloop.yaml",
    "installer": WINGET / "FluxLoop.fluxloop.installer.yaml",
    "defaultLocale": WINGET / "FluxLoop.fluxloop.locale.en-US.yaml",
}
WINDOWS_TARGET = "x86_64-pc-windows-msvc"
SHA256 = re.compile(r"[0-9a-fA-F]{64}")


def windows_archive(version):
    return f"fluxloop-{version}-{WINDOWS_TARGET}"


def release_url(version, file):
    return f"https://github.com/fluxloop/fluxloop/releases/download/v{version}/{file}"


def check():
    problems = []

    def need(ok, what):
        if not ok:
            problems.append(what)

    version = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    archive = windows_archive(version)
    url = release_url(version, archive + ".zip")
    release_yml = (ROOT / ".github" / "workflows" / "release.yml").read_text()
    need(WINDOWS_TARGET in release_yml, f"release.yml builds no {WINDOWS_TARGET}")
    need('name="fluxloop-$version-$TARGET"' in release_yml,
         "release.yml names its archives otherwise than fluxloop-VERSION-TARGET")

    formula = FORMULA.read_text()
    need("class Fluxloop < Formula" in formula, "formula: no `class Fluxloop < Formula`")
    for field in ("desc", "homepage", "url", "sha256", "license"):
        need(re.search(rf'^  {field} "[^"]+"$', formula, re.M), f"formula: no {field}")
    need(f'/v{version}.tar.gz"' in formula, f"formula: url is not v{version}'s source archive")
    sha = re.search(r'^  sha256 "([^"]*)"$', formula, re.M)
    need(sha and SHA256.fullmatch(sha.group(1)), "formula: sha256 is not 64 hex digits")
    need(re.search(r"^  test do$", formula, re.M), "formula: no `test do` block")
    need("generate_completions_from_executable" in formula, "formula: installs no completions")
    need("man1.install" in formula, "formula: installs no man pages")

    scoop = json.loads(SCOOP.read_text())
    for field in ("version", "description", "homepage", "license", "bin"):
        need(field in scoop, f"scoop: no {field}")
    need(scoop.get("version") == version, f"scoop: version is not {version}")
    x64 = scoop.get("architecture", {}).get("64bit", {})
    need(x64.get("url") == url, f"scoop: url is not {url}")
    need(SHA256.fullmatch(x64.get("hash", "")), "scoop: hash is not 64 hex digits")
    need(x64.get("extract_dir") == archive, f"scoop: extract_dir is not {archive}")
    auto = scoop.get("autoupdate", {}).get("architecture", {}).get("64bit", {})
    need(auto.get("url") == release_url("$version", windows_archive("$version") + ".zip"),
         "scoop: autoupdate url does not follow the release's naming")

    manifests = {kind: yaml.safe_load(path.read_text()) for kind, path in WINGET_FILES.items()}
    required = {
        "version": ["DefaultLocale"],
        "installer": ["Installers"],
        "defaultLocale": ["PackageLocale", "Publisher", "PackageName", "License",
                          "ShortDescription"],
    }
    for kind, manifest in manifests.items():
        name = f"winget {WINGET_FILES[kind].name}"
        for field in ["PackageIdentifier", "PackageVersion", "ManifestType", "ManifestVersion"]:
            need(field in manifest, f"{name}: no {field}")
        for field in required[kind]:
            need(field in manifest, f"{name}: no {field}")
        need(manifest.get("PackageIdentifier") == "FluxLoop.fluxloop",
             f"{name}: PackageIdentifier is not FluxLoop.fluxloop")
        need(str(manifest.get("PackageVersion")) == version, f"{name}: version is not {version}")
        need(manifest.get("ManifestType") == kind, f"{name}: ManifestType is not {kind}")
        need(manifest.get("ManifestVersion") == "1.6.0", f"{name}: ManifestVersion is not 1.6.0")
        need(len(manifest.get("ShortDescription", "")) <= 256, f"{name}: ShortDescription > 256")
    installer = manifests["installer"]
    installers = installer.get("Installers") or [{}]
    need(installers[0].get("InstallerUrl") == url, f"winget: InstallerUrl is not {url}")
    need(SHA256.fullmatch(str(installers[0].get("InstallerSha256", ""))),
         "winget: InstallerSha256 is not 64 hex digits")
    nested = (installer.get("NestedInstallerFiles") or [{}])[0]
    need(nested.get("RelativeFilePath") == f"{archive}\\fluxloop.exe",
         f"winget: RelativeFilePath is not {archive}\\fluxloop.exe")
    need(installer.get("NestedInstallerType") == "portable", "winget: not a portable zip")

    if problems:
        for problem in problems:
            print(f"scripts/manifests.py: {problem}", file=sys.stderr)
        return 1
    print(f"scripts/manifests.py: formula, scoop and winget manifests agree on {version}",
          file=sys.stderr)
    return 0


def update(version, sums_file, source_sha256):
    old = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]
    zip_name = windows_archive(version) + ".zip"
    sums = dict(reversed(line.split()) for line in Path(sums_file).read_text().splitlines())
    zip_sha = sums[zip_name]
    for path in [FORMULA, SCOOP, *WINGET_FILES.values()]:
        text = path.read_text().replace(old, version)
        if path == FORMULA:
            text = re.sub(r'(?m)^  sha256 "[^"]*"$', f'  sha256 "{source_sha256}"', text)
        elif path == SCOOP:
            text = re.sub(r'"hash": "[0-9a-fA-F]{64}"', f'"hash": "{zip_sha}"', text)
        else:
            text = re.sub(r'InstallerSha256: "[^"]*"', f'InstallerSha256: "{zip_sha}"', text)
        path.write_text(text)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["check"]:
        sys.exit(check())
    if len(sys.argv) == 5 and sys.argv[1] == "update":
        sys.exit(update(*sys.argv[2:]))
    print(__doc__, file=sys.stderr)
    sys.exit(2)
