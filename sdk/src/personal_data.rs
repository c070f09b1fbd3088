//! A lead's personal data: the `cally:plugin/personal-data` capability.
//!
//! The host hands a plugin handles for the current call only: the call's
//! [`Lead`], its [`Transcript`] and its [`Recording`]. Every read through them
//! is checked by the host against the plugin's manifest (is this field
//! declared for the plugin's purpose?) and the lead's consents (on record, not
//! expired, not withdrawn; the lead not restricted, erased or a minor), and is
//! audited before anything comes back. A refused read returns a [`Denial`]
//! whose [`DenialReason`] the plugin can act on: greet without a name, skip a
//! message, hand over to a person. Consent can be withdrawn while a call is
//! running, so a field that was released a moment ago may be denied on the
//! next read: handle every `Err`.
//!
//! ```
//! use cally_sdk::log;
//! use cally_sdk::personal_data::{Field, Lead};
//!
//! /// "Hello Ada!" when the name may be used, else "Hello!".
//! fn greeting() -> String {
//!     let Some(lead) = Lead::current() else {
//!         return "Hello!".to_string();
//!     };
//!     match lead.get(Field::Name) {
//!         Ok(Some(name)) => {
//!             let first = name.split_whitespace().next().unwrap_or(&name);
//!             format!("Hello {first}!")
//!         }
//!         Ok(None) => "Hello!".to_string(),
//!         // Log the reason (never the value): the lead did not consent, the
//!         // manifest does not declare `name`, ...
//!         Err(denial) => {
//!             log::info(format!("greeting without a name: {}", denial.reason));
//!             "Hello!".to_string()
//!         }
//!     }
//! }
//! #
//! # use cally_sdk::personal_data::{DenialReason, testing::{self, FakeLead}};
//! # assert_eq!(greeting(), "Hello!");
//! # testing::set_lead(FakeLead::new("lead-7f3a").with(Field::Name, "Ada Lovelace"));
//! # assert_eq!(greeting(), "Hello Ada!");
//! # testing::set_lead(FakeLead::new("lead-7f3a").deny(Field::Name, DenialReason::NoConsent));
//! # assert_eq!(greeting(), "Hello!");
//! ```
//!
//! The plugin never sees what it does not read: to message a lead, return
//! [`Action::send_message`](crate::Action::send_message); the host resolves
//! the address and checks the channel's consent itself.
//!
//! # Unit tests
//!
//! Built for a native target (a plugin's `cargo test`) there is no host:
//! [`Lead::current`], [`Transcript::current`] and [`Recording::current`]
//! return what the test put in the per-thread fixtures of [`testing`], and
//! `None` when it put nothing there. Each test runs on its own thread, so
//! fixtures never leak between tests.

use std::fmt;
use std::str::FromStr;

/// A category of data on a lead's record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Field {
    /// The lead's full name.
    Name,
    /// The lead's phone number.
    Phone,
    /// The lead's email address.
    Email,
    /// Where the lead lives, as the tenant recorded it (such as a city).
    Location,
    /// The lead's preferred language, as a BCP 47 tag.
    Language,
    /// All of the lead's preferences, as a JSON object. Prefer
    /// [`Lead::preference`] to read just the one you need.
    Preferences,
}

impl Field {
    /// Every field, in the WIT's order.
    pub const ALL: [Field; 6] = [
        Field::Name,
        Field::Phone,
        Field::Email,
        Field::Location,
        Field::Language,
        Field::Preferences,
    ];

    /// The field's name as the WIT and the manifest spell it: `name`, `phone`,
    /// `email`, `location`, `language` or `preferences`.
    ///
    /// ```
    /// use cally_sdk::personal_data::Field;
    ///
    /// assert_eq!(Field::Name.as_str(), "name");
    /// assert_eq!("phone".parse::<Field>(), Ok(Field::Phone));
    /// assert!("ssn".parse::<Field>().is_err());
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Phone => "phone",
            Field::Email => "email",
            Field::Location => "location",
            Field::Language => "language",
            Field::Preferences => "preferences",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Field {
    type Err = UnknownField;

    /// Parses a field's name as [`Field::as_str`] spells it.
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Field::ALL
            .into_iter()
            .find(|field| field.as_str() == name)
            .ok_or_else(|| UnknownField(name.to_owned()))
    }
}

/// A name that is not one of the [`Field`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownField(pub String);

