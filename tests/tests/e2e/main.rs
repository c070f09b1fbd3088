//! End-to-end tests: real components built from `examples/` and
//! `tests/plugins/`, run through the real wasmtime sandbox, and the real
//! `cally` binary run as a process.
//!
//! Harnesses: `common` (sandbox and calls in this process), `api::Server` (the HTTP API
//! in this process, over a real socket), `serve_process::ServeProcess` (a `cally serve`
//! process: banner, requests, SIGTERM and a clean exit).
//!
//! Modules:
//! - `examples`: each example plays its scripted call and the expected actions come back.
//! - `hostile`: plugins that loop, exhaust memory, overflow the stack, panic,
//!   flood output or reach for what they were not given; each is contained.
//! - `isolation`: calls never share memory.
//! - `evasion`: a plugin that tries to wait on stdio or spend CPU in WASI calls the
//!   deadline does not see; a lead tagger refused busy when a call ends.
//! - `fair_share`: plugins that sleep (flow and tagger), an event stuck in a
//!   host call, a flood of reads, a tenant past its caps, noisy neighbours.
//! - `personal_data`: every denial, complete mediation, fail closed, withdrawal mid-call, handles, messages and tags.
//! - `artifacts`: precompiled artifacts are reused, and corrupt or incompatible ones replaced.
//! - `approvals`: approvals bind bytes: a manifest or component edited in the database
//!   (alone, or with every digest recorded for it), an approval copied onto another
//!   version, the upgrade that signs old records, an artifact copied over another, a
//!   `--demo` restart after a developer's upload; refused
//!   uploads compile nothing; a 9 MB manifest is refused.
//! - `sessions`: one task per call, events in order, idle timeout.
//! - `cli`: `cally simulate` as a developer runs it: traces, exit codes on a
//!   closed pipe, uncoloured logs, parse errors, TOML hints for undeclared
//!   uses, the manifest found beside the component and checked against it.
//! - `manifest`: capability manifests against the real components; `cally
//!   manifest check|inspect|diff` as a security reviewer runs them.
//! - `audit_cli`: `cally audit verify` finds edited, deleted, inserted and reordered records; export.
//! - `audit_laundering`: a plugin that uses the lead's name and phone as preference keys
//!   and tags leaves neither in the audit log, before or after the lead's erasure.
//! - `audit_cli`: `cally audit verify` finds edited, deleted, inserted and reordered records; export;
//!   with a signed checkpoint, a truncated log, a deleted tenant chain and a re-chained log.
//! - `crash`: SIGKILL during many audited reads loses no audit record of a released value.
//! - `api`: the HTTP API over a real socket: the walkthrough, 401/403/404 for every
//!   endpoint, bad input, consent withdrawn mid-call, release state across a restart,
//!   access report, restriction and erasure, contact-list import and correction.
//! - `api_end`: `/end` with an end reason hands the plugin `ended` first;
//!   without a body the call ends as before; another body is refused.
//! - `api_inputs`: hostile input: transfers to raw numbers, ids with control
//!   characters or shaped as options, formula cells in the CSV export, key
//!   revocation and listing, consent limits, bounded refusals, forged log lines.
//! - `api_checkpoint`: a reviewer fetches the tenant's signed audit checkpoint and the
//!   host key; `cally audit verify --checkpoint` accepts what they kept.
//! - `api_retention`: retention policy, purge on demand and on schedule (exactly the
//!   old removed, audited, other tenants untouched); the lead's portability export.
//! - `erasure`: after an erasure or a purge over HTTP, no file under a `cally serve`
//!   data directory holds the lead's values; its files are 0600; restrictions and
//!   erasures racing corrections lose nothing.
//! - `api_script`: `scripts/walkthrough.sh` against a `cally serve --demo` process;
//!   `cally serve --config`.
//! - `minors`: a lead created, imported or corrected as a minor without parental
//!   consent is erased at once (no file under the data directory holds its values, a
//!   live call's next read is denied `lead-erased`); leads of unknown age are listed in
//!   the retention answer.
//! - `people_access`: every API route that returns or changes personal data records
//!   each lead it touches (key id and role, address, operation, fields) before it
//!   answers; every documented route is classified; refused probes for another
//!   tenant's lead, wrong roles, duplicate creates and imports are recorded denied in
//!   the caller's tenant; an unwritable log releases nothing; edited records fail
//!   `verify`.
//! - `people_access_attacks`: HEAD requests, refused imports of repeated ids, `lead=`
//!   queries on lead routes, a client gone before the answer: each leaves exactly the
//!   records the promise says.
//! - `openapi`: `/v1/openapi.json` from a `cally serve` process documents every
//!   endpoint the README's API section uses.
//! - `tls`: `cally serve --tls-cert/--tls-key` to a rustls client trusting only the
//!   test's CA, with HSTS; no plain HTTP on its port; a non-loopback bind in clear
//!   refused unless `--insecure-http`; certificate reload on SIGHUP; the walkthrough
//!   over HTTPS and SIGTERM ending its live call.

mod common;
mod data;
mod serve_process;

mod api;
mod api_checkpoint;
mod api_end;
mod api_inputs;
mod api_retention;
mod api_script;
mod api_tagging;
mod approvals;
mod artifacts;
mod audit_cli;
mod audit_laundering;
mod cli;
mod crash;
mod erasure;
mod evasion;
mod examples;
mod fair_share;
mod hostile;
mod isolation;
mod manifest;
mod minors;
mod openapi;
mod people_access;
mod people_access_attacks;
mod personal_data;
mod sessions;
mod tls;
