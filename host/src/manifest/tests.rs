//! Every schema rule and semantic check, each with a bad manifest and the
//! exact problem reported; and the typed API over a good manifest.

use super::*;

/// The smallest valid call-flow manifest; tests append TOML to it.
pub(super) const CALL_FLOW: &str = "\
name = \"appointment-reminder\"
version = \"0.1.0\"
world = \"call-flow\"
description = \"Reminds a patient of tomorrow's appointment.\"
purpose = \"call-handling\"
";

/// Parses `text`, panicking with every problem if it is refused.
pub(super) fn manifest(text: &str) -> Manifest {
    Manifest::parse(text, "cally.toml").unwrap_or_else(|errors| panic!("{errors}"))
}

/// The problems `text` is refused with, one rendered line each.
fn problems(text: &str) -> Vec<String> {
    match Manifest::parse(text, "cally.toml") {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(errors) => errors.problems.iter().map(ToString::to_string).collect(),
    }
}

/// `CALL_FLOW` with `extra` TOML appended.
fn with(extra: &str) -> String {
    format!("{CALL_FLOW}{extra}\n")
}

/// `CALL_FLOW` as a lead tagger, with `extra` TOML appended.
fn tagger(extra: &str) -> String {
    format!("{}{extra}\n", CALL_FLOW.replace("call-flow", "lead-tagger"))
}

const WILDCARD: &str = "wildcards are not accepted: nothing is granted by omission and no value means everything; list each one you need as its own entry";

// Schema rules: one test per rule, each asserting the exact problem.

#[test]
fn every_required_key_missing_is_named() {
    assert_eq!(
        problems(""),
        [
            "name: found nothing, expected a kebab-case name of at most 64 characters, such as \"appointment-reminder\"; set name = \"<kebab-case-name>\"",
            "version: found nothing, expected a semantic version such as \"1.2.0\"; set version = \"0.1.0\"",
            "world: found nothing, expected one of \"call-flow\", \"lead-tagger\"; set world = \"call-flow\" (steers live calls) or world = \"lead-tagger\" (tags leads after a call)",
            "description: found nothing, expected one line of 10 to 500 characters saying what the plugin does; set description = \"<what the plugin does, in one line>\"",
            "purpose: found nothing, expected one of \"call-handling\", \"crm-tagging\", \"marketing\", \"analytics\"; set purpose = \"call-handling\" (or the one purpose the plugin serves; one purpose per plugin)",
        ]
    );
}

#[test]
fn an_unknown_key_is_refused_with_a_suggestion() {
    let keys = "only the keys description, fallback, limits, messages, name, purpose, reads, recording, tags, transcript, version, world";
    assert_eq!(
        problems(&with("fields = []\npermissions = \"all\"\nraeds = []")),
        [
            format!(
                "fields: found an unknown key, expected {keys}; rename it to reads, or remove it"
            ),
            format!(
                "permissions: found an unknown key, expected {keys}; remove it: nothing is granted by a key Cally does not know"
            ),
            format!(
                "raeds: found an unknown key, expected {keys}; rename it to reads, or remove it"
            ),
        ]
    );
}

#[test]
fn a_value_of_the_wrong_type_is_named_with_its_type() {
    assert_eq!(
        problems(&CALL_FLOW.replace("\"appointment-reminder\"", "3")),
        [
            "name: found 3 (a number), expected a kebab-case name of at most 64 characters, such as \"appointment-reminder\"; set name = \"<kebab-case-name>\""
        ]
    );
}

#[test]
fn the_name_is_kebab_case_and_at_most_64_characters() {
    let expected = "expected a kebab-case name of at most 64 characters, such as \"appointment-reminder\"; set name = \"<kebab-case-name>\"";
    assert_eq!(
        problems(&CALL_FLOW.replace("appointment-reminder", "Appointment Reminder")),
        [format!("name: found \"Appointment Reminder\", {expected}")]
    );
    let long = "a".repeat(65);
    assert_eq!(
        problems(&CALL_FLOW.replace("appointment-reminder", &long)),
        [format!("name: found 65 characters, {expected}")]
    );
}

