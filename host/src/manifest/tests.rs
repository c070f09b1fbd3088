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

#[test]
fn debug_print() {
    for text in [
        "",
        "name = 3\nversion = \"1.0\"\nworld = \"flow\"\ndescription = \"short\"\npurpose = \"sales\"\nfields = []\npermissions = \"all\"\n",
        &format!("{CALL_FLOW}reads = \"all\"\n"),
        &format!("{CALL_FLOW}[[reads]]\nfield = \"*\"\nreason = \"Everything we might need.\"\n[[reads]]\nfield = \"phone_number\"\nreason = \"ok\"\n[[reads]]\nreason = \"Greets the caller.\"\nwhy = 1\n"),
        &format!("{CALL_FLOW}transcript = true\nrecording = {{}}\n"),
        &format!("{CALL_FLOW}[[messages]]\nchannel = \"voice\"\nreason = \"Calls the lead back later.\"\n[[tags]]\ntag = \"Hot Lead\"\nreason = \"Marks leads who want to buy.\"\n"),
        &format!("{CALL_FLOW}[limits]\nmemory_mb = 32\nmemory_mib = \"32\"\nevent_deadline_ms = 0\n"),
        &format!("{CALL_FLOW}[limits]\nmemory_mib = 4096\n"),
        &format!("{CALL_FLOW}fallback = []\n"),
        &format!("{CALL_FLOW}[[fallback]]\ntype = \"gather\"\n[[fallback]]\ntype = \"say\"\n[[fallback]]\ntype = \"hang_up\"\ntarget = \"x\"\n[[fallback]]\ntext = \"hi\"\n"),
        &format!("{CALL_FLOW}[[fallback]]\ntype = \"say\"\ntext = \"Sorry, something went wrong.\"\n"),
        "name = \"x\nversion",
        &CALL_FLOW.replace("call-flow", "lead-tagger").replace("0.1.0", "1.0"),
        &format!("{}[[messages]]\nchannel = \"sms\"\nreason = \"Texts a summary.\"\n[[fallback]]\ntype = \"hang_up\"\n", CALL_FLOW.replace("call-flow", "lead-tagger")),
        &format!("{CALL_FLOW}[[reads]]\nfield = \"name\"\nreason = \"Greets the caller.\"\n[[reads]]\nfield = \"name\"\nreason = \"Signs the SMS.\"\n[[tags]]\ntag = \"a\"\nreason = \"Marks leads who want to buy.\"\n[[tags]]\ntag = \"a\"\nreason = \"Marks leads who want to buy.\"\n"),
        &CALL_FLOW.replace("Reminds a patient of tomorrow's appointment.", "Line one\\nline two"),
        &CALL_FLOW.replace("appointment-reminder", "Appointment Reminder"),
    ] {
        match Manifest::parse(text, "cally.toml") {
            Ok(_) => println!("OK\n"),
            Err(e) => println!("{e}\n"),
        }
    }
}
