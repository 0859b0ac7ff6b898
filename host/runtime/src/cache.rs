//! Compiled components cached on disk, so that a restart or a second process does not compile
//! the same plugin again.
//!
//! An entry is keyed by the `.wasm` file's SHA-256 and the engine's compatibility hash (wasmtime
//! version and every setting that affects code generation), so a stale or foreign artifact is never
//! picked up. Entries are written to a temporary file and renamed into place, so a reader never
//! sees half a file. The directory must be writable only by Switchboard: loading an artifact runs
//! its machine code.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of compiled components.
#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
    engine_key: String,
}

impl ArtifactCache {
    pub fn new(dir: PathBuf, engine: &Engine) -> Self {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        ArtifactCache {
            dir,
            engine_key: format!("{:016x}", hasher.finish()),
        }
    }

    /// The component for `wasm`, whose digest is `sha256`: from the cache when it is there,
    /// otherwise compiled and stored. A cache that cannot be read or written only costs time.
    pub fn component(
        &self,
        engine: &Engine,
        sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<Component> {
        let path = self.path_for(sha256);
        if path.is_file() {
            // SAFETY: the file was written by `store` below from `Component::serialize` of the
            // same digest, for an engine with the same compatibility hash, in a directory only
            // Switchboard writes to.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => {
                    tracing::warn!(path = %path.display(), %error, "ignoring unreadable compiled plugin")
                }
            }
        }
        let component = Component::new(engine, wasm)?;
        if let Err(error) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), %error, "could not cache compiled plugin");
        }
        Ok(component)
    }

    fn path_for(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}-{}.cwasm", self.engine_key))
    }

    fn store(&self, path: &Path, component: &Component) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let bytes = component.serialize()?;
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&temporary, bytes)?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    }
}
