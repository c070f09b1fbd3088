//! Personal data through consent-checked, audited handles, run through the
//! real host with the `reads-data` probe plugin, a real SQLite store and the
//! real audit writer. The probe echoes every value it receives into its
//! actions, so the tests compare what was released with the audit log.

use cally_host::capabilities::gate::Declared;
use cally_host::consent::{AgeStatus, Channel, DataField, Purpose, Resource};
use cally_host::protocol::Action;
use cally_host::session::PluginFailure;
use sqlx::Connection;

use crate::common::*;
use crate::data::*;

/// Reads `phone` in a fresh call and returns the probe's answer and the one
/// audit record the read produced.
async fn read_phone(
    world: &World,
    declared: Declared,
) -> (String, Option<cally_host::audit::AuditRecord>) {
    let cache = cache();
    let before = world.audit().await.len();
    let mut probe =
        Probe::start(world, &cache, "call-phone", Purpose::CallHandling, declared).await;
    let answer = probe.ask("get phone").await.remove(0);
    let records = world.audit().await;
    assert!(
        records.len() <= before + 1,
        "one read, at most one record: {records:?}"
    );
    (answer, records.get(before).cloned())
}

fn phone_only() -> Declared {
    Declared::new([Resource::Field(DataField::Phone)], [])
}

/// Checks a denial: the probe saw the reason, nothing was released, and the
/// denial is in the audit log with that reason.
async fn assert_denied(world: &World, declared: Declared, reason: &str) {
    let (answer, record) = read_phone(world, declared).await;
    assert_eq!(answer, format!("phone!{reason}"));
    let record = record.unwrap_or_else(|| panic!("the {reason} denial is audited"));
    assert_eq!(record.resource, "phone");
    assert_eq!(record.decision, "denied");
    assert_eq!(record.reason.as_deref(), Some(reason));
    assert_eq!(record.call_id, "call-phone");
    assert_eq!(record.consent_id, None);
}

#[tokio::test]
async fn an_allowed_read_releases_the_value_after_its_audit_record() {
    let world = World::new().await;
    let consent = world.consent(Purpose::CallHandling, None).await;
    let (answer, record) = read_phone(&world, phone_only()).await;
    assert_eq!(answer, format!("phone={PHONE}"));
    let record = record.expect("the read is audited");
    assert_eq!(record.decision, "allowed");
    assert_eq!(record.consent_id, Some(consent));
    assert_eq!(record.purpose, "call-handling");
    let pseudonym = world.services.pseudonyms.pseudonym(TENANT, LEAD);
    assert_eq!(
        record.lead.as_deref(),
        Some(pseudonym.as_str()),
        "the log holds a pseudonym"
    );
    assert!(
        !serde_json::to_string(&record).unwrap().contains(PHONE),
        "no value in the log"
    );
}

#[tokio::test]
async fn a_field_the_manifest_does_not_declare_is_denied_not_declared() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    assert_denied(
        &world,
        Declared::new([Resource::Field(DataField::Name)], []),
        "not-declared",
    )
    .await;
}

#[tokio::test]
async fn no_consent_for_the_purpose_is_denied_no_consent() {
    let world = World::new().await;
    world.consent(Purpose::Marketing, None).await;
    assert_denied(&world, phone_only(), "no-consent").await;
}

#[tokio::test]
async fn an_expired_consent_is_denied_consent_expired() {
    let world = World::new().await;
    let an_hour_ago = cally_host::clock::now_ms() - 3_600_000;
    world
        .consent_with(Purpose::CallHandling, None, Some(an_hour_ago), false)
        .await;
    assert_denied(&world, phone_only(), "consent-expired").await;
}

#[tokio::test]
async fn a_withdrawn_consent_is_denied_consent_withdrawn() {
    let world = World::new().await;
    let consent = world.consent(Purpose::CallHandling, None).await;
    let now = cally_host::clock::now_ms();
    world
        .store()
        .withdraw_consent(TENANT, consent, now - 1000)
        .await
        .unwrap();
    assert_denied(&world, phone_only(), "consent-withdrawn").await;
}

#[tokio::test]
async fn a_restricted_lead_is_denied_lead_restricted() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    world.update_lead(|lead| lead.restricted = true).await;
    assert_denied(&world, phone_only(), "lead-restricted").await;
}

#[tokio::test]
async fn an_erased_lead_is_denied_lead_erased() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let now = cally_host::clock::now_ms();
    world.store().erase_lead(TENANT, LEAD, now).await.unwrap();
    assert_denied(&world, phone_only(), "lead-erased").await;
}

