//! A load for the crash test: many concurrent calls of the `reads-data` probe
//! reading a lead's data through the real host, each released value printed
//! (and flushed) as `call-id<TAB>field<TAB>value` the moment the plugin has it.
//! The test kills this process with SIGKILL mid-run, then checks that every
//! printed value has its durable audit record.
//!
//! Usage: `audited-reads <data-dir> <calls>`

use std::io::Write;
use std::sync::Arc;

use cally_host::audit::{AuditWriter, Pseudonymizer};
use cally_host::capabilities::gate::{CallScope, DataGate, DataServices, Declared};
use cally_host::component::ComponentCache;
use cally_host::consent::{AgeStatus, DataField, Purpose, Resource};
use cally_host::protocol::{Action, CallEvent, CallStarted, Direction};
use cally_host::sandbox::{Sandbox, SandboxConfig};
use cally_host::session::{CallOptions, FlowInstance};
use cally_host::store::{Lead, NewConsent, SqliteStore, Store};

const TENANT: &str = "crash-test";
const LEAD: &str = "lead-1";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let calls: usize = args[2].parse().expect("number of calls");

    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir).await.expect("store"));
    store.ensure_tenant(TENANT).await.unwrap();
    let mut lead = Lead::new(TENANT, LEAD);
    lead.name = Some("Ada Lovelace".into());
    lead.phone = Some("+15550100".into());
    lead.email = Some("ada@example.com".into());
    lead.age = AgeStatus::Adult;
    store.upsert_lead(&lead).await.unwrap();
    store
        .grant_consent(&NewConsent {
            tenant: TENANT.into(),
            lead_id: LEAD.into(),
            purpose: Purpose::CallHandling,
            channel: None,
            granted_at_ms: 0,
            expires_at_ms: None,
            source: "test".into(),
            evidence: "test".into(),
            parental: false,
        })
        .await
        .unwrap();
    let services = Arc::new(DataServices::new(
        store.clone(),
        AuditWriter::spawn(store),
        Pseudonymizer::load_or_create(&dir).unwrap(),
    ));
    let sandbox = Sandbox::new(SandboxConfig {
        max_concurrent_calls: 256,
        ..SandboxConfig::default()
    })
    .unwrap();
    let cache = Arc::new(ComponentCache::new(sandbox.clone(), None));
    let plugin = cache.load_file(cally_tests::plugin("reads-data")).unwrap();

    let mut tasks = Vec::new();
    for number in 0..calls {
        let (sandbox, plugin, services) = (sandbox.clone(), plugin.clone(), services.clone());
        tasks.push(tokio::spawn(async move {
            let call_id = format!("call-{number}");
            let declared = Declared::new(
                [DataField::Name, DataField::Phone, DataField::Email].map(Resource::Field),
                [],
            );
            let scope = CallScope::new(
                &services,
                TENANT,
                &call_id,
                Some(LEAD.into()),
                ("reads-data", "1.0.0", &plugin.digest.to_string()),
                Purpose::CallHandling,
                declared,
                None,
            );
            let mut options = CallOptions::new(sandbox.config().default_limits);
            options.data = Some(DataGate {
                services,
                scope: Arc::new(scope),
            });
            let mut call = FlowInstance::start(sandbox, &plugin, options)
                .await
                .unwrap();
            call.handle(&CallEvent::Started(CallStarted {
                call_id: call_id.clone(),
                direction: Direction::Outbound,
                campaign: None,
                started_at_ms: None,
                locale: "en-US".into(),
            }))
            .await;
            loop {
                let outcome = call
                    .handle(&CallEvent::Speech {
                        text: "many name phone email".into(),
                        confidence: 1.0,
                        is_final: true,
                    })
                    .await;
                let mut stdout = std::io::stdout().lock();
                for action in outcome.actions {
                    if let Action::Say { text } = action
                        && let Some((field, value)) = text.split_once('=')
                    {
                        let _ = writeln!(stdout, "{call_id}\t{field}\t{value}");
                    }
                }
                let _ = stdout.flush();
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
}