impl fmt::Display for UnknownField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown lead field `{}`", self.0)
    }
}

impl std::error::Error for UnknownField {}

/// Why a read was refused. A plugin can act on it: greet without a name, skip
/// a message, hand over to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DenialReason {
    /// The plugin's manifest does not declare this field for its purpose.
    NotDeclared,
    /// The lead never consented to this purpose (or channel).
    NoConsent,
    /// The lead's consent for this purpose has expired.
    ConsentExpired,
    /// The lead withdrew consent for this purpose.
    ConsentWithdrawn,
    /// The lead asked for processing of their data to be restricted.
    LeadRestricted,
    /// The lead's personal data was erased.
    LeadErased,
    /// The lead is (or may be) under 18 and no verifiable parental consent
    /// covers this use; tagging and profiling of minors are never allowed.
    LeadIsMinor,
    /// The host could not make the audit record durable, so it released
    /// nothing. Unlike the others this may pass: a later read may succeed.
    AuditUnavailable,
}

impl DenialReason {
    /// The reason as the WIT spells it, in kebab case: `not-declared`,
    /// `no-consent`, `consent-expired`, `consent-withdrawn`, `lead-restricted`,
    /// `lead-erased`, `lead-is-minor` or `audit-unavailable`. Also what
    /// [`Display`](fmt::Display) writes.
    ///
    /// ```
    /// use cally_sdk::personal_data::DenialReason;
    ///
    /// assert_eq!(DenialReason::LeadIsMinor.code(), "lead-is-minor");
    /// assert_eq!(DenialReason::NoConsent.to_string(), "no-consent");
    /// ```
    pub fn code(self) -> &'static str {
        match self {
            DenialReason::NotDeclared => "not-declared",
            DenialReason::NoConsent => "no-consent",
            DenialReason::ConsentExpired => "consent-expired",
            DenialReason::ConsentWithdrawn => "consent-withdrawn",
            DenialReason::LeadRestricted => "lead-restricted",
            DenialReason::LeadErased => "lead-erased",
            DenialReason::LeadIsMinor => "lead-is-minor",
            DenialReason::AuditUnavailable => "audit-unavailable",
        }
    }
}

impl fmt::Display for DenialReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A refused read: the reason, and a sentence saying what would allow it.
///
/// Both are safe to log; neither ever holds personal data.
///
/// ```
/// use cally_sdk::personal_data::{Denial, DenialReason};
///
/// let denial = Denial::new(DenialReason::NotDeclared, "declare `phone` in cally.toml");
/// assert_eq!(denial.to_string(), "not-declared: declare `phone` in cally.toml");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Denial {
    /// Why.
    pub reason: DenialReason,
    /// For the developer's log: what would allow the read.
    pub message: String,
}

impl Denial {
    /// A denial for `reason`, explained by `message`.
    pub fn new(reason: DenialReason, message: impl Into<String>) -> Self {
        Denial {
            reason,
            message: message.into(),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Denial {}

/// The lead the current call is with, if the platform named one. Valid for
/// this call only: the host refuses it in any other call.
///
/// Every read is checked and audited by the host; see the
/// [module documentation](self).
///
/// ```
/// use cally_sdk::personal_data::{Field, Lead};
/// # use cally_sdk::personal_data::testing::{self, FakeLead};
/// # testing::set_lead(FakeLead::new("lead-7f3a")
/// #     .with(Field::Name, "Ada Lovelace")
/// #     .with_preference("preferred-time", "mornings"));
///
/// if let Some(lead) = Lead::current() {
///     // One audited round trip for several fields; one result each, in order.
///     let [name, language] = lead.get_many(&[Field::Name, Field::Language]).try_into().unwrap();
///     let time = lead.preference("preferred-time");
///     # assert_eq!(name, Ok(Some("Ada Lovelace".to_string())));
///     # assert_eq!(language, Ok(None));
///     # assert_eq!(time, Ok(Some("mornings".to_string())));
///     # assert_eq!(lead.pseudonym(), "lead-7f3a");
/// }
/// # assert_eq!(testing::take_reads().len(), 2);
/// ```
pub struct Lead {
    inner: imp::Lead,
}

impl Lead {
    /// The lead of the current call, or `None` when the platform named no lead
    /// (an unknown inbound caller, say).
    pub fn current() -> Option<Lead> {
        imp::Lead::current().map(|inner| Lead { inner })
    }

    /// A stable pseudonym for the lead, safe to log. Not personal data, and
    /// not a read: it is neither checked nor audited.
    pub fn pseudonym(&self) -> String {
        self.inner.pseudonym()
    }

    /// Reads one field: its value, `None` when the lead's record has no value
    /// for it, or why the host refused.
    pub fn get(&self, field: Field) -> Result<Option<String>, Denial> {
        self.inner.get(field)
    }

    /// Reads several fields in one audited round trip: one result per field,
    /// in the order asked. Each field is decided on its own, so some may be
    /// released while others are denied.
    pub fn get_many(&self, fields: &[Field]) -> Vec<Result<Option<String>, Denial>> {
        self.inner.get_many(fields)
    }

    /// Reads one preference by key (such as `preferred-time`); `None` when the
    /// lead has no such preference. Counts as a read of
    /// [`Field::Preferences`]: it is allowed or denied exactly as that field.
    pub fn preference(&self, key: &str) -> Result<Option<String>, Denial> {
        self.inner.preference(key)
    }
}

impl fmt::Debug for Lead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lead").finish_non_exhaustive()
    }
}

/// Who spoke a [`Turn`] of a transcript.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Speaker {
    /// The person on the line.
    Caller,
    /// The flow, speaking for the tenant.
    Agent,
}