#[tokio::test]
async fn a_minor_without_parental_consent_is_denied_lead_is_minor() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    world.update_lead(|lead| lead.age = AgeStatus::Minor).await;
    assert_denied(&world, phone_only(), "lead-is-minor").await;
}

#[tokio::test]
async fn an_unknown_age_counts_as_a_minor_and_parental_consent_allows_the_read() {
    let world = World::new().await;
    world
        .update_lead(|lead| lead.age = AgeStatus::Unknown)
        .await;
    world.consent(Purpose::CallHandling, None).await;
    assert_denied(&world, phone_only(), "lead-is-minor").await;
    world
        .consent_with(Purpose::CallHandling, None, None, true)
        .await;
    let (answer, _) = read_phone(&world, phone_only()).await;
    assert_eq!(answer, format!("phone={PHONE}"));
}

#[tokio::test]
async fn with_the_audit_store_unwritable_nothing_is_released() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let db = world.dir.path().join(cally_host::store::DB_FILE_NAME);
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(
        "CREATE TRIGGER audit_unwritable BEFORE INSERT ON audit_log \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    )
    .execute(&mut raw)
    .await
    .unwrap();

    let cache = cache();
    let mut probe = Probe::start(
        &world,
        &cache,
        "call-closed",
        Purpose::CallHandling,
        declare_everything(),
    )
    .await;
    let answers = probe
        .ask("get phone; many name email; pref preferred-time; transcript; recording")
        .await;
    assert_eq!(
        answers,
        [
            "phone!audit-unavailable",
            "name!audit-unavailable",
            "email!audit-unavailable",
            "pref:preferred-time!audit-unavailable",
            "transcript!audit-unavailable",
            "recording!audit-unavailable",
        ]
    );
    assert!(world.audit().await.is_empty(), "nothing half-stored");

    sqlx::query("DROP TRIGGER audit_unwritable")
        .execute(&mut raw)
        .await
        .unwrap();
    assert_eq!(
        probe.ask("get phone").await,
        [format!("phone={PHONE}")],
        "works again once the store can write"
    );
    let report = cally_host::audit::verify_tenant(world.store(), TENANT)
        .await
        .unwrap();
    assert!(report.is_clean(), "{report}");
}

#[tokio::test]
async fn a_withdrawal_during_a_live_call_denies_the_next_read() {
    let world = World::new().await;
    let consent = world.consent(Purpose::CallHandling, None).await;
    let cache = cache();
    let mut probe = Probe::start(
        &world,
        &cache,
        "call-live",
        Purpose::CallHandling,
        phone_only(),
    )
    .await;
    assert_eq!(probe.ask("get phone").await, [format!("phone={PHONE}")]);
    let now = cally_host::clock::now_ms();
    world
        .store()
        .withdraw_consent(TENANT, consent, now)
        .await
        .unwrap();
    assert_eq!(probe.ask("get phone").await, ["phone!consent-withdrawn"]);
    let records = world.audit().await;
    assert_eq!(
        records
            .iter()
            .map(|r| r.decision.as_str())
            .collect::<Vec<_>>(),
        ["allowed", "denied"]
    );
}

/// The functions of `interface personal-data` in the WIT, by name.
fn personal_data_functions() -> Vec<String> {
    let wit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../wit/plugin.wit")).unwrap();
    let start = wit
        .find("interface personal-data {")
        .expect("the interface");
    let body = &wit[start..];
    let end = body.find("\n}").expect("its end");
    body[..end]
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let (name, rest) = line.split_once(':')?;
            rest.trim_start()
                .starts_with("func(")
                .then(|| name.trim().to_owned())
        })
        .collect()
}

