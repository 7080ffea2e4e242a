//! A Docker image built on this machine from the binary under test.
//!
//! There is no registry to pull from, so the image is `FROM scratch` plus
//! exactly what the binary needs to run: itself, copied to `/sextant`, the
//! shared libraries `ldd` lists for it at the same absolute paths (the dynamic
//! loader included), and an empty `/tmp`. glibc 2.34 and later carry the
//! `files` and `dns` NSS modules inside libc itself, and Docker injects
//! `/etc/hosts` and `/etc/resolv.conf`, so names of other containers resolve
//! without a base image.
//!
//! The tag is `sextant-test:<hash>`, the hash covering the binary, its
//! libraries and the Dockerfile, so an unchanged binary reuses the image (in
//! this process and the next) and a rebuilt one gets a new image. Building
//! goes through testcontainers'
//! [`GenericBuildableImage`](testcontainers::GenericBuildableImage), which
//! sends the context to the engine's BuildKit; `FROM scratch` needs nothing
//! from the network.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use testcontainers::runners::AsyncBuilder;
use testcontainers::{GenericBuildableImage, GenericImage};

use crate::docker;
use crate::{Error, Result};

/// Repository name of every image the harness builds.
pub const IMAGE_NAME: &str = "sextant-test";

/// Path of the binary inside the image; also the entry point.
pub const BINARY_IN_IMAGE: &str = "/sextant";

const DOCKERFILE: &str = r#"FROM scratch
LABEL sextant.testkit="1"
COPY . /
ENTRYPOINT ["/sextant"]
"#;

const DOCKERIGNORE: &str = "Dockerfile\n.dockerignore\n";

/// A locally built image that runs one `sextant` binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SextantImage {
    tag: String,
}

impl SextantImage {
    /// Builds the image for `binary`, or finds the one already built for the
    /// same content. Builds are serialised within the process, so concurrent
    /// tests asking for the same binary build it once.
    pub async fn build(binary: &Path) -> Result<SextantImage> {
        static BUILD_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        static BUILT: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

        docker::ensure_available().await?;
        let binary = std::fs::canonicalize(binary)
            .map_err(Error::io(format!("find the binary {}", binary.display())))?;
        let libs = shared_libraries(&binary).await?;
        let tag = content_tag(&binary, &libs).await?;
        let image = SextantImage { tag };

        let _build = BUILD_LOCK.lock().await;
        let built = || BUILT.lock().expect("no code panics while holding BUILT");
        if built().contains(&image.tag) {
            return Ok(image);
        }
        if !image.exists().await? {
            image.build_now(&binary, &libs).await?;
            prune_old_images().await;
        }
        built().insert(image.tag.clone());
        Ok(image)
    }

    /// The image tag, a hash of its content.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    /// `sextant-test:<tag>`, as `docker run` takes it.
    pub fn descriptor(&self) -> String {
        format!("{IMAGE_NAME}:{}", self.tag)
    }

    pub(crate) fn generic(&self) -> GenericImage {
        GenericImage::new(IMAGE_NAME.to_owned(), self.tag.clone())
    }

    async fn exists(&self) -> Result<bool> {
        let output = docker::run_output(
            "look up a test image",
            &[
                "image",
                "inspect",
                "--format",
                "{{.Id}}",
                &self.descriptor(),
            ],
        )
        .await?;
        Ok(output.status.success())
    }

    async fn build_now(&self, binary: &Path, libs: &[PathBuf]) -> Result<()> {
        let mut context = GenericBuildableImage::new(IMAGE_NAME, self.tag.as_str())
            .with_dockerfile_string(DOCKERFILE)
            .with_data(DOCKERIGNORE, ".dockerignore")
            .with_file(binary, BINARY_IN_IMAGE)
            // The binary or its libraries may want a temp dir.
            .with_data(Vec::new(), "tmp/.keep");
        for lib in libs {
            let in_image = lib.to_str().ok_or_else(|| Error::Ldd {
                binary: binary.to_owned(),
                reason: format!("library path {} is not UTF-8", lib.display()),
            })?;
            context = context.with_file(lib, in_image);
        }
        // The built image is what `generic()` names; the returned handle is
        // not needed.
        let _built = context.build_image().await.map_err(Error::tc(format!(
            "build image {} from {}",
            self.descriptor(),
            binary.display()
        )))?;
        Ok(())
    }
}

