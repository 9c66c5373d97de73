# Homebrew formula: builds fluxloop from the release's source archive. The release process
# (packaging/README.md) sets `url` and `sha256` for each version.
class Fluxloop < Formula
  desc "Authenticate with the FluxLoop Web Platform; API keys live in the OS keychain"
  homepage "https://github.com/fluxloop/fluxloop"
  url "https://github.com/fluxloop/fluxloop/archive/refs/tags/v0.1.0.tar.gz"
  sha256 "0000000000000000000000000000000000000000000000000000000000000000"
  license "MIT"
  head "https://github.com/fluxloop/fluxloop.git", branch: "main"

  depends_on "rust" => :build

  def install
    system "cargo", "install", *std_cargo_args
    # `fluxloop completions bash|zsh|fish`; the scripts name the command, not this path.
    generate_completions_from_executable(bin/"fluxloop", "completions")
    system bin/"fluxloop", "man", "--out-dir", buildpath/"man"
    man1.install Dir[buildpath/"man/*.1"]
  end

  test do
    assert_match version.to_s, shell_output("#{bin}/fluxloop --version")
    assert_match "fluxloop", shell_output("#{bin}/fluxloop completions zsh")
    # A fresh HOME has no profiles: listing them reads only ~/.fluxloop, never the keychain.
    ENV["HOME"] = testpath
    shell_output("#{bin}/fluxloop auth list")
  end
end