/// Complete mediation: every function of the personal-data interface is
/// either known to yield no personal data, or has a probe command, and each
/// probe produces exactly one audit record per value it can release. A new
/// function in the WIT without a probe (and so without this check) fails here.
#[tokio::test]
async fn every_personal_data_function_writes_exactly_one_audit_record_per_use() {
    // Functions that hand out handles or a pseudonym, never personal data.
    let no_personal_data = [
        "current-lead",
        "current-transcript",
        "current-recording",
        "pseudonym",
    ];
    let probes = [
        ("get", "get phone", 1),
        ("get-many", "many phone", 1),
        ("preference", "pref preferred-time", 1),
        ("turns", "transcript", 1),
        ("reference", "recording", 1),
    ];
    let functions = personal_data_functions();
    assert!(functions.len() >= 9, "parsed the interface: {functions:?}");

    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let cache = cache();
    let mut probe = Probe::start(
        &world,
        &cache,
        "call-mediation",
        Purpose::CallHandling,
        declare_everything(),
    )
    .await;
    for function in &functions {
        let before = world.audit().await.len();
        if no_personal_data.contains(&function.as_str()) {
            if function == "pseudonym" {
                let answer = probe.ask("pseudonym").await;
                assert!(answer[0].starts_with("pseudonym=lead-"), "{answer:?}");
            }
            assert_eq!(
                world.audit().await.len(),
                before,
                "{function} yields no personal data"
            );
            continue;
        }
        let (_, command, records) = probes
            .iter()
            .find(|(name, _, _)| name == function)
            .unwrap_or_else(|| panic!("personal-data function `{function}` has no probe: add one to reads-data and to this test"));
        let answers = probe.ask(command).await;
        assert!(
            !answers[0].contains('!') && !answers[0].contains('?'),
            "{function}: {answers:?}"
        );
        let after = world.audit().await;
        assert_eq!(
            after.len(),
            before + records,
            "`{function}` writes exactly {records} audit record(s)"
        );
        assert_eq!(after.last().unwrap().decision, "allowed");
    }
    // get-many audits each field it releases.
    let before = world.audit().await.len();
    assert_eq!(probe.ask("many name phone email").await.len(), 3);
    assert_eq!(world.audit().await.len(), before + 3);
}

#[tokio::test]
async fn a_forged_handle_traps_and_ends_only_that_call() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let cache = cache();
    let mut probe = Probe::start(
        &world,
        &cache,
        "call-forge",
        Purpose::CallHandling,
        phone_only(),
    )
    .await;
    let outcome = probe.call.handle(&speech("forge 4242")).await;
    let Some(PluginFailure::Trap { message }) = &outcome.failure else {
        panic!("a forged handle must trap: {outcome:?}");
    };
    assert!(message.contains("unknown handle index 4242"), "{message}");
    assert_eq!(outcome.actions, cally_host::session::default_fallback());
    assert!(world.audit().await.is_empty(), "nothing was read");
}

#[tokio::test]
async fn a_handle_number_from_another_call_is_no_handle_there() {
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let cache = cache();
    let mut first = Probe::start(
        &world,
        &cache,
        "call-a",
        Purpose::CallHandling,
        phone_only(),
    )
    .await;
    assert_eq!(first.ask("keep").await, ["kept"]);
    assert_eq!(
        first.ask("reuse phone").await,
        [format!("phone={PHONE}")],
        "a kept handle works in its own call"
    );
    // The second call is a fresh instance: the number the first call's handle
    // had means nothing in it, and nothing the first call kept survives.
    let mut second = Probe::start(
        &world,
        &cache,
        "call-b",
        Purpose::CallHandling,
        phone_only(),
    )
    .await;
    assert_eq!(second.ask("reuse phone").await, ["phone?no-handle"]);
    let outcome = second.call.handle(&speech("forge 1")).await;
    assert!(
        matches!(outcome.failure, Some(PluginFailure::Trap { .. })),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn messages_need_channel_consent_and_are_queued_without_the_plugin_seeing_the_address() {
    let world = World::new().await;
    world
        .consent(Purpose::Marketing, Some(Channel::Whatsapp))
        .await;
    let cache = cache();
    let declared = Declared::new(
        [
            Resource::Message(Channel::Whatsapp),
            Resource::Message(Channel::Sms),
        ],
        [],
    );
    let mut probe = Probe::start(&world, &cache, "call-msg", Purpose::Marketing, declared).await;
    let outcome = probe
        .call
        .handle(&speech("message whatsapp; message sms; message email"))
        .await;
    let kinds: Vec<_> = outcome.actions.iter().map(Action::kind).collect();
    assert_eq!(
        kinds,
        ["send_message"],
        "only the consented channel survives: {outcome:?}"
    );
    let decisions: Vec<_> = outcome
        .data
        .iter()
        .map(|d| (d.resource.as_str(), d.reason.unwrap_or("allowed")))
        .collect();
    assert_eq!(
        decisions,
        [
            ("message:whatsapp", "allowed"),
            ("message:sms", "no-consent"),
            ("message:email", "not-declared"),
        ]
    );
    let outbox = world.store().outbox(TENANT, LEAD).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].channel, Channel::Whatsapp);
    assert_eq!(
        world.audit().await.len(),
        3,
        "every message decision is audited"
    );
}