#[test]
fn world_and_purpose_come_from_closed_lists() {
    let text = CALL_FLOW
        .replace("\"call-flow\"", "\"flow\"")
        .replace("call-handling", "sales");
    assert_eq!(
        problems(&text),
        [
            "world: found \"flow\", expected one of \"call-flow\", \"lead-tagger\"; set world = \"call-flow\" (steers live calls) or world = \"lead-tagger\" (tags leads after a call)",
            "purpose: found \"sales\", expected one of \"call-handling\", \"crm-tagging\", \"marketing\", \"analytics\"; set purpose = \"call-handling\" (or the one purpose the plugin serves; one purpose per plugin)",
        ]
    );
}

#[test]
fn the_description_is_one_line_of_10_to_500_characters() {
    let expected = "expected one line of 10 to 500 characters saying what the plugin does; set description = \"<what the plugin does, in one line>\"";
    let description = "Reminds a patient of tomorrow's appointment.";
    assert_eq!(
        problems(&CALL_FLOW.replace(description, "Reminds")),
        [format!("description: found 7 characters, {expected}")]
    );
    assert_eq!(
        problems(&CALL_FLOW.replace(description, "Reminds patients.\\nAlso confirms.")),
        [format!(
            "description: found \"Reminds patients.\\nAlso confirms.\", {expected}"
        )]
    );
}

#[test]
fn reads_is_a_list_of_tables_never_a_wildcard() {
    assert_eq!(
        problems(&with("reads = \"all\"")),
        [format!(
            "reads: found \"all\" (a string), expected an array of [[reads]] tables, each with field and reason; {WILDCARD}"
        )]
    );
    assert_eq!(
        problems(&with("reads = [\"name\"]")),
        [
            "reads[0]: found \"name\" (a string), expected a [[reads]] table with field and reason; write each field as its own [[reads]] table with field = \"...\" and reason = \"...\""
        ]
    );
}

#[test]
fn a_read_names_one_known_field_and_nothing_else() {
    let fields =
        "one of \"name\", \"phone\", \"email\", \"location\", \"language\", \"preferences\"";
    let fix = "set field = \"<one field>\"; list each field you read as its own [[reads]] entry";
    let text = with(
        "[[reads]]\nfield = \"*\"\nreason = \"Everything we might need.\"\n\
         [[reads]]\nfield = \"phone_number\"\nreason = \"Reads the number back.\"\n\
         [[reads]]\nreason = \"Greets the caller by name.\"\nwhy = \"because\"",
    );
    assert_eq!(
        problems(&text),
        [
            format!("reads[0].field: found \"*\", expected {fields}; {WILDCARD}"),
            format!("reads[1].field: found \"phone_number\", expected {fields}; {fix}"),
            format!("reads[2].field: found nothing, expected {fields}; {fix}"),
            "reads[2].why: found an unknown key, expected only the keys field, keys, reason; remove it: nothing is granted by a key Cally does not know".into(),
        ]
    );
}

#[test]
fn a_reason_is_one_line_of_10_to_200_characters() {
    let expected = "expected one line of 10 to 200 characters saying why the plugin needs this; set reason = \"<why the plugin needs this, in one line>\"";
    let read = |reason: &str| {
        with(&format!(
            "[[reads]]\nfield = \"name\"\nreason = \"{reason}\""
        ))
    };
    assert_eq!(
        problems(&read("greeting")),
        [format!("reads[0].reason: found 8 characters, {expected}")]
    );
    assert_eq!(
        problems(&read(&"x".repeat(201))),
        [format!("reads[0].reason: found 201 characters, {expected}")]
    );
    assert_eq!(
        problems(&read("Greets the caller.\\nAnd more.")),
        [format!(
            "reads[0].reason: found \"Greets the caller.\\nAnd more.\", {expected}"
        )]
    );
    assert_eq!(
        problems(&with("[[reads]]\nfield = \"name\"")),
        [format!("reads[0].reason: found nothing, {expected}")]
    );
}

#[test]
fn transcript_and_recording_are_tables_with_a_reason() {
    assert_eq!(
        problems(&with("transcript = true\nrecording = {}")),
        [
            "transcript: found true (a boolean), expected a table with a reason, such as transcript = { reason = \"...\" }; write it as a table with the reason, such as transcript = { reason = \"...\" }, or remove the key to keep it denied",
            "recording.reason: found nothing, expected one line of 10 to 200 characters saying why the plugin needs this; set reason = \"<why the plugin needs this, in one line>\"",
        ]
    );
}

