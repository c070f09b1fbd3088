//! Builds Cally's guest plugin workspaces (`examples/`, `tests/plugins/`) for
//! `wasm32-wasip2` from build scripts, and says where each component landed.
//!
//! ```no_run
//! // build.rs
//! use std::path::Path;
//!
//! let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
//! let out_dir = std::env::var_os("OUT_DIR").unwrap();
//! let guests = cally_guest_build::GuestWorkspace::new(root.join("examples"))
//!     .target_dir(cally_guest_build::shared_target_dir(&root))
//!     .copy_to(Path::new(&out_dir).join("examples"))
//!     .build()
//!     .unwrap_or_else(|error| cally_guest_build::fail(&error));
//! for guest in &guests {
//!     println!("{} -> {}", guest.package, guest.wasm.display());
//! }
//! ```
//!
//! # What a build does
//!
//! 1. Makes sure the `wasm32-wasip2` standard library is installed
//!    ([`ensure_target`]), running `rustup target add` if it is not.
//! 2. Lists the workspace's packages with `cargo metadata`.
//! 3. Runs `cargo build --release --target wasm32-wasip2` on the workspace, in
//!    a [`shared_target_dir`] so wit-bindgen and the SDK compile once for
//!    every guest workspace, with an environment cleaned of everything the
//!    outer cargo set for the host build ([`clean_env`]).
//! 4. Checks every `cdylib` came out as a component, copies it into the
//!    build script's `OUT_DIR` if asked ([`GuestWorkspace::copy_to`]), and prints
//!    `cargo:rerun-if-changed` for every source file it was built from (from
//!    cargo's dep-info files, which also list the WIT files wit-bindgen read)
//!    and every manifest involved.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The target guests are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The first eight bytes of every component: `\0asm`, then version `0x0d`,
/// layer `1` (a component rather than a core module).
pub const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

/// The target directory every guest workspace of the repository at
/// `repo_root` builds into: `<repo_root>/target/guests`.
pub fn shared_target_dir(repo_root: &Path) -> PathBuf {
    repo_root.join("target").join("guests")
}

/// A guest workspace to build.
#[derive(Debug, Clone)]
pub struct GuestWorkspace {
    /// The directory holding the workspace's `Cargo.toml`.
    dir: PathBuf,
    /// Where cargo puts the build; see [`shared_target_dir`].
    target_dir: Option<PathBuf>,
    /// Where the components are copied after the build, if anywhere; see
    /// [`GuestWorkspace::copy_to`].
    copy_to: Option<PathBuf>,
}

/// One component a guest workspace built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestComponent {
    /// The package name, such as `appointment-reminder`.
    pub package: String,
    /// The package's directory, where its `Cargo.toml` is.
    pub package_dir: PathBuf,
    /// The absolute path of the built component (of its copy, with
    /// [`GuestWorkspace::copy_to`]).
    pub wasm: PathBuf,
}

/// Why a guest build failed. Messages name the workspace or package and
/// include what cargo or rustup printed.
#[derive(Debug)]
#[non_exhaustive]
pub enum GuestBuildError {
    /// Occurs when a program (cargo, rustc or rustup) could not be started.
    Spawn {
        /// The command line that could not be started.
        command: String,
        /// Why.
        error: std::io::Error,
    },
    /// Occurs when the `wasm32-wasip2` standard library is missing and could
    /// not be installed.
    TargetMissing {
        /// What was tried and what it printed.
        detail: String,
    },
    /// Occurs when `cargo metadata` fails or prints something unexpected.
    Metadata {
        /// The workspace directory.
        workspace: PathBuf,
        /// What went wrong, with cargo's stderr.
        detail: String,
    },
    /// Occurs when `cargo build` fails.
    Build {
        /// The workspace directory.
        workspace: PathBuf,
        /// The command line that ran.
        command: String,
        /// Cargo's stderr.
        stderr: String,
    },
    /// Occurs when a package's build succeeded but its component is missing
    /// or is not a component (for example a core module).
    BadArtifact {
        /// The package name.
        package: String,
        /// The expected component path.
        path: PathBuf,
        /// What is wrong with it.
        problem: String,
    },
}