impl Speaker {
    /// `caller` or `agent`, as the WIT spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::Caller => "caller",
            Speaker::Agent => "agent",
        }
    }
}

impl fmt::Display for Speaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One line of a call's transcript.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Turn {
    /// Who spoke.
    pub speaker: Speaker,
    /// What was said.
    pub text: String,
}

impl Turn {
    /// A line the caller said. Handy in unit tests.
    pub fn caller(text: impl Into<String>) -> Self {
        Turn {
            speaker: Speaker::Caller,
            text: text.into(),
        }
    }

    /// A line the flow said. Handy in unit tests.
    pub fn agent(text: impl Into<String>) -> Self {
        Turn {
            speaker: Speaker::Agent,
            text: text.into(),
        }
    }

    /// True if the line contains any of `phrases` as whole words, ignoring
    /// case and punctuation, like
    /// [`CallerSpeech::mentions_any`](crate::CallerSpeech::mentions_any).
    ///
    /// ```
    /// use cally_sdk::personal_data::Turn;
    ///
    /// assert!(Turn::caller("What's the PRICE?").mentions_any(&["price", "cost"]));
    /// assert!(!Turn::caller("priceless").mentions_any(&["price"]));
    /// ```
    pub fn mentions_any(&self, phrases: &[&str]) -> bool {
        crate::event::mentions_any(&self.text, phrases)
    }
}

/// The transcript of the current call. Valid for this call only.
///
/// A [`LeadTagger`](crate::LeadTagger) gets the finished call's transcript.
///
/// ```
/// use cally_sdk::personal_data::{Speaker, Transcript};
///
/// fn caller_asked_for_a_person() -> bool {
///     let Some(transcript) = Transcript::current() else { return false };
///     match transcript.turns() {
///         Ok(turns) => turns
///             .iter()
///             .any(|turn| turn.speaker == Speaker::Caller && turn.mentions_any(&["agent", "person"])),
///         // Not allowed to read it: no tag rather than a guess.
///         Err(_) => false,
///     }
/// }
/// # use cally_sdk::personal_data::{testing, Turn};
/// # assert!(!caller_asked_for_a_person());
/// # testing::set_transcript([Turn::agent("Hello!"), Turn::caller("Can I talk to a person?")]);
/// # assert!(caller_asked_for_a_person());
/// ```
pub struct Transcript {
    inner: imp::Transcript,
}

impl Transcript {
    /// The transcript of the current call, if the platform keeps one.
    pub fn current() -> Option<Transcript> {
        imp::Transcript::current().map(|inner| Transcript { inner })
    }

    /// Every line so far, in order, or why the host refused.
    pub fn turns(&self) -> Result<Vec<Turn>, Denial> {
        self.inner.turns()
    }
}

impl fmt::Debug for Transcript {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transcript").finish_non_exhaustive()
    }
}

/// The recording of the current call. Valid for this call only.
///
/// ```
/// use cally_sdk::personal_data::Recording;
///
/// if let Some(recording) = Recording::current() {
///     match recording.reference() {
///         Ok(reference) => cally_sdk::log::info(format!("queued {reference} for review")),
///         Err(denial) => cally_sdk::log::info(format!("no review: {}", denial.reason)),
///     }
/// }
/// ```
pub struct Recording {
    inner: imp::Recording,
}