#[test]
fn a_message_channel_is_sms_whatsapp_or_email() {
    assert_eq!(
        problems(&with(
            "[[messages]]\nchannel = \"voice\"\nreason = \"Calls the lead back later.\""
        )),
        [
            "messages[0].channel: found \"voice\", expected one of \"sms\", \"whatsapp\", \"email\"; set channel = \"<one channel>\"; list each channel as its own [[messages]] entry"
        ]
    );
    assert_eq!(
        problems(&with(
            "[[messages]]\nchannel = \"*\"\nreason = \"Whatever channel works.\""
        )),
        [format!(
            "messages[0].channel: found \"*\", expected one of \"sms\", \"whatsapp\", \"email\"; {WILDCARD}"
        )]
    );
}

#[test]
fn a_tag_is_one_exact_identifier() {
    let expected = "expected 1 to 64 characters of a-z, 0-9, '-', '_' or '.', such as \"hot-lead\"";
    assert_eq!(
        problems(&with(
            "[[tags]]\ntag = \"Hot Lead\"\nreason = \"Marks leads who want to buy.\""
        )),
        [format!(
            "tags[0].tag: found \"Hot Lead\", {expected}; use one exact name; list each one as its own entry"
        )]
    );
    assert_eq!(
        problems(&with(
            "[[tags]]\ntag = \"hot-*\"\nreason = \"Marks leads by temperature.\""
        )),
        [format!(
            "tags[0].tag: found \"hot-*\", {expected}; {WILDCARD}"
        )]
    );
}

#[test]
fn limits_are_whole_numbers_under_known_keys() {
    assert_eq!(
        problems(&with(
            "[limits]\nmemory_mb = 32\nmemory_mib = \"32\"\nevent_deadline_ms = 0"
        )),
        [
            "limits.event_deadline_ms: found 0, expected at least 1: a whole number of milliseconds between 1 and the platform maximum; set event_deadline_ms to a whole number of milliseconds, or remove it to get the platform default",
            "limits.memory_mb: found an unknown key, expected only the keys event_deadline_ms, memory_mib; rename it to memory_mib, or remove it",
            "limits.memory_mib: found \"32\" (a string), expected a whole number of MiB between 1 and the platform maximum; set memory_mib to a whole number of MiB, or remove it to get the platform default",
        ]
    );
    assert_eq!(
        problems(&with("[limits]\nmemory_mib = 4096")),
        [
            "limits.memory_mib: found 4096, expected at most 1024: a whole number of MiB between 1 and the platform maximum; set memory_mib to a whole number of MiB, or remove it to get the platform default"
        ]
    );
}

#[test]
fn a_fallback_has_1_to_8_actions_that_speak_play_transfer_or_hang_up() {
    let count = "expected 1 to 8 [[fallback]] actions ending with hang_up or transfer; write each action as its own [[fallback]] table, such as type = \"say\" with text = \"...\", then type = \"hang_up\"; or remove fallback to get the host default";
    assert_eq!(
        problems(&with("fallback = []")),
        [format!("fallback: found 0 entries, {count}")]
    );
    let nine = "[[fallback]]\ntype = \"hang_up\"\n".repeat(9);
    assert_eq!(
        problems(&with(&nine)),
        [format!("fallback: found 9 entries, {count}")]
    );
    let types = "expected one of \"say\", \"play\", \"transfer\", \"hang_up\"; use say, play, transfer or hang_up: the plugin has failed, so nothing is listening for input, and a fallback uses no grant";
    let text = with(
        "[[fallback]]\ntype = \"gather\"\n\
         [[fallback]]\ntype = \"say\"\n\
         [[fallback]]\ntype = \"transfer\"\ntarget = \"+15551234567\"\n\
         [[fallback]]\ntext = \"Goodbye.\"\n\
         [[fallback]]\ntype = \"hang_up\"\ntarget = \"front-desk\"",
    );
    assert_eq!(
        problems(&text),
        [
            format!("fallback[0].type: found \"gather\", {types}"),
            "fallback[1].text: found nothing, expected the words to speak, 1 to 1000 characters; set text = \"<what to say>\"".into(),
            "fallback[2].target: found \"+15551234567\", expected an alias of 1 to 64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter, such as \"front-desk\"; set target = \"<target alias>\", never a raw number".into(),
            format!("fallback[3].type: found nothing, {types}"),
            "fallback[4].target: found an unknown key, expected only the keys type; remove it: nothing is granted by a key Cally does not know".into(),
        ]
    );
}