impl fmt::Display for GuestBuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GuestBuildError::Spawn { command, error } => {
                write!(f, "error running `{command}`: {error}")
            }
            GuestBuildError::TargetMissing { detail } => write!(
                f,
                "the {TARGET} target is not installed and could not be installed: {detail}\n\
                 hint: run `rustup target add {TARGET}`"
            ),
            GuestBuildError::Metadata { workspace, detail } => write!(
                f,
                "error reading the guest workspace '{}' with `cargo metadata`: {detail}",
                workspace.display()
            ),
            GuestBuildError::Build {
                workspace,
                command,
                stderr,
            } => write!(
                f,
                "error building the guest workspace '{}' for {TARGET}\n\
                 command: {command}\n\
                 --- cargo stderr ---\n{}",
                workspace.display(),
                stderr.trim_end()
            ),
            GuestBuildError::BadArtifact {
                package,
                path,
                problem,
            } => write!(
                f,
                "error checking the component of guest package '{package}' at '{}': {problem}",
                path.display()
            ),
        }
    }
}

impl std::error::Error for GuestBuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GuestBuildError::Spawn { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Prints `error` the way cargo shows a failed build script, then exits.
/// For build scripts: `.unwrap_or_else(|e| cally_guest_build::fail(&e))`.
pub fn fail(error: &GuestBuildError) -> ! {
    // Every message already starts with "error ...".
    eprintln!("{error}");
    std::process::exit(1)
}

impl GuestWorkspace {
    /// The guest workspace whose `Cargo.toml` is in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        GuestWorkspace {
            dir: dir.into(),
            target_dir: None,
            copy_to: None,
        }
    }

    /// Build into `target_dir` (normally [`shared_target_dir`]) rather than the
    /// workspace's own `target/`.
    pub fn target_dir(mut self, target_dir: impl Into<PathBuf>) -> Self {
        self.target_dir = Some(target_dir.into());
        self
    }

    /// Copy each component into `dir` (normally the build script's `OUT_DIR`)
    /// and hand out the copies' paths. The build script then owns the files
    /// it points to: deleting `target/guests` cannot break a build whose
    /// script cargo considers fresh (watching the components themselves
    /// instead would rerun every script once more after each guest change).
    pub fn copy_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.copy_to = Some(dir.into());
        self
    }

    /// Builds every `cdylib` package of the workspace in release mode for
    /// [`TARGET`], prints `cargo:rerun-if-changed` lines for everything the
    /// build read, and returns the components in the workspace's member order.
    pub fn build(&self) -> Result<Vec<GuestComponent>, GuestBuildError> {
        ensure_target()?;
        let dir = absolute(&self.dir);
        let packages = self.packages(&dir)?;
        let target_dir = match &self.target_dir {
            Some(target_dir) => absolute(target_dir),
            None => dir.join("target"),
        };

        let mut cargo = cargo();
        cargo
            .args(["build", "--release", "--quiet", "--target", TARGET])
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
            .arg("--target-dir")
            .arg(&target_dir);
        let command = describe(&cargo);
        let output = run(&mut cargo)?;
        // Whatever the build did, a change to the manifests must rerun it.
        let mut watched = Watched::default();
        watched.add(dir.join("Cargo.toml"));
        watched.add(dir.join("Cargo.lock"));
        for package in &packages {
            watched.add(package.dir.join("Cargo.toml"));
            // wit-bindgen reads every file in a `wit` directory.
            watched.add(package.dir.join("wit"));
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        if !output.status.success() {
            watched.add(dir.clone());
            watched.print();
            return Err(GuestBuildError::Build {
                workspace: dir,
                command,
                stderr: stderr.into_owned(),
            });
        }
        // Surface the guests' compiler warnings in the outer build.
        for line in stderr.lines().filter(|line| !line.trim().is_empty()) {
            println!("cargo:warning=[{}] {line}", dir.display());
        }

        let out_dir = target_dir.join(TARGET).join("release");
        let mut components = Vec::new();
        for package in packages {
            let wasm = out_dir.join(format!("{}.wasm", package.lib_name));
            check_component(&package.name, &wasm)?;
            watched.add_dep_info(&wasm.with_extension("d"));
            let wasm = match &self.copy_to {
                Some(dir) => copy_component(&package.name, &wasm, dir)?,
                None => wasm,
            };
            components.push(GuestComponent {
                package: package.name,
                package_dir: package.dir,
                wasm,
            });
        }
        watched.print();
        Ok(components)
    }

    /// The workspace members that build a `cdylib`, in member order.
    fn packages(&self, dir: &Path) -> Result<Vec<Package>, GuestBuildError> {
        let metadata_error = |detail: String| GuestBuildError::Metadata {
            workspace: dir.to_path_buf(),
            detail,
        };
        let mut cargo = cargo();
        cargo
            .args([
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--manifest-path",
            ])
            .arg(dir.join("Cargo.toml"));
        let output = run(&mut cargo)?;
        if !output.status.success() {
            return Err(metadata_error(format!(
                "cargo exited with {}\n--- cargo stderr ---\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            )));
        }
        let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)
            .map_err(|error| metadata_error(format!("its output is not JSON: {error}")))?;
        parse_packages(&metadata).map_err(metadata_error)
    }
}

/// A workspace member that builds a component.
#[derive(Debug, PartialEq)]
struct Package {
    /// The package name, such as `appointment-reminder`.
    name: String,
    /// The library target's name, such as `appointment_reminder`: the file
    /// name of the component.
    lib_name: String,
    /// The package directory.
    dir: PathBuf,
}

/// The `cdylib` packages of `cargo metadata --no-deps` output, in the order of
/// `workspace_members`.
fn parse_packages(metadata: &serde_json::Value) -> Result<Vec<Package>, String> {
    let field = |value: &serde_json::Value, name: &str| -> Result<String, String> {
        value[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("missing string field `{name}`"))
    };
    let members = metadata["workspace_members"]
        .as_array()
        .ok_or("missing `workspace_members`")?;
    let packages = metadata["packages"]
        .as_array()
        .ok_or("missing `packages`")?;
    let mut found = Vec::new();
    for member in members {
        let Some(package) = packages.iter().find(|package| package["id"] == *member) else {
            return Err(format!(
                "workspace member {member} is not among the packages"
            ));
        };
        let name = field(package, "name")?;
        let manifest = PathBuf::from(field(package, "manifest_path")?);
        let lib = package["targets"].as_array().and_then(|targets| {
            targets.iter().find(|target| {
                target["kind"]
                    .as_array()
                    .is_some_and(|kinds| kinds.iter().any(|kind| kind == "cdylib"))
            })
        });
        let Some(lib) = lib else {
            // Not a plugin (a shared helper crate, say): nothing to collect.
            continue;
        };
        found.push(Package {
            lib_name: field(lib, "name")?.replace('-', "_"),
            dir: manifest
                .parent()
                .ok_or_else(|| format!("package `{name}` has no manifest directory"))?
                .to_path_buf(),
            name,
        });
    }
    if found.is_empty() {
        return Err("the workspace has no `cdylib` package to build".into());
    }
    Ok(found)
}

/// Makes sure the [`TARGET`] standard library is installed for the `rustc`
/// that cargo uses (`$RUSTC`, else `rustc`), running
/// `rustup target add wasm32-wasip2` if it is not.
pub fn ensure_target() -> Result<(), GuestBuildError> {
    let libdir = target_libdir()?;
    if has_std(&libdir) {
        return Ok(());
    }
    let mut rustup = Command::new("rustup");
    rustup.args(["target", "add", TARGET]);
    let command = describe(&rustup);
    let output = rustup
        .output()
        .map_err(|error| GuestBuildError::TargetMissing {
            detail: format!(
                "no standard library in '{}', and `{command}` could not run: {error}",
                libdir.display()
            ),
        })?;
    if !output.status.success() || !has_std(&target_libdir()?) {
        return Err(GuestBuildError::TargetMissing {
            detail: format!(
                "no standard library in '{}', and `{command}` failed ({}): {}",
                libdir.display(),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            ),
        });
    }
    Ok(())
}

/// Where `rustc` keeps the [`TARGET`] standard library (whether or not it is there).
fn target_libdir() -> Result<PathBuf, GuestBuildError> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let mut command = Command::new(rustc);
    command.args(["--print", "target-libdir", "--target", TARGET]);
    let output = run(&mut command)?;
    if !output.status.success() {
        return Err(GuestBuildError::TargetMissing {
            detail: format!(
                "`{}` failed ({}): {}",
                describe(&command),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim_end()
            ),
        });
    }
    Ok(PathBuf::from(
        String::from_utf8_lossy(&output.stdout).trim(),
    ))
}

/// Whether `libdir` holds a `libstd-*.rlib`.
fn has_std(libdir: &Path) -> bool {
    std::fs::read_dir(libdir).is_ok_and(|entries| {
        entries.flatten().any(|entry| {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            name.starts_with("libstd-") && name.ends_with(".rlib")
        })
    })
}

/// Checks that `path` exists and starts with [`COMPONENT_HEADER`].
fn check_component(package: &str, path: &Path) -> Result<(), GuestBuildError> {
    let problem = |problem: String| GuestBuildError::BadArtifact {
        package: package.to_owned(),
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|error| {
        problem(format!(
            "cannot read it ({error}); is the package's crate-type \"cdylib\"?"
        ))
    })?;
    match bytes.get(..8) {
        Some(header) if header == COMPONENT_HEADER => Ok(()),
        Some([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]) => Err(problem(format!(
            "it is a core module, not a component; build for {TARGET}"
        ))),
        _ => Err(problem(
            "it does not start with the component header".into(),
        )),
    }
}

/// Copies `package`'s component `wasm` into `dir`, keeping its file name.
fn copy_component(package: &str, wasm: &Path, dir: &Path) -> Result<PathBuf, GuestBuildError> {
    let copy = absolute(dir).join(wasm.file_name().unwrap_or(package.as_ref()));
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::copy(wasm, &copy))
        .map_err(|error| GuestBuildError::BadArtifact {
            package: package.to_owned(),
            path: copy.clone(),
            problem: format!("cannot copy it from '{}': {error}", wasm.display()),
        })?;
    Ok(copy)
}