/// Lists the absolute paths of the shared libraries `binary` loads, the
/// dynamic loader included. A static binary has none.
async fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let output = tokio::process::Command::new("ldd")
        .arg(binary)
        .output()
        .await
        .map_err(|e| Error::Ldd {
            binary: binary.to_owned(),
            reason: format!("could not run `ldd`: {e}"),
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stdout.contains("statically linked") || stderr.contains("not a dynamic executable") {
        return Ok(Vec::new());
    }
    if !output.status.success() {
        return Err(Error::Ldd {
            binary: binary.to_owned(),
            reason: format!("`ldd` {}: {}", output.status, stderr.trim()),
        });
    }
    parse_ldd(&stdout).map_err(|reason| Error::Ldd {
        binary: binary.to_owned(),
        reason,
    })
}

/// Parses `ldd` output. Lines look like
/// `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`,
/// `/lib64/ld-linux-x86-64.so.2 (0x...)` (the loader), or
/// `linux-vdso.so.1 (0x...)` (provided by the kernel, no file).
fn parse_ldd(stdout: &str) -> Result<Vec<PathBuf>, String> {
    let mut libs = Vec::new();
    for line in stdout.lines() {
        let line = line.trim();
        let target = match line.split_once("=>") {
            Some((name, target)) => {
                let target = target.trim();
                if target.starts_with("not found") {
                    return Err(format!("`ldd` says {} is not found", name.trim()));
                }
                target
            }
            None => line,
        };
        let path = target.split_whitespace().next().unwrap_or("");
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    libs.sort();
    libs.dedup();
    Ok(libs)
}

/// A tag naming the image content: CRC32C and total length of the
/// Dockerfile, the binary and each library path and content. Collisions
/// between two builds of one binary would need both to match, which is
/// unlikely enough for a test cache (and a stale hit would show as a wrong
/// binary, not as silent data loss).
async fn content_tag(binary: &Path, libs: &[PathBuf]) -> Result<String> {
    let mut crc = crc32c::crc32c(DOCKERFILE.as_bytes());
    let mut len = DOCKERFILE.len() as u64;
    let mut add = |bytes: &[u8]| {
        crc = crc32c::crc32c_append(crc, bytes);
        len += bytes.len() as u64;
    };
    let contents = tokio::fs::read(binary)
        .await
        .map_err(Error::io(format!("read {}", binary.display())))?;
    add(&contents);
    for lib in libs {
        add(lib.as_os_str().as_encoded_bytes());
        let contents = tokio::fs::read(lib)
            .await
            .map_err(Error::io(format!("read {}", lib.display())))?;
        add(&contents);
    }
    Ok(format!("{crc:08x}-{len:x}"))
}

/// Removes harness images and build cache that are older than
/// [`docker::PRUNE_AFTER`] and unused. Best effort: a failure only costs disk.
async fn prune_old_images() {
    let label = format!("label={}", docker::IMAGE_LABEL);
    let until = format!("until={}", docker::PRUNE_AFTER);
    let prunes: [(&str, Vec<&str>); 2] = [
        (
            "prune old test images",
            vec![
                "image", "prune", "--all", "--force", "--filter", &label, "--filter", &until,
            ],
        ),
        (
            "prune old build cache",
            vec!["builder", "prune", "--force", "--filter", &until],
        ),
    ];
    for (action, args) in prunes {
        if let Err(e) = docker::run(action, &args).await {
            eprintln!("sextant-testkit: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ldd_takes_libraries_and_loader() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd5b1f2000)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f0c1c000000)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0c1be00000)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c1c1f0000)\n";
        let libs = parse_ldd(out).expect("well-formed ldd output parses");
        assert_eq!(
            libs,
            [
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib64/ld-linux-x86-64.so.2",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn parse_ldd_rejects_missing_library() {
        let out = "\tlibfoo.so.1 => not found\n\tlibc.so.6 => /lib/libc.so.6 (0x1)\n";
        let err = parse_ldd(out).expect_err("a missing library is an error");
        assert!(err.contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn dockerfile_matches_constants() {
        assert!(DOCKERFILE.contains(&format!("ENTRYPOINT [\"{BINARY_IN_IMAGE}\"]")));
        assert!(DOCKERFILE.contains(&format!("LABEL {}=", docker::IMAGE_LABEL)));
        assert!(
            DOCKERFILE.starts_with("FROM scratch\n"),
            "nothing may be pulled"
        );
    }
}
