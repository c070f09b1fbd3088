//! The TOML a manifest needs to declare one use of personal data: what a
//! `not-declared` denial tells the developer to add to `cally.toml`.
//!
//! Each snippet is a table of its own (`[[reads]]`, `[transcript]`,
//! `[[messages]]`, `[[tags]]`), so it can be appended at the end of any
//! manifest written in the documented layout, and the reason placeholder fits
//! the schema's reason rule (one line of 10 to 200 characters) until the
//! developer writes the real one.

use crate::consent::Resource;

/// The reason every snippet carries, to be replaced by the developer's own.
pub const REASON_PLACEHOLDER: &str = "<why the plugin needs it, in one line>";

/// The TOML that declares `resource` in a manifest; for [`Resource::Tag`],
/// `tag` is the tag to declare (tags are declared one by one).
///
/// ```
/// use cally_host::consent::Resource;
/// let toml = cally_host::manifest::declaration(Resource::Tag, Some("booked"));
/// assert_eq!(
///     toml,
///     "[[tags]]\ntag = \"booked\"\nreason = \"<why the plugin needs it, in one line>\"\n"
/// );
/// ```
pub fn declaration(resource: Resource, tag: Option<&str>) -> String {
    let reason = format!("reason = \"{REASON_PLACEHOLDER}\"\n");
    match resource {
        Resource::Field(field) => format!("[[reads]]\nfield = \"{field}\"\n{reason}"),
        Resource::Transcript => format!("[transcript]\n{reason}"),
        Resource::Recording => format!("[recording]\n{reason}"),
        Resource::Message(channel) => format!("[[messages]]\nchannel = \"{channel}\"\n{reason}"),
        Resource::Tag => format!(
            "[[tags]]\ntag = {}\n{reason}",
            toml_string(tag.unwrap_or("<tag>"))
        ),
    }
}

/// `text` as a TOML basic string. Tags reaching here are identifiers
/// (`a-z`, `0-9`, `-`, `_`, `.`), but the quoting holds for any text.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::{Channel, DataField};
    use crate::manifest::Manifest;
    use crate::manifest::tests::CALL_FLOW;

    /// Every resource a call-flow manifest can declare, with a tag name for the tag.
    fn every_resource() -> Vec<(Resource, Option<&'static str>)> {
        let mut all: Vec<(Resource, Option<&str>)> = DataField::ALL
            .iter()
            .map(|field| (Resource::Field(*field), None))
            .collect();
        all.push((Resource::Transcript, None));
        all.push((Resource::Recording, None));
        for channel in [Channel::Sms, Channel::Whatsapp, Channel::Email] {
            all.push((Resource::Message(channel), None));
        }
        all.push((Resource::Tag, Some("booked")));
        all
    }

    #[test]
    fn each_snippet_appended_to_a_manifest_declares_its_resource() {
        // After tables of its own, so the snippet must open its own table.
        let base = format!(
            "{CALL_FLOW}[limits]\nmemory_mib = 8\n\n[[tags]]\ntag = \"other\"\nreason = \"Marks callers who asked for something else.\"\n"
        );
        for (resource, tag) in every_resource() {
            let before = Manifest::parse(&base, "cally.toml").unwrap();
            assert!(
                !before.declares(&resource) || resource == Resource::Tag,
                "{resource}"
            );
            let snippet = declaration(resource, tag);
            snippet
                .parse::<toml::Table>()
                .unwrap_or_else(|e| panic!("{snippet}: {e}"));
            let text = format!("{base}\n{snippet}");
            let after = Manifest::parse(&text, "cally.toml")
                .unwrap_or_else(|errors| panic!("{text}\n{errors}"));
            assert!(after.declares(&resource), "{text}");
            if let Some(tag) = tag {
                assert!(after.declares_tag(tag), "{text}");
            }
        }
    }
}