/// `$CARGO` (the cargo running this build script), else `cargo`, with
/// [`clean_env`] applied.
fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    clean_env(&mut cargo);
    cargo.env("CARGO_TERM_COLOR", "never");
    cargo
}

/// Variables the outer cargo sets for the host build that must not leak into
/// a nested guest build: compiler flags and wrappers (clippy's
/// `RUSTC_WORKSPACE_WRAPPER` would lint the guests; host `RUSTFLAGS` may not
/// suit wasm), the target and target directory, and build-script variables.
pub const REMOVED_VARS: &[&str] = &[
    "CARGO_ENCODED_RUSTFLAGS",
    "RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_ENCODED_RUSTDOCFLAGS",
    "RUSTDOCFLAGS",
    "CARGO_BUILD_RUSTDOCFLAGS",
    "RUSTC_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WORKSPACE_WRAPPER",
    "CARGO_TARGET_DIR",
    "CARGO_BUILD_TARGET_DIR",
    "CARGO_BUILD_BUILD_DIR",
    "CARGO_BUILD_TARGET",
    "CARGO_MANIFEST_DIR",
    "CARGO_MANIFEST_PATH",
    "CARGO_MANIFEST_LINKS",
    "CARGO_PRIMARY_PACKAGE",
    "CARGO_CRATE_NAME",
    "OUT_DIR",
    "TARGET",
    "HOST",
    "PROFILE",
    "OPT_LEVEL",
    "DEBUG",
    "NUM_JOBS",
    "RUSTC_LINKER",
];