#[test]
fn a_fallback_transfer_to_a_digit_only_target_is_refused() {
    for raw in ["15550100", "0044207946000"] {
        let text = with(&format!(
            "[[fallback]]\ntype = \"transfer\"\ntarget = \"{raw}\""
        ));
        assert_eq!(
            problems(&text),
            [format!(
                "fallback[0].target: found \"{raw}\", expected an alias of 1 to 64 characters of a-z, 0-9, '-', '_' or '.', starting with a letter, such as \"front-desk\"; set target = \"<target alias>\", never a raw number"
            )]
        );
    }
}

#[test]
fn a_toml_syntax_error_names_line_and_column() {
    assert_eq!(
        problems("name = \"x\"\nversion\n"),
        [
            "(top level): found a TOML syntax error at line 2, column 8: key with no value, expected `=`, expected a TOML document (https://toml.io); fix the syntax there; strings need double quotes"
        ]
    );
}

#[test]
fn a_manifest_over_64_kib_is_refused_before_parsing() {
    // Valid TOML: only its size is wrong (a comment line padded to 64 KiB + 1).
    let padding = "#".repeat(MAX_MANIFEST_BYTES + 1 - CALL_FLOW.len());
    let text = format!("{CALL_FLOW}{padding}");
    assert_eq!(text.len(), MAX_MANIFEST_BYTES + 1);
    assert_eq!(
        problems(&text),
        [
            "(top level): found a manifest of 65537 bytes, expected at most 65536 bytes (64 KiB); shorten it: a manifest lists grants with one-line reasons, and needs no comments, data or padding"
        ]
    );
    let padding = "#".repeat(MAX_MANIFEST_BYTES - CALL_FLOW.len());
    manifest(&format!("{CALL_FLOW}{padding}"));
}

// Semantic checks: what the schema cannot express.

#[test]
fn the_version_is_a_semantic_version() {
    assert_eq!(
        problems(&CALL_FLOW.replace("0.1.0", "1.0")),
        [
            "version: found \"1.0\" (unexpected end of input while parsing minor version number), expected a semantic version MAJOR.MINOR.PATCH, such as \"1.2.0\"; set version = \"<major>.<minor>.<patch>\", such as \"1.0.0\""
        ]
    );
}

#[test]
fn each_field_channel_and_tag_is_granted_once() {
    let fix = "remove one of the two entries, keeping one reason that covers both uses";
    let text = with(
        "[[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n\
         [[reads]]\nfield = \"email\"\nreason = \"Checks the address on file.\"\n\
         [[reads]]\nfield = \"name\"\nreason = \"Signs the SMS with the name.\"\n\
         [[messages]]\nchannel = \"sms\"\nreason = \"Texts the confirmation.\"\n\
         [[messages]]\nchannel = \"sms\"\nreason = \"Texts a reminder later.\"\n\
         [[tags]]\ntag = \"confirmed\"\nreason = \"Marks leads who confirmed.\"\n\
         [[tags]]\ntag = \"confirmed\"\nreason = \"Marks leads who confirmed.\"",
    );
    assert_eq!(
        problems(&text),
        [
            format!(
                "reads[2].field: found \"name\" again (already at reads[0]), expected each field at most once; {fix}"
            ),
            format!(
                "messages[1].channel: found \"sms\" again (already at messages[0]), expected each channel at most once; {fix}"
            ),
            format!(
                "tags[1].tag: found \"confirmed\" again (already at tags[0]), expected each tag at most once; {fix}"
            ),
        ]
    );
}

#[test]
fn a_lead_tagger_writes_tags_and_nothing_else() {
    assert_eq!(
        problems(&tagger("")),
        [
            "tags: found nothing, expected at least one [[tags]] entry for a lead-tagger: tags are all it returns, and a tag not listed is denied; add a [[tags]] entry with tag = \"...\" and reason = \"...\" for each tag the plugin writes"
        ]
    );
    let text = tagger(
        "[[messages]]\nchannel = \"sms\"\nreason = \"Texts a summary of the call.\"\n\
         [[tags]]\ntag = \"engaged\"\nreason = \"The lead listened for a minute.\"\n\
         [[fallback]]\ntype = \"hang_up\"",
    );
    assert_eq!(
        problems(&text),
        [
            "messages: found 1 message channel(s) for world lead-tagger, expected no [[messages]] for a lead-tagger, which returns tags only; remove the [[messages]] entries, or send messages from a call-flow plugin",
            "fallback: found a fallback for world lead-tagger, expected no fallback for a lead-tagger: there is no live call to act on, a failed tagger writes no tags; remove the [[fallback]] entries",
        ]
    );
}