#[tokio::test]
async fn tags_are_written_when_declared_and_consented_and_never_for_a_minor() {
    let world = World::new().await;
    world.consent(Purpose::CrmTagging, None).await;
    let cache = cache();
    let mut probe = Probe::start(
        &world,
        &cache,
        "call-tag",
        Purpose::CrmTagging,
        declare_everything(),
    )
    .await;
    let outcome = probe
        .call
        .handle(&speech("tag hot-lead; tag undeclared-tag"))
        .await;
    assert_eq!(
        outcome.actions,
        [Action::TagLead {
            tag: "hot-lead".into()
        }]
    );
    let tags = world.store().lead_tags(TENANT, LEAD).await.unwrap();
    assert_eq!(
        tags.iter().map(|t| t.tag.as_str()).collect::<Vec<_>>(),
        ["hot-lead"]
    );

    world.update_lead(|lead| lead.age = AgeStatus::Minor).await;
    world
        .consent_with(Purpose::CrmTagging, None, None, true)
        .await;
    let outcome = probe.call.handle(&speech("tag hot-lead")).await;
    assert!(outcome.actions.is_empty());
    assert_eq!(
        outcome.data[0].reason,
        Some("lead-is-minor"),
        "not even with parental consent"
    );
    assert_eq!(
        world.store().lead_tags(TENANT, LEAD).await.unwrap().len(),
        1
    );
}

#[tokio::test]
async fn the_lead_tagger_reads_the_finished_calls_transcript_through_the_gate() {
    let world = World::new().await;
    world.consent(Purpose::CrmTagging, None).await;
    let cache = cache();
    let flow_plugin = test_plugin(&cache, "reads-data");
    let mut flow_options = options(&cache);
    flow_options.data = Some(world.gate(
        "call-t",
        &flow_plugin,
        Purpose::CallHandling,
        Declared::nothing(),
    ));
    let mut call = cally_host::session::FlowInstance::start(
        cache.sandbox().clone(),
        &flow_plugin,
        flow_options,
    )
    .await
    .unwrap();
    call.handle(&started("call-t")).await;
    call.handle(&speech("pseudonym")).await;
    call.handle(&ended()).await;
    let record = call.finish();
    assert_eq!(
        record.transcript.len(),
        3,
        "the flow's `ready`, the caller's words and the flow's answer"
    );

    let tagger = test_plugin(&cache, "reads-data-tagger");
    let declared = Declared::new(
        [Resource::Transcript, Resource::Field(DataField::Name)],
        ["transcript-3".to_owned(), "name-read".to_owned()],
    );
    let gate = world.gate("call-t", &tagger, Purpose::CrmTagging, declared);
    gate.scope.set_transcript(record.transcript.clone());
    let mut options = options(&cache);
    options.data = Some(gate);
    let summary = cally_host::protocol::CallSummary {
        call_id: "call-t".into(),
        direction: cally_host::protocol::Direction::Outbound,
        campaign: None,
        duration_ms: 1000,
        end_reason: cally_host::protocol::EndReason::CallerHungUp,
        disposition: None,
        digits: vec![],
        event_count: record.events,
    };
    let outcome =
        cally_host::session::TaggerRun::run(cache.sandbox().clone(), &tagger, &options, &summary)
            .await
            .unwrap();
    assert_eq!(outcome.tags, ["transcript-3", "name-read"]);
    assert_eq!(outcome.written, ["transcript-3", "name-read"]);
    let resources: Vec<_> = world
        .audit()
        .await
        .into_iter()
        .map(|r| r.resource)
        .collect();
    assert_eq!(
        resources,
        ["transcript", "name", "tag:transcript-3", "tag:name-read"]
    );
}

/// Runtime enforcement of the manifest: whatever the component imports, a
/// field its manifest does not declare is denied `not-declared` and audited.
#[tokio::test]
async fn the_manifest_decides_what_is_declared_whatever_the_component_imports() {
    let manifest = cally_host::manifest::Manifest::parse(
        r#"
name = "reads-data"
version = "1.0.0"
world = "call-flow"
description = "A probe that echoes what it reads, for tests."
purpose = "call-handling"

[[reads]]
field = "name"
reason = "Greets the caller by name in the probe's answers."
"#,
        "reads-data/cally.toml",
    )
    .unwrap();
    let world = World::new().await;
    world.consent(Purpose::CallHandling, None).await;
    let cache = cache();
    let mut probe = Probe::start(
        &world,
        &cache,
        "call-manifest",
        manifest.purpose,
        Declared::from_manifest(&manifest),
    )
    .await;
    assert_eq!(
        probe.ask("many name phone").await,
        ["name=Ada Lovelace", "phone!not-declared"]
    );
    let records = world.audit().await;
    assert_eq!(
        records
            .iter()
            .map(|r| (r.resource.as_str(), r.decision.as_str()))
            .collect::<Vec<_>>(),
        [("name", "allowed"), ("phone", "denied")]
    );
}