impl Recording {
    /// The recording of the current call, if it is being recorded.
    pub fn current() -> Option<Recording> {
        imp::Recording::current().map(|inner| Recording { inner })
    }

    /// The platform's reference to the recording, for an agent's review
    /// queue, or why the host refused.
    pub fn reference(&self) -> Result<String, Denial> {
        self.inner.reference()
    }
}

impl fmt::Debug for Recording {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Recording").finish_non_exhaustive()
    }
}

/// Inside the sandbox: the host's resources.
#[cfg(target_arch = "wasm32")]
mod imp {
    use super::{Denial, Field, Turn};
    use crate::wit::personal_data as wit;

    pub struct Lead(wit::Lead);

    impl Lead {
        pub fn current() -> Option<Self> {
            wit::current_lead().map(Lead)
        }

        pub fn pseudonym(&self) -> String {
            self.0.pseudonym()
        }

        pub fn get(&self, field: Field) -> Result<Option<String>, Denial> {
            self.0.get(field.into()).map_err(Denial::from)
        }

        pub fn get_many(&self, fields: &[Field]) -> Vec<Result<Option<String>, Denial>> {
            let fields: Vec<wit::Field> = fields.iter().map(|&field| field.into()).collect();
            self.0
                .get_many(&fields)
                .into_iter()
                .map(|result| result.map_err(Denial::from))
                .collect()
        }

        pub fn preference(&self, key: &str) -> Result<Option<String>, Denial> {
            self.0.preference(key).map_err(Denial::from)
        }
    }

    pub struct Transcript(wit::Transcript);

    impl Transcript {
        pub fn current() -> Option<Self> {
            wit::current_transcript().map(Transcript)
        }

        pub fn turns(&self) -> Result<Vec<Turn>, Denial> {
            match self.0.turns() {
                Ok(turns) => Ok(turns.into_iter().map(Turn::from).collect()),
                Err(denial) => Err(denial.into()),
            }
        }
    }

    pub struct Recording(wit::Recording);

    impl Recording {
        pub fn current() -> Option<Self> {
            wit::current_recording().map(Recording)
        }

        pub fn reference(&self) -> Result<String, Denial> {
            self.0.reference().map_err(Denial::from)
        }
    }
}

/// On a native target: the test's fixtures.
#[cfg(not(target_arch = "wasm32"))]
mod imp {
    use super::testing::{self, Read};
    use super::{Denial, Field, Turn};

    /// Reads go to the fixture set when they happen, like the host's live
    /// consent checks.
    pub struct Lead {
        pseudonym: String,
    }

    impl Lead {
        pub fn current() -> Option<Self> {
            testing::with_lead(|lead| {
                lead.map(|lead| Lead {
                    pseudonym: lead.pseudonym.clone(),
                })
            })
        }

        pub fn pseudonym(&self) -> String {
            self.pseudonym.clone()
        }

        pub fn get(&self, field: Field) -> Result<Option<String>, Denial> {
            testing::record(Read::Get(field));
            testing::with_lead(|lead| live(lead).get(field))
        }

        pub fn get_many(&self, fields: &[Field]) -> Vec<Result<Option<String>, Denial>> {
            testing::record(Read::GetMany(fields.to_vec()));
            testing::with_lead(|lead| {
                let lead = live(lead);
                fields.iter().map(|&field| lead.get(field)).collect()
            })
        }

        pub fn preference(&self, key: &str) -> Result<Option<String>, Denial> {
            testing::record(Read::Preference(key.to_owned()));
            testing::with_lead(|lead| live(lead).preference(key))
        }
    }

    fn live(lead: Option<&testing::FakeLead>) -> &testing::FakeLead {
        lead.expect("the test cleared its fake lead while the plugin still held it (see personal_data::testing)")
    }

    pub struct Transcript;

    impl Transcript {
        pub fn current() -> Option<Self> {
            testing::has_transcript().then_some(Transcript)
        }

        pub fn turns(&self) -> Result<Vec<Turn>, Denial> {
            testing::record(Read::Turns);
            testing::transcript().expect(
                "the test cleared its fake transcript while the plugin still held it (see personal_data::testing)",
            )
        }
    }

    pub struct Recording;

    impl Recording {
        pub fn current() -> Option<Self> {
            testing::has_recording().then_some(Recording)
        }

