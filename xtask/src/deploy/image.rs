//! `cargo xtask image`: the node's container image, `tianping:dev`, built `FROM scratch`.
//!
//! No base image can be pulled (the machines this runs on may have no registry), so the
//! build context is a root filesystem assembled here: the release `tianping` binary, the
//! shared libraries `ldd` lists for it (at the paths the dynamic loader looks in), the
//! `passwd`/`group` entries of the unprivileged user the node runs as, and an empty data
//! directory. `deploy/docker/Dockerfile` copies it in; nothing else enters the image — no
//! shell, no configuration, no keys.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{self, Progress};

/// The image every deployment test and example runs.
pub const IMAGE: &str = "tianping:dev";

/// The Dockerfile, relative to the workspace root.
const DOCKERFILE: &str = "deploy/docker/Dockerfile";

/// The unprivileged user and group the node runs as (the Dockerfile's `USER` and the data
/// directory's owner say the same number).
const USER_ID: u32 = 10001;

/// `cargo xtask image --help`.
pub const HELP: &str = "\
cargo xtask image: build the node's container image, tianping:dev

USAGE:
    cargo xtask image

Builds the release `tianping` binary, assembles a root filesystem beside the target
directory (tianping-image/: the binary without its debug info (binutils `strip
--strip-debug`), the shared libraries `ldd` lists for it, /etc/passwd
with the unprivileged user `tianping` (uid 10001), an empty /var/lib/tianping) and runs
`docker build -f deploy/docker/Dockerfile -t tianping:dev` over it. The image is FROM
scratch: nothing is pulled. Needs a running Docker daemon.
";

/// Runs `cargo xtask image`.
pub fn run() -> Result<(), String> {
    let progress = Progress::start("image");
    build(&progress)?;
    progress.say(&format!(
        "built {IMAGE}; try: docker run --rm {IMAGE} --help, or deploy/compose/ (README: Deploy)"
    ));
    Ok(())
}

/// Builds the binary, the root filesystem and the image.
pub fn build(progress: &Progress) -> Result<(), String> {
    let binary = process::build_tianping(progress)?;
    let context = context_directory();
    assemble(&binary, &context)?;
    progress.say(&format!("root filesystem assembled in {}", context.display()));
    strip_debug_info(progress, &context.join("rootfs/usr/local/bin/tianping"));
    let mut docker = Command::new("docker");
    docker
        .args(["build", "--quiet", "--tag", IMAGE, "--file"])
        .arg(process::workspace_root().join(DOCKERFILE))
        .arg(&context);
    progress.say(&format!("building the image: {}", process::describe(&docker)));
    process::run(&mut docker)
}

/// Drops the binary's DWARF line tables from the image's copy (the release profile keeps
/// them for local backtraces and profilers; they are most of its size). Function names stay,
/// so a panic's backtrace still names where it happened. Without binutils' `strip` the
/// image keeps them, saying so.
fn strip_debug_info(progress: &Progress, binary: &Path) {
    let mut strip = Command::new("strip");
    strip.arg("--strip-debug").arg(binary);
    if process::succeeds(&mut strip) {
        progress.say("debug info stripped from the image's copy of the binary");
    } else {
        progress
            .say("note: `strip --strip-debug` did not run (binutils); the image keeps debug info");
    }
}

/// The build context: beside the target directory's `release`, rebuilt on every run.
fn context_directory() -> PathBuf {
    process::target_directory().join("tianping-image")
}

/// Assembles the build context for `binary` in `context`: `rootfs/` and an empty `data/`.
fn assemble(binary: &Path, context: &Path) -> Result<(), String> {
    if context.exists() {
        std::fs::remove_dir_all(context)
            .map_err(|error| format!("clearing {}: {error}", context.display()))?;
    }
    let rootfs = context.join("rootfs");
    copy_into(&rootfs, binary, Path::new("/usr/local/bin/tianping"))?;
    for library in shared_libraries(binary)? {
        copy_into(&rootfs, &library, &library)?;
    }
    let etc = rootfs.join("etc");
    let files = [
        (
            "passwd",
            format!(
                "root:x:0:0:root:/root:/sbin/nologin\n\
                 tianping:x:{USER_ID}:{USER_ID}:Tianping node:/var/lib/tianping:/sbin/nologin\n"
            ),
        ),
        ("group", format!("root:x:0:\ntianping:x:{USER_ID}:\n")),
        // Peers are named by host name (Compose services, Kubernetes pod DNS): /etc/hosts
        // first, then DNS, which glibc resolves without loading a module.
        ("nsswitch.conf", "passwd: files\ngroup: files\nhosts: files dns\n".to_owned()),
    ];
    for (name, text) in files {
        write_file(&etc.join(name), &text)?;
    }
    let data = context.join("data");
    std::fs::create_dir_all(&data).map_err(|error| format!("creating {}: {error}", data.display()))
}

