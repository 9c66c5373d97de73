//! What kind of machine this is, for advice: a CI runner, a container, WSL, an SSH session
//! without a session bus, a machine without a desktop. The error for a missing keychain and
//! `fluxloop auth doctor` use it to name the store that fits. Nothing here prints.
//!
//! Detection reads a few environment variables that are not fluxloop's (CI, SSH_CONNECTION,
//! DISPLAY...) and a few system files, through [`Probe`], so unit tests pass fake ones.

use std::path::PathBuf;

/// Where detection reads its inputs.
pub trait Probe {
    /// An environment variable, `None` when unset or empty.
    fn var(&self, name: &str) -> Option<String>;
    /// A system file (an absolute path such as `/proc/version`), `None` when unreadable.
    fn read(&self, path: &str) -> Option<String>;
    fn exists(&self, path: &str) -> bool;
}

/// The running process's environment and the machine's files.
pub struct System {
    /// `/`; in debug builds, `FLUXLOOP_DEBUG_SYSTEM_ROOT` moves it, so tests decide what a
    /// container or WSL looks like whatever machine runs them.
    root: PathBuf,
}

impl System {
    pub fn here() -> Self {
        let root = if cfg!(debug_assertions) {
            std::env::var_os("FLUXLOOP_DEBUG_SYSTEM_ROOT")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        } else {
            None
        };
        Self {
            root: root.unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

impl Probe for System {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.trim().is_empty())
    }

    fn read(&self, path: &str) -> Option<String> {
        // Small files only: these are a few lines each.
        std::fs::read(self.path(path))
            .ok()
            .map(|bytes| String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]).into_owned())
    }

    fn exists(&self, path: &str) -> bool {
        self.path(path).exists()
    }
}

/// A CI service, for the words of the advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ci {
    GitHubActions,
    GitLab,
    /// Another service, or only `CI=true`.
    Other,
}

/// A container runtime, as far as it can be told from inside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    Docker,
    Podman,
    Kubernetes,
    /// Another runtime (LXC, systemd-nspawn, containerd...).
    Other,
}

/// The facts about this machine that decide which store fits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Situation {
    pub ci: Option<Ci>,
    pub container: Option<Container>,
    pub wsl: bool,
    /// Logged in over SSH (SSH_CONNECTION, SSH_CLIENT or SSH_TTY).
    pub ssh: bool,
    /// DBUS_SESSION_BUS_ADDRESS is set (whether anything answers there is another question).
    pub session_bus: bool,
    /// DISPLAY or WAYLAND_DISPLAY is set.
    pub desktop: bool,
}

/// The one thing that best describes the machine, most specific first: what the advice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Ci(Ci),
    Container(Container),
    Wsl,
    /// SSH with no session bus: no keychain can be reached from this shell.
    SshWithoutBus,
    /// No desktop session: nothing starts a keychain.
    Headless,
    /// A desktop session, or a platform whose keychain needs none (macOS, Windows).
    Desktop,
}

/// `CI` and the variables of the services that do not set it, with the service they name.
const CI_VARIABLES: &[(&str, Ci)] = &[
    ("GITHUB_ACTIONS", Ci::GitHubActions),
    ("GITLAB_CI", Ci::GitLab),
    ("BUILDKITE", Ci::Other),
    ("CIRCLECI", Ci::Other),
    ("TF_BUILD", Ci::Other),
    ("JENKINS_URL", Ci::Other),
    ("TEAMCITY_VERSION", Ci::Other),
    ("BITBUCKET_BUILD_NUMBER", Ci::Other),
    ("CI", Ci::Other),
];

impl Situation {
    /// The situation of this process.
    pub fn here() -> Self {
        Self::detect(&System::here())
    }

    pub fn detect(probe: &dyn Probe) -> Self {
        Self {
            ci: ci(probe),
            container: container(probe),
            wsl: probe.var("WSL_DISTRO_NAME").is_some()
                || probe.var("WSL_INTEROP").is_some()
                || probe
                    .read("/proc/version")
                    .is_some_and(|v| v.to_ascii_lowercase().contains("microsoft")),
            ssh: ["SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY"]
                .iter()
                .any(|name| probe.var(name).is_some()),
            session_bus: probe.var("DBUS_SESSION_BUS_ADDRESS").is_some(),
            desktop: probe.var("DISPLAY").is_some() || probe.var("WAYLAND_DISPLAY").is_some(),
        }
    }

    pub fn kind(&self) -> Kind {
        if let Some(ci) = self.ci {
            Kind::Ci(ci)
        } else if let Some(container) = self.container {
            Kind::Container(container)
        } else if self.wsl {
            Kind::Wsl
        } else if self.ssh && !self.session_bus {
            Kind::SshWithoutBus
        } else if !self.desktop && cfg!(target_os = "linux") {
            Kind::Headless
        } else {
            Kind::Desktop
        }
    }
}

fn ci(probe: &dyn Probe) -> Option<Ci> {
    CI_VARIABLES.iter().find_map(|(name, ci)| {
        let value = probe.var(name)?;
        // `CI=false` and `CI=0` say "not CI"; any other value (true, 1, yes) says it is.
        let off = matches!(
            value.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "no"
        );
        (!off).then_some(*ci)
    })
}

