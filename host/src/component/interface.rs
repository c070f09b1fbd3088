//! Reading what a component imports and exports from its bytes, before any
//! compilation: the world it targets and the interfaces it wants.

use std::fmt;

use serde::{Deserialize, Serialize};
use wasmparser::{ComponentExternalKind, ComponentTypeRef, Parser, Payload};

use super::ComponentError;

/// The world a plugin targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// Steers a live call: exports `on-event`.
    CallFlow,
    /// Tags a lead after a call: exports `tag-call`.
    LeadTagger,
}

impl World {
    /// The world's name in WIT.
    pub fn name(self) -> &'static str {
        match self {
            World::CallFlow => "call-flow",
            World::LeadTagger => "lead-tagger",
        }
    }

    /// The function the world exports.
    pub fn entry_point(self) -> &'static str {
        match self {
            World::CallFlow => "on-event",
            World::LeadTagger => "tag-call",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The top-level imports and exports of a component, by name, as declared in
/// its binary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ComponentInterface {
    /// Imported instances and functions, such as `wasi:cli/stdout@0.2.6`;
    /// imported value types, which grant nothing, are left out.
    pub imports: Vec<String>,
    /// Exported functions and instances, such as `on-event`.
    pub exports: Vec<String>,
}

impl ComponentInterface {
    /// Reads the imports and exports of the component in `wasm`.
    pub fn read(wasm: &[u8]) -> Result<Self, ComponentError> {
        if !wasmparser::Parser::is_component(wasm) {
            let what = if wasmparser::Parser::is_core_wasm(wasm) {
                "this is a core WebAssembly module; build for wasm32-wasip2 to get a component"
            } else {
                "the file does not start with the WebAssembly component header"
            };
            return Err(ComponentError::Malformed(what.into()));
        }
        let mut interface = Self {
            imports: Vec::new(),
            exports: Vec::new(),
        };
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(wasm) {
            let payload = payload.map_err(|e| ComponentError::Malformed(e.to_string()))?;
            match payload {
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(section) if depth == 0 => {
                    for import in section {
                        let import =
                            import.map_err(|e| ComponentError::Malformed(e.to_string()))?;
                        // Imported value types (a world's `use`d records and
                        // variants) grant nothing and need no host; only
                        // instances and functions do.
                        if matches!(import.ty, ComponentTypeRef::Type(_)) {
                            continue;
                        }
                        interface.imports.push(import.name.name.to_string());
                    }
                }
                Payload::ComponentExportSection(section) if depth == 0 => {
                    for export in section {
                        let export =
                            export.map_err(|e| ComponentError::Malformed(e.to_string()))?;
                        if matches!(
                            export.kind,
                            ComponentExternalKind::Func | ComponentExternalKind::Instance
                        ) {
                            interface.exports.push(export.name.name.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(interface)
    }

    /// The world the component targets, from its exports.
    pub fn world(&self) -> Result<World, ComponentError> {
        let exports = |name: &str| self.exports.iter().any(|e| e == name);
        match (exports("on-event"), exports("tag-call")) {
            (true, false) => Ok(World::CallFlow),
            (false, true) => Ok(World::LeadTagger),
            _ => Err(ComponentError::UnknownWorld {
                found: if self.exports.is_empty() {
                    "none".into()
                } else {
                    self.exports.join(", ")
                },
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_core_module_is_refused_with_a_hint() {
        let core = b"\0asm\x01\0\0\0";
        let err = ComponentInterface::read(core).unwrap_err();
        assert!(err.to_string().contains("build for wasm32-wasip2"), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        let err = ComponentInterface::read(b"hello world").unwrap_err();
        assert!(
            err.to_string().starts_with("not a WebAssembly component"),
            "{err}"
        );
    }

    #[test]
    fn world_needs_exactly_one_entry_point() {
        let interface = ComponentInterface {
            imports: vec![],
            exports: vec!["run".into()],
        };
        let err = interface.world().unwrap_err();
        assert!(err.to_string().contains("found exports: run"), "{err}");
    }
}