        pub fn reference(&self) -> Result<String, Denial> {
            testing::record(Read::Reference);
            testing::recording().expect(
                "the test cleared its fake recording while the plugin still held it (see personal_data::testing)",
            )
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
pub mod testing {
    //! Fake personal data for a plugin's unit tests, on a native target only.
    //!
    //! There is no host in `cargo test`: what [`Lead::current`],
    //! [`Transcript::current`] and [`Recording::current`] return comes from
    //! per-thread fixtures set here, and is `None` until a test sets one.
    //! Reads consult the fixture when they happen, so a test can change it
    //! between two events, like a lead withdrawing consent mid-call. Every
    //! read is kept for [`take_reads`], as the host would audit it.
    //!
    //! ```
    //! use cally_sdk::personal_data::testing::{self, FakeLead, Read};
    //! use cally_sdk::personal_data::{DenialReason, Field, Lead};
    //!
    //! testing::set_lead(
    //!     FakeLead::new("lead-7f3a")
    //!         .with(Field::Name, "Ada Lovelace")
    //!         .with_preference("preferred-time", "mornings")
    //!         .deny(Field::Phone, DenialReason::NotDeclared),
    //! );
    //!
    //! let lead = Lead::current().unwrap();
    //! assert_eq!(lead.get(Field::Name), Ok(Some("Ada Lovelace".into())));
    //! assert_eq!(lead.get(Field::Email), Ok(None));
    //! assert_eq!(lead.get(Field::Phone).unwrap_err().reason, DenialReason::NotDeclared);
    //! assert_eq!(lead.preference("preferred-time"), Ok(Some("mornings".into())));
    //!
    //! // The lead withdraws consent: the next read is denied.
    //! testing::set_lead(FakeLead::new("lead-7f3a").deny_all(DenialReason::ConsentWithdrawn));
    //! assert_eq!(lead.get(Field::Name).unwrap_err().reason, DenialReason::ConsentWithdrawn);
    //!
    //! assert_eq!(testing::take_reads().len(), 5);
    //! ```
    //!
    //! [`Lead::current`]: super::Lead::current
    //! [`Transcript::current`]: super::Transcript::current
    //! [`Recording::current`]: super::Recording::current

    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use super::{Denial, DenialReason, Field, Turn};

    /// A lead record for a test: a pseudonym, field values and preferences,
    /// and the reads the host would refuse. A field never set has no value
    /// (reads give `Ok(None)`).
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct FakeLead {
        pub(super) pseudonym: String,
        fields: BTreeMap<Field, Result<String, Denial>>,
        preferences: BTreeMap<String, String>,
        denied: Option<Denial>,
    }

    impl FakeLead {
        /// A lead with this pseudonym and no data.
        pub fn new(pseudonym: impl Into<String>) -> Self {
            FakeLead {
                pseudonym: pseudonym.into(),
                ..FakeLead::default()
            }
        }

        /// `field` has `value`. For [`Field::Preferences`] that is the JSON
        /// object [`Lead::get`](super::Lead::get) returns; without it, the
        /// [`with_preference`](Self::with_preference) values are returned as
        /// one.
        pub fn with(mut self, field: Field, value: impl Into<String>) -> Self {
            self.fields.insert(field, Ok(value.into()));
            self
        }

        /// The preference `key` has `value`.
        pub fn with_preference(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
            self.preferences.insert(key.into(), value.into());
            self
        }

        /// Reads of `field` are denied for `reason` (preferences too when
        /// `field` is [`Field::Preferences`]).
        pub fn deny(mut self, field: Field, reason: DenialReason) -> Self {
            self.fields.insert(field, Err(fixture_denial(reason)));
            self
        }

        /// Every read is denied for `reason`, as for a lead that is
        /// restricted, erased, a minor or withdrew consent.
        pub fn deny_all(mut self, reason: DenialReason) -> Self {
            self.denied = Some(fixture_denial(reason));
            self
        }

        pub(super) fn get(&self, field: Field) -> Result<Option<String>, Denial> {
            if let Some(denial) = &self.denied {
                return Err(denial.clone());
            }
            match self.fields.get(&field) {
                Some(Ok(value)) => Ok(Some(value.clone())),
                Some(Err(denial)) => Err(denial.clone()),
                None if field == Field::Preferences && !self.preferences.is_empty() => {
                    Ok(Some(json_object(&self.preferences)))
                }
                None => Ok(None),
            }
        }

        pub(super) fn preference(&self, key: &str) -> Result<Option<String>, Denial> {
            self.get(Field::Preferences)?;
            Ok(self.preferences.get(key).cloned())
        }
    }

    /// One read a plugin made, as the host would audit it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    #[non_exhaustive]
    pub enum Read {
        /// [`Lead::get`](super::Lead::get).
        Get(Field),
        /// [`Lead::get_many`](super::Lead::get_many): one round trip.
        GetMany(Vec<Field>),
        /// [`Lead::preference`](super::Lead::preference), with its key.
        Preference(String),
        /// [`Transcript::turns`](super::Transcript::turns).
        Turns,
        /// [`Recording::reference`](super::Recording::reference).
        Reference,
    }

    #[derive(Default)]
    struct Fixtures {
        lead: Option<FakeLead>,
        transcript: Option<Result<Vec<Turn>, Denial>>,
        recording: Option<Result<String, Denial>>,
        reads: Vec<Read>,
    }

    std::thread_local! {
        static FIXTURES: RefCell<Fixtures> = RefCell::new(Fixtures::default());
    }

    fn with<R>(f: impl FnOnce(&mut Fixtures) -> R) -> R {
        FIXTURES.with(|fixtures| f(&mut fixtures.borrow_mut()))
    }

    /// The current call's lead is `lead` (on this thread), replacing any
    /// other; handles the plugin already holds read from it from now on.
    pub fn set_lead(lead: FakeLead) {
        with(|fixtures| fixtures.lead = Some(lead));
    }

    /// The current call's transcript has these lines.
    pub fn set_transcript(turns: impl IntoIterator<Item = Turn>) {
        with(|fixtures| fixtures.transcript = Some(Ok(turns.into_iter().collect())));
    }

    /// The current call has a transcript, but reading it is denied for `reason`.
    pub fn deny_transcript(reason: DenialReason) {
        with(|fixtures| fixtures.transcript = Some(Err(fixture_denial(reason))));
    }

    /// The current call is recorded as `reference`.
    pub fn set_recording(reference: impl Into<String>) {
        with(|fixtures| fixtures.recording = Some(Ok(reference.into())));
    }

    /// The current call is recorded, but reading the reference is denied for
    /// `reason`.
    pub fn deny_recording(reason: DenialReason) {
        with(|fixtures| fixtures.recording = Some(Err(fixture_denial(reason))));
    }

    /// No lead, transcript or recording, and no reads kept, as at the start of
    /// every test.
    pub fn reset() {
        with(|fixtures| *fixtures = Fixtures::default());
    }

    /// The reads made on this thread since the last call, oldest first.
    pub fn take_reads() -> Vec<Read> {
        with(|fixtures| std::mem::take(&mut fixtures.reads))
    }

    pub(super) fn record(read: Read) {
        with(|fixtures| fixtures.reads.push(read));
    }

    pub(super) fn with_lead<R>(f: impl FnOnce(Option<&FakeLead>) -> R) -> R {
        with(|fixtures| f(fixtures.lead.as_ref()))
    }

    pub(super) fn has_transcript() -> bool {
        with(|fixtures| fixtures.transcript.is_some())
    }

    pub(super) fn transcript() -> Option<Result<Vec<Turn>, Denial>> {
        with(|fixtures| fixtures.transcript.clone())
    }

    pub(super) fn has_recording() -> bool {
        with(|fixtures| fixtures.recording.is_some())
    }

    pub(super) fn recording() -> Option<Result<String, Denial>> {
        with(|fixtures| fixtures.recording.clone())
    }

    fn fixture_denial(reason: DenialReason) -> Denial {
        Denial::new(reason, format!("denied by the test's fixture ({reason})"))
    }

    /// `map` as a JSON object of strings.
    fn json_object(map: &BTreeMap<String, String>) -> String {
        fn string(out: &mut String, s: &str) {
            out.push('"');
            for c in s.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                    c => out.push(c),
                }
            }
            out.push('"');
        }
        let mut out = String::from("{");
        for (i, (key, value)) in map.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            string(&mut out, key);
            out.push(':');
            string(&mut out, value);
        }
        out.push('}');
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use crate::personal_data::{Lead, Recording, Transcript};