/// Prefixes of variables removed for the same reason: per-profile overrides
/// (`CARGO_PROFILE_RELEASE_LTO`...) and the host crate's cfg, features and
/// package data.
pub const REMOVED_PREFIXES: &[&str] = &[
    "CARGO_PROFILE_",
    "CARGO_CFG_",
    "CARGO_FEATURE_",
    "CARGO_PKG_",
];

/// Removes from `command`'s environment what the outer cargo set for the host
/// build ([`REMOVED_VARS`], [`REMOVED_PREFIXES`]). `CARGO_MAKEFLAGS` stays on
/// purpose: the nested cargo then shares the outer one's jobserver, so the
/// whole build stays within `-j`. `RUSTC` stays so guests build with the same
/// toolchain.
pub fn clean_env(command: &mut Command) {
    for var in REMOVED_VARS {
        command.env_remove(var);
    }
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if REMOVED_PREFIXES
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            command.env_remove(name);
        }
    }
}

/// The `cargo:rerun-if-changed` paths of one build, printed once each.
#[derive(Default)]
struct Watched(BTreeSet<PathBuf>);

impl Watched {
    fn add(&mut self, path: PathBuf) {
        // A path that does not exist would make every build dirty.
        if path.exists() {
            self.0.insert(path);
        }
    }

