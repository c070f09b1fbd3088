//! Turning uploaded bytes into something a call can instantiate: checking and
//! compiling components, reading their imports and exports, keeping compiled
//! plugins in memory (moka, keyed by digest) and on disk (precompiled artifacts
//! under the data directory, authenticated with the host's artifact key and
//! reused after a restart).

mod artifact_key;
mod artifacts;
mod digest;
mod interface;

pub use artifact_key::{ARTIFACT_KEY_FILE, ArtifactKey};
pub use artifacts::{ArtifactLoad, ArtifactStore};
pub use digest::ComponentDigest;
pub use interface::{ComponentInterface, World};

use std::path::Path;
use std::sync::Arc;

use moka::sync::Cache;
use wasmtime::component::Component;

use crate::bindings::{call_flow::CallFlowPre, lead_tagger::LeadTaggerPre};
use crate::sandbox::{PluginState, Sandbox};

/// Occurs when bytes cannot become a runnable plugin.
#[derive(Debug, thiserror::Error)]
pub enum ComponentError {
    /// Occurs when the bytes are not a WebAssembly component at all.
    #[error("not a WebAssembly component: {0}")]
    Malformed(String),
    /// Occurs when the component exports neither world's entry point.
    #[error(
        "component exports neither `on-event` (world call-flow) nor `tag-call` (world lead-tagger); found exports: {found}"
    )]
    UnknownWorld {
        /// The exports that were found.
        found: String,
    },
    /// Occurs when a component of one world is used where another is expected.
    #[error("component targets world {found}, but {expected} was expected")]
    WrongWorld {
        /// The world that was needed.
        expected: World,
        /// The world the component targets.
        found: World,
    },
    /// Occurs when the component imports something the host does not provide.
    #[error(
        "component imports {}, which Cally does not provide to plugins (filesystem and sockets are never granted)",
        quoted(imports)
    )]
    UnsupportedImports {
        /// Every import the host does not provide, in the component's order.
        imports: Vec<String>,
    },
    /// Occurs when wasmtime cannot compile or link the component.
    #[error("cannot compile the component: {0:#}")]
    Compile(wasmtime::Error),
    /// Occurs when the component file cannot be read.
    #[error("cannot read component {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

/// A plugin ready to instantiate for a call: compiled, linked, and its world known.
pub struct CompiledPlugin {
    /// The SHA-256 of the component's bytes.
    pub digest: ComponentDigest,
    /// What the component imports and exports.
    pub interface: ComponentInterface,
    /// Pre-linked instance factory for the plugin's world.
    pub pre: PluginPre,
    /// Whether a precompiled artifact was used, and if not, why.
    pub artifact: ArtifactLoad,
}

/// A pre-linked instance factory, one kind per world.
pub enum PluginPre {
    /// For `call-flow` plugins.
    CallFlow(CallFlowPre<PluginState>),
    /// For `lead-tagger` plugins.
    LeadTagger(LeadTaggerPre<PluginState>),
}

impl CompiledPlugin {
    /// The world the plugin targets.
    pub fn world(&self) -> World {
        match self.pre {
            PluginPre::CallFlow(_) => World::CallFlow,
            PluginPre::LeadTagger(_) => World::LeadTagger,
        }
    }
}

/// Compiles components once and keeps them: in memory by digest, and on disk
/// as precompiled artifacts when an [`ArtifactStore`] is configured.
pub struct ComponentCache {
    sandbox: Arc<Sandbox>,
    artifacts: Option<ArtifactStore>,
    compiled: Cache<ComponentDigest, Arc<CompiledPlugin>>,
}

/// How many compiled plugins stay in memory; each is a few hundred KiB.
const COMPILED_CAPACITY: u64 = 1024;

impl ComponentCache {
    /// A cache for `sandbox`'s engine, with precompiled artifacts kept in
    /// `artifacts` if given.
    pub fn new(sandbox: Arc<Sandbox>, artifacts: Option<ArtifactStore>) -> Self {
        Self {
            sandbox,
            artifacts,
            compiled: Cache::new(COMPILED_CAPACITY),
        }
    }

    /// The sandbox plugins from this cache run in.
    pub fn sandbox(&self) -> &Arc<Sandbox> {
        &self.sandbox
    }

    /// Reads a component file and loads it; see [`ComponentCache::load`].
    pub fn load_file(&self, path: &Path) -> Result<Arc<CompiledPlugin>, ComponentError> {
        let bytes = std::fs::read(path).map_err(|source| ComponentError::Read {
            path: path.display().to_string(),
            source,
        })?;
        self.load(&bytes)
    }

    /// Returns the compiled plugin for `wasm`: from memory, from a precompiled
    /// artifact, or compiled now (and the artifact written).
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<CompiledPlugin>, ComponentError> {
        let digest = ComponentDigest::of(wasm);
        if let Some(plugin) = self.compiled.get(&digest) {
            return Ok(plugin);
        }
        let interface = ComponentInterface::read(wasm)?;
        let world = interface.world()?;
        let (component, artifact) = self.component(&digest, wasm)?;
        let pre = self.link(&component, world, &interface)?;
        let plugin = Arc::new(CompiledPlugin {
            digest: digest.clone(),
            interface,
            pre,
            artifact,
        });
        self.compiled.insert(digest, plugin.clone());
        Ok(plugin)
    }

    fn component(
        &self,
        digest: &ComponentDigest,
        wasm: &[u8],
    ) -> Result<(Component, ArtifactLoad), ComponentError> {
        let engine = self.sandbox.engine();
        let Some(artifacts) = &self.artifacts else {
            let component = Component::new(engine, wasm).map_err(ComponentError::Compile)?;
            return Ok((component, ArtifactLoad::Missing));
        };
        let (component, load) = artifacts.load(engine, digest);
        if let Some(component) = component {
            return Ok((component, load));
        }
        let compiled = engine
            .precompile_component(wasm)
            .map_err(ComponentError::Compile)?;
        artifacts.save(digest, &compiled);
        // SAFETY: the bytes were produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled) }
            .map_err(ComponentError::Compile)?;
        Ok((component, load))
    }

    fn link(
        &self,
        component: &Component,
        world: World,
        interface: &ComponentInterface,
    ) -> Result<PluginPre, ComponentError> {
        let linker = self.sandbox.linker();
        let instance_pre = linker.instantiate_pre(component).map_err(|error| {
            let imports: Vec<String> = interface
                .imports
                .iter()
                .filter(|name| !provided(name))
                .cloned()
                .collect();
            if imports.is_empty() {
                ComponentError::Compile(error)
            } else {
                ComponentError::UnsupportedImports { imports }
            }
        })?;
        let pre = match world {
            World::CallFlow => CallFlowPre::new(instance_pre).map(PluginPre::CallFlow),
            World::LeadTagger => LeadTaggerPre::new(instance_pre).map(PluginPre::LeadTagger),
        };
        pre.map_err(ComponentError::Compile)
    }
}

/// `a`, `b` and `c`, each in backticks, for error messages.
fn quoted(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
    quoted.join(", ")
}

/// Interface families the sandbox links; see `sandbox::wasi` for what each grants.
const PROVIDED_PREFIXES: &[&str] = &[
    "cally:plugin/",
    "wasi:io/",
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:random/",
];

/// Whether the sandbox's linker provides the interface `import`.
pub fn provided(import: &str) -> bool {
    PROVIDED_PREFIXES
        .iter()
        .any(|prefix| import.starts_with(prefix))
}