        #[test]
        fn nothing_is_there_until_a_test_sets_it() {
            assert!(Lead::current().is_none());
            assert!(Transcript::current().is_none());
            assert!(Recording::current().is_none());
            assert!(take_reads().is_empty());
        }

        #[test]
        fn preferences_follow_the_preferences_field() {
            set_lead(
                FakeLead::new("p")
                    .with_preference("preferred-time", "mornings")
                    .with_preference("note", "say \"hi\""),
            );
            let lead = Lead::current().unwrap();
            assert_eq!(
                lead.get(Field::Preferences),
                Ok(Some(
                    r#"{"note":"say \"hi\"","preferred-time":"mornings"}"#.into()
                ))
            );
            assert_eq!(lead.preference("missing"), Ok(None));
            set_lead(
                FakeLead::new("p")
                    .with_preference("preferred-time", "mornings")
                    .deny(Field::Preferences, DenialReason::NotDeclared),
            );
            assert_eq!(
                lead.preference("preferred-time").unwrap_err().reason,
                DenialReason::NotDeclared
            );
            assert_eq!(
                take_reads(),
                [
                    Read::Get(Field::Preferences),
                    Read::Preference("missing".into()),
                    Read::Preference("preferred-time".into()),
                ]
            );
        }

        #[test]
        fn get_many_is_one_read_with_a_result_per_field() {
            set_lead(
                FakeLead::new("p")
                    .with(Field::Name, "Ada")
                    .deny(Field::Phone, DenialReason::NoConsent),
            );
            let results =
                Lead::current()
                    .unwrap()
                    .get_many(&[Field::Phone, Field::Name, Field::Email]);
            assert_eq!(
                results[0].as_ref().unwrap_err().reason,
                DenialReason::NoConsent
            );
            assert_eq!(results[1], Ok(Some("Ada".into())));
            assert_eq!(results[2], Ok(None));
            assert_eq!(
                take_reads(),
                [Read::GetMany(vec![Field::Phone, Field::Name, Field::Email])]
            );
        }