    /// Adds every file named in the dep-info file `deps` (cargo writes one
    /// next to each artifact; wit-bindgen makes it list the WIT files too),
    /// and the `Cargo.toml` of each Rust source's package.
    fn add_dep_info(&mut self, deps: &Path) {
        let Ok(contents) = std::fs::read_to_string(deps) else {
            return;
        };
        for file in dep_info_files(&contents) {
            if file.extension().is_some_and(|ext| ext == "rs")
                && let Some(manifest) = file
                    .ancestors()
                    .skip(1)
                    .map(|dir| dir.join("Cargo.toml"))
                    .find(|manifest| manifest.is_file())
            {
                self.add(manifest);
            }
            self.add(file);
        }
    }

    fn print(&self) {
        for path in &self.0 {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}

/// The prerequisites in a makefile-style dep-info file (`target: a.rs b.rs`,
/// with `\ ` escaping spaces in paths).
fn dep_info_files(contents: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for line in contents.lines() {
        let Some((_, prerequisites)) = line.split_once(": ") else {
            continue;
        };
        let mut current = String::new();
        let mut chars = prerequisites.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' if chars.peek() == Some(&' ') => {
                    current.push(' ');
                    chars.next();
                }
                ' ' => {
                    if !current.is_empty() {
                        files.push(PathBuf::from(std::mem::take(&mut current)));
                    }
                }
                c => current.push(c),
            }
        }
        if !current.is_empty() {
            files.push(PathBuf::from(current));
        }
    }
    files
}

fn run(command: &mut Command) -> Result<Output, GuestBuildError> {
    command.output().map_err(|error| GuestBuildError::Spawn {
        command: describe(command),
        error,
    })
}

/// `command` as a shell-like line, for messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `path` made absolute against the current directory (a build script runs
/// in its package's directory), without resolving symlinks.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dep_info_lists_prerequisites_with_escaped_spaces() {
        let contents = "/t/a.wasm: /src/lib.rs /my\\ dir/x.rs /wit/plugin.wit\n\n/src/lib.rs:\n";
        assert_eq!(
            dep_info_files(contents),
            [
                PathBuf::from("/src/lib.rs"),
                PathBuf::from("/my dir/x.rs"),
                PathBuf::from("/wit/plugin.wit"),
            ]
        );
    }

    #[test]
    fn packages_come_in_member_order_and_skip_non_plugins() {
        let metadata: serde_json::Value = serde_json::from_str(
            r#"{
                "workspace_members": ["b-id", "helper-id", "a-id"],
                "packages": [
                    {"id": "a-id", "name": "a-plugin", "manifest_path": "/ws/a/Cargo.toml",
                     "targets": [{"name": "a_plugin", "kind": ["cdylib"]}]},
                    {"id": "helper-id", "name": "helper", "manifest_path": "/ws/h/Cargo.toml",
                     "targets": [{"name": "helper", "kind": ["lib"]}]},
                    {"id": "b-id", "name": "b-plugin", "manifest_path": "/ws/b/Cargo.toml",
                     "targets": [{"name": "b-plugin", "kind": ["cdylib", "rlib"]}]}
                ]
            }"#,
        )
        .unwrap();
        let packages = parse_packages(&metadata).unwrap();
        let names: Vec<_> = packages
            .iter()
            .map(|p| (p.name.as_str(), p.lib_name.as_str()))
            .collect();
        assert_eq!(names, [("b-plugin", "b_plugin"), ("a-plugin", "a_plugin")]);
        assert_eq!(packages[0].dir, PathBuf::from("/ws/b"));
    }

    #[test]
    fn errors_name_the_workspace_and_show_cargo_stderr() {
        let error = GuestBuildError::Build {
            workspace: PathBuf::from("/repo/examples"),
            command: "cargo build".into(),
            stderr: "error[E0425]: cannot find value `x`\n".into(),
        };
        let message = error.to_string();
        assert!(message.starts_with("error building the guest workspace '/repo/examples'"));
        assert!(message.ends_with("error[E0425]: cannot find value `x`"));
    }

    #[test]
    fn a_core_module_is_not_a_component() {
        let dir = std::env::temp_dir().join(format!("cally-guest-build-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let module = dir.join("module.wasm");
        std::fs::write(&module, b"\0asm\x01\0\0\0").unwrap();
        let error = check_component("m", &module).unwrap_err().to_string();
        assert!(error.contains("core module"), "{error}");
        let component = dir.join("component.wasm");
        std::fs::write(&component, COMPONENT_HEADER).unwrap();
        assert!(check_component("c", &component).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