fn container(probe: &dyn Probe) -> Option<Container> {
    if probe.exists("/.dockerenv") {
        return Some(Container::Docker);
    }
    if probe.exists("/run/.containerenv") {
        return Some(Container::Podman);
    }
    if probe.var("KUBERNETES_SERVICE_HOST").is_some() {
        return Some(Container::Kubernetes);
    }
    // Set by podman, systemd-nspawn and LXC for the container's processes.
    if let Some(name) = probe.var("container") {
        return Some(match name.as_str() {
            "podman" => Container::Podman,
            "docker" => Container::Docker,
            _ => Container::Other,
        });
    }
    let cgroup = probe.read("/proc/1/cgroup").unwrap_or_default();
    if cgroup.contains("kubepods") {
        Some(Container::Kubernetes)
    } else if cgroup.contains("docker") {
        Some(Container::Docker)
    } else if cgroup.contains("libpod") {
        Some(Container::Podman)
    } else if cgroup.contains("lxc") || cgroup.contains("containerd") {
        Some(Container::Other)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// A machine made of the given variables and files.
    #[derive(Default)]
    struct Fake {
        vars: HashMap<&'static str, &'static str>,
        files: HashMap<&'static str, &'static str>,
    }

    impl Fake {
        fn var(mut self, name: &'static str, value: &'static str) -> Self {
            self.vars.insert(name, value);
            self
        }
        fn file(mut self, path: &'static str, text: &'static str) -> Self {
            self.files.insert(path, text);
            self
        }
        fn kind(&self) -> Kind {
            Situation::detect(self).kind()
        }
    }

    impl Probe for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.vars
                .get(name)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string())
        }
        fn read(&self, path: &str) -> Option<String> {
            self.files.get(path).map(|t| t.to_string())
        }
        fn exists(&self, path: &str) -> bool {
            self.files.contains_key(path)
        }
    }

    fn desktop() -> Fake {
        Fake::default()
            .var("DISPLAY", ":0")
            .var("DBUS_SESSION_BUS_ADDRESS", "unix:path=/run/user/1000/bus")
            .file("/proc/version", "Linux version 6.8.0-45-generic")
            .file("/proc/1/cgroup", "0::/init.scope\n")
    }

    #[test]
    fn a_desktop_session_is_a_desktop() {
        assert_eq!(desktop().kind(), Kind::Desktop);
        assert_eq!(
            Fake::default().var("WAYLAND_DISPLAY", "wayland-0").kind(),
            Kind::Desktop
        );
    }

    #[test]
    fn ci_is_told_by_its_variables_and_wins_over_everything() {
        assert_eq!(desktop().var("CI", "true").kind(), Kind::Ci(Ci::Other));
        assert_eq!(
            desktop()
                .var("CI", "true")
                .var("GITHUB_ACTIONS", "true")
                .file("/.dockerenv", "")
                .kind(),
            Kind::Ci(Ci::GitHubActions)
        );
        assert_eq!(
            Fake::default().var("GITLAB_CI", "true").kind(),
            Kind::Ci(Ci::GitLab)
        );
        assert_eq!(
            Fake::default().var("TF_BUILD", "True").kind(),
            Kind::Ci(Ci::Other)
        );
    }

    #[test]
    fn ci_false_or_empty_is_not_ci() {
        for value in ["false", "0", "FALSE", ""] {
            assert_eq!(desktop().var("CI", value).kind(), Kind::Desktop, "{value}");
        }
    }

    #[test]
    fn containers_are_told_by_their_marks() {
        let marked = |path| Fake::default().file(path, "");
        assert_eq!(
            marked("/.dockerenv").kind(),
            Kind::Container(Container::Docker)
        );
        assert_eq!(
            marked("/run/.containerenv").kind(),
            Kind::Container(Container::Podman)
        );
        assert_eq!(
            Fake::default()
                .var("KUBERNETES_SERVICE_HOST", "10.0.0.1")
                .kind(),
            Kind::Container(Container::Kubernetes)
        );
        assert_eq!(
            Fake::default().var("container", "lxc").kind(),
            Kind::Container(Container::Other)
        );
        assert_eq!(
            Fake::default()
                .file("/proc/1/cgroup", "12:pids:/docker/3f2a9c\n")
                .kind(),
            Kind::Container(Container::Docker)
        );
        assert_eq!(
            Fake::default()
                .file("/proc/1/cgroup", "0::/kubepods/besteffort/pod1\n")
                .kind(),
            Kind::Container(Container::Kubernetes)
        );
    }

    #[test]
    fn wsl_is_told_by_its_kernel_or_its_variables() {
        assert_eq!(
            Fake::default()
                .file(
                    "/proc/version",
                    "Linux version 5.15.153.1-microsoft-standard-WSL2"
                )
                .kind(),
            Kind::Wsl
        );
        assert_eq!(
            Fake::default().var("WSL_DISTRO_NAME", "Ubuntu").kind(),
            Kind::Wsl
        );
        // WSL with an X server is still WSL: no keychain runs there either.
        assert_eq!(desktop().var("WSL_DISTRO_NAME", "Ubuntu").kind(), Kind::Wsl);
    }

    #[test]
    fn ssh_matters_only_without_a_session_bus() {
        let ssh = || Fake::default().var("SSH_CONNECTION", "10.0.0.2 51000 10.0.0.1 22");
        assert_eq!(ssh().kind(), Kind::SshWithoutBus);
        assert_eq!(
            Fake::default().var("SSH_TTY", "/dev/pts/1").kind(),
            Kind::SshWithoutBus
        );
        // `dbus-run-session` over SSH: a bus, but still no desktop.
        assert_eq!(
            ssh()
                .var("DBUS_SESSION_BUS_ADDRESS", "unix:path=/tmp/dbus-1")
                .kind(),
            Kind::Headless
        );
    }

    #[test]
    fn no_desktop_and_nothing_else_is_headless() {
        let headless = Fake::default().file("/proc/version", "Linux version 6.8.0");
        assert_eq!(headless.kind(), Kind::Headless);
        let s = Situation::detect(&headless);
        assert_eq!(s, Situation::default());
    }
}