#[test]
fn a_fallback_ends_with_hang_up_or_transfer() {
    assert_eq!(
        problems(&with(
            "[[fallback]]\ntype = \"say\"\ntext = \"Sorry, something went wrong.\""
        )),
        [
            "fallback[0].type: found \"say\" as the last fallback action, expected a fallback that ends with \"hang_up\" or \"transfer\": the plugin has failed and cannot steer the call any further; add a last [[fallback]] entry with type = \"hang_up\", or type = \"transfer\" and target = \"<alias>\""
        ]
    );
}

#[test]
fn limits_above_the_platform_maxima_are_refused_naming_the_maximum() {
    let m = manifest(&with("[limits]\nmemory_mib = 128\nevent_deadline_ms = 500"));
    let errors = m.plugin_limits(&SandboxConfig::default()).unwrap_err();
    assert_eq!(
        errors.to_string(),
        "appointment-reminder 0.1.0: limits.memory_mib: found 128, expected at most 64 (this platform's maximum, in MiB); lower memory_mib to 64 or less, or remove it to get the platform default of 16 MiB\n\
         appointment-reminder 0.1.0: limits.event_deadline_ms: found 500, expected at most 200 (this platform's maximum, in ms); lower event_deadline_ms to 200 or less, or remove it to get the platform default of 20 ms"
    );
}

#[test]
fn schema_and_semantic_problems_are_listed_together_in_file_order() {
    let text = format!(
        "{}[[reads]]\nfield = \"name\"\nreason = \"ok\"\n[[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n",
        CALL_FLOW
            .replace("0.1.0", "one")
            .replace("call-handling", "sales")
    );
    let errors = Manifest::parse(&text, "examples/x/cally.toml").unwrap_err();
    let paths: Vec<&str> = errors.problems.iter().map(|p| p.path.as_str()).collect();
    assert_eq!(
        paths,
        ["version", "purpose", "reads[0].reason", "reads[1].field"]
    );
    // Display: one problem per line, each naming the file.
    let rendered = errors.to_string();
    assert_eq!(rendered.lines().count(), 4);
    assert!(
        rendered
            .lines()
            .all(|line| line.starts_with("examples/x/cally.toml: ")),
        "{rendered}"
    );
}

// The typed API over a good manifest.

#[test]
fn nothing_is_granted_by_omission() {
    let m = manifest(CALL_FLOW);
    for field in DataField::ALL {
        assert!(!m.declares(&Resource::Field(*field)));
    }
    for channel in Channel::ALL {
        assert!(!m.declares(&Resource::Message(*channel)));
    }
    assert!(!m.declares(&Resource::Transcript));
    assert!(!m.declares(&Resource::Recording));
    assert!(!m.declares(&Resource::Tag));
    assert!(!m.declares_tag("anything"));
    assert!(!m.reads_personal_data());
    assert_eq!(m.fallback_actions(), None);
}

#[test]
fn declared_grants_are_reported_exactly() {
    let m = manifest(&with(
        "transcript = { reason = \"Summarises the call for agents.\" }\n\
         [[reads]]\nfield = \"phone\"\nreason = \"Reads the number back to confirm it.\"\n\
         [[messages]]\nchannel = \"sms\"\nreason = \"Texts the confirmation.\"\n\
         [[tags]]\ntag = \"confirmed\"\nreason = \"Marks leads who confirmed.\"\n\
         [[fallback]]\ntype = \"say\"\ntext = \"Sorry.\"\n[[fallback]]\ntype = \"hang_up\"",
    ));
    assert!(m.declares(&Resource::Field(DataField::Phone)));
    assert!(!m.declares(&Resource::Field(DataField::Name)));
    assert!(m.declares(&Resource::Transcript));
    assert!(!m.declares(&Resource::Recording));
    assert!(m.declares(&Resource::Message(Channel::Sms)));
    assert!(!m.declares(&Resource::Message(Channel::Whatsapp)));
    assert!(m.declares(&Resource::Tag));
    assert!(m.declares_tag("confirmed"));
    assert!(!m.declares_tag("confirmed-appointment"));
    assert_eq!(
        m.reason_for(&Resource::Field(DataField::Phone)),
        Some("Reads the number back to confirm it.")
    );
    assert_eq!(
        m.fallback_actions(),
        Some(vec![Action::say("Sorry."), Action::HangUp])
    );
}