/// Copies `source` to `target` (an absolute path inside the image) under `rootfs`, following
/// symbolic links so the image holds the file itself.
fn copy_into(rootfs: &Path, source: &Path, target: &Path) -> Result<(), String> {
    let relative = target.strip_prefix("/").unwrap_or(target);
    let destination = rootfs.join(relative);
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("creating {}: {error}", parent.display()))?;
    }
    std::fs::copy(source, &destination).map(|_| ()).map_err(|error| {
        format!("copying {} to {}: {error}", source.display(), destination.display())
    })
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|error| format!("creating {}: {error}", parent.display()))?;
    }
    std::fs::write(path, text).map_err(|error| format!("writing {}: {error}", path.display()))
}

/// The shared libraries `binary` loads, the dynamic loader included, as `ldd` resolves them.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, String> {
    let output = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|error| format!("could not run ldd (glibc's, Debian libc-bin): {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        return Err(format!(
            "ldd {} failed ({}): {text}{}",
            binary.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    parse_ldd(&text)
}

/// The library paths of `ldd`'s output: `name => /path (0x…)` and `/path (0x…)` lines; the
/// kernel's vDSO (no path) needs no file. A library `ldd` could not find is an error, named.
fn parse_ldd(text: &str) -> Result<Vec<PathBuf>, String> {
    let mut libraries = Vec::new();
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if line.contains("not found") {
            return Err(format!("ldd: a library of the binary is missing: {line}"));
        }
        let path = match line.split_once("=>") {
            Some((_name, resolved)) => resolved.trim(),
            None => line,
        };
        let path = path.split_whitespace().next().unwrap_or_default();
        if path.starts_with('/') {
            libraries.push(PathBuf::from(path));
        }
    }
    if libraries.is_empty() {
        return Err(format!(
            "ldd listed no libraries (a static binary needs no image change): {text}"
        ));
    }
    Ok(libraries)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_lines_give_library_paths_and_the_loader() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd5a9f2000)\n\
            \tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f1)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f2)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f3)\n";
        let libraries = parse_ldd(text).expect("parses");
        assert_eq!(
            libraries,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libstdc++.so.6"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        let missing = "\tlibsnappy.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
        let error = parse_ldd(missing).expect_err("a missing library");
        assert!(error.contains("libsnappy"), "{error}");
        assert!(parse_ldd("\tstatically linked\n").is_err());
    }

    #[test]
    fn the_root_filesystem_holds_the_binary_its_libraries_and_the_user() {
        let scratch = std::env::temp_dir().join(format!("xtask-image-{}", std::process::id()));
        let context = scratch.join("context");
        // Any dynamically linked program will do: the test's own executable.
        let binary = std::env::current_exe().expect("the test binary");
        assemble(&binary, &context).expect("assembles");
        let rootfs = context.join("rootfs");
        // Exactly these files, so nothing else (a key, a configuration) can reach the image.
        let mut expected: Vec<PathBuf> = shared_libraries(&binary)
            .expect("ldd")
            .iter()
            .map(|library| rootfs.join(library.strip_prefix("/").expect("absolute")))
            .collect();
        for file in ["usr/local/bin/tianping", "etc/passwd", "etc/group", "etc/nsswitch.conf"] {
            expected.push(rootfs.join(file));
        }
        expected.sort();
        let mut found = Vec::new();
        let mut pending = vec![context.clone()];
        while let Some(directory) = pending.pop() {
            for entry in std::fs::read_dir(&directory).expect("read").flatten() {
                let path = entry.path();
                if path.is_dir() { pending.push(path) } else { found.push(path) }
            }
        }
        found.sort();
        assert_eq!(found, expected, "the build context holds exactly these files");
        let passwd = std::fs::read_to_string(rootfs.join("etc/passwd")).expect("passwd");
        assert!(passwd.contains(&format!("tianping:x:{USER_ID}:{USER_ID}:")), "{passwd}");
        assert!(context.join("data").is_dir());
        let dockerfile = std::fs::read_to_string(process::workspace_root().join(DOCKERFILE))
            .expect("the Dockerfile");
        assert!(dockerfile.contains(&format!("USER {USER_ID}:{USER_ID}")), "Dockerfile USER");
        assert!(dockerfile.contains(&format!("--chown={USER_ID}:{USER_ID} data/")));
        let _ = std::fs::remove_dir_all(&scratch);
    }
}