        #[test]
        fn transcript_and_recording_fixtures() {
            set_transcript([Turn::agent("Hi"), Turn::caller("Hello")]);
            deny_recording(DenialReason::LeadRestricted);
            let turns = Transcript::current().unwrap().turns().unwrap();
            assert_eq!(turns[1].speaker, crate::personal_data::Speaker::Caller);
            let recording = Recording::current().unwrap();
            assert_eq!(
                recording.reference().unwrap_err().reason,
                DenialReason::LeadRestricted
            );
            set_recording("rec-1");
            assert_eq!(recording.reference(), Ok("rec-1".into()));
            reset();
            assert!(Transcript::current().is_none());
        }

        #[test]
        #[should_panic(expected = "cleared its fake lead")]
        fn a_cleared_lead_is_like_an_ended_call() {
            set_lead(FakeLead::new("p"));
            let lead = Lead::current().unwrap();
            reset();
            let _ = lead.get(Field::Name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wit::personal_data as wit;

    #[test]
    fn fields_round_trip_through_the_wit_and_their_names() {
        for field in Field::ALL {
            assert_eq!(Field::from(wit::Field::from(field)), field);
            assert_eq!(field.as_str().parse::<Field>(), Ok(field));
        }
        assert_eq!("Name".parse::<Field>(), Err(UnknownField("Name".into())));
    }

    #[test]
    fn denials_convert_with_their_kebab_case_codes() {
        let cases = [
            (wit::DenialReason::NotDeclared, "not-declared"),
            (wit::DenialReason::NoConsent, "no-consent"),
            (wit::DenialReason::ConsentExpired, "consent-expired"),
            (wit::DenialReason::ConsentWithdrawn, "consent-withdrawn"),
            (wit::DenialReason::LeadRestricted, "lead-restricted"),
            (wit::DenialReason::LeadErased, "lead-erased"),
            (wit::DenialReason::LeadIsMinor, "lead-is-minor"),
            (wit::DenialReason::AuditUnavailable, "audit-unavailable"),
        ];
        for (reason, code) in cases {
            let denial = Denial::from(wit::Denial {
                reason,
                message: "why".into(),
            });
            assert_eq!(denial.reason.code(), code);
            assert_eq!(denial.to_string(), format!("{code}: why"));
        }
    }

    #[test]
    fn turns_convert() {
        let turn = Turn::from(wit::Turn {
            speaker: wit::Speaker::Agent,
            text: "Hello".into(),
        });
        assert_eq!(turn, Turn::agent("Hello"));
    }
}