#[test]
fn preference_keys_are_named_on_the_preferences_read_only_once_each() {
    let m = manifest(&with(
        "[[reads]]\nfield = \"preferences\"\nreason = \"Offers the lead's preferred time.\"\n\
         keys = [\"preferred-time\", \"callback_window\"]",
    ));
    assert_eq!(
        m.preference_keys().collect::<Vec<_>>(),
        ["preferred-time", "callback_window"]
    );
    assert_eq!(manifest(CALL_FLOW).preference_keys().count(), 0);
    let text = toml::to_string(&m).unwrap();
    assert_eq!(manifest(&text), m, "{text}");

    assert_eq!(
        problems(&with(
            "[[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\nkeys = [\"first\"]"
        )),
        [
            "reads[0].keys: found keys on field \"name\", expected keys only on the [[reads]] entry with field = \"preferences\"; move keys to the preferences entry, or remove it"
        ]
    );
    assert_eq!(
        problems(&with(
            "[[reads]]\nfield = \"preferences\"\nreason = \"Offers the lead's preferred time.\"\nkeys = [\"a\", \"b\", \"a\"]"
        )),
        [
            "reads[0].keys[2]: found \"a\" again (already at reads[0].keys[0]), expected each preference key at most once; remove the repeated key"
        ]
    );
    let bad = problems(&with(
        "[[reads]]\nfield = \"preferences\"\nreason = \"Offers the lead's preferred time.\"\nkeys = [\"Ada Lovelace\"]",
    ));
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(
        bad[0].starts_with(
            "reads[0].keys[0]: found \"Ada Lovelace\", expected 1 to 64 characters of A-Z, a-z, 0-9"
        ),
        "{bad:?}"
    );
}

#[test]
fn limits_default_to_the_platform_and_are_converted() {
    let platform = SandboxConfig::default();
    let defaults = manifest(CALL_FLOW).plugin_limits(&platform).unwrap();
    assert_eq!(defaults, platform.default_limits);
    let asked = manifest(&with("[limits]\nmemory_mib = 32\nevent_deadline_ms = 50"))
        .plugin_limits(&platform)
        .unwrap();
    assert_eq!(asked.memory_bytes, 32 << 20);
    assert_eq!(asked.event_deadline, std::time::Duration::from_millis(50));
}

#[test]
fn a_manifest_round_trips_through_toml() {
    let m = manifest(&with(
        "recording = { reason = \"Queues the call for quality review.\" }\n\
         [limits]\nevent_deadline_ms = 50\n\
         [[reads]]\nfield = \"name\"\nreason = \"Greets the caller by name.\"\n\
         [[fallback]]\ntype = \"transfer\"\ntarget = \"front-desk\"",
    ));
    let text = toml::to_string(&m).unwrap();
    assert_eq!(manifest(&text), m, "{text}");
}

#[test]
fn every_example_manifest_parses_and_matches_its_world() {
    for example in crate::examples::BUNDLED {
        let m = Manifest::parse(example.manifest, example.name)
            .unwrap_or_else(|errors| panic!("{errors}"));
        assert_eq!(m.name, example.name);
        assert_eq!(m.world, example.world, "{}", example.name);
    }
    let whatsapp = manifest(include_str!(
        "../../../examples/whatsapp-follow-up/cally.toml"
    ));
    assert_eq!(whatsapp.purpose, Purpose::Marketing);
    assert!(whatsapp.declares(&Resource::Field(DataField::Name)));
    assert!(whatsapp.declares(&Resource::Message(Channel::Whatsapp)));
    assert!(!whatsapp.declares(&Resource::Message(Channel::Sms)));
    let reminder = manifest(include_str!(
        "../../../examples/appointment-reminder/cally.toml"
    ));
    let fields: Vec<DataField> = reminder.reads.iter().map(|r| r.field).collect();
    assert_eq!(fields, [DataField::Name, DataField::Preferences]);
    let router = manifest(include_str!("../../../examples/support-router/cally.toml"));
    assert!(!router.reads_personal_data() && router.messages.is_empty() && router.tags.is_empty());
    let qualifier = manifest(include_str!("../../../examples/lead-qualifier/cally.toml"));
    assert_eq!(qualifier.purpose, Purpose::CrmTagging);
    assert!(qualifier.declares(&Resource::Transcript) && qualifier.reads.is_empty());
    assert!(qualifier.declares_tag("asked-for-human"));
}
