//! cdex-fhir: FHIR R4 knowledge for the HL7 Da Vinci CDex guide, in process and offline.
//!
//! - [`validate`]: the validator: R4 base structure, profiles from StructureDefinition
//!   differentials, terminology, narrative, FHIRPath invariants; the R4 base definitions and
//!   the CDex (2019 draft and 2.1.0) and Subscriptions Backport profiles are built in
//!   (`profiles/`, compiled into the library).
//! - [`fhirpath`]: full FHIRPath evaluation (the octofhir engine, no FHIR model);
//!   [`fhirpath_subset`]: the fast, typed subset the invariants go through first.
//! - [`profiles`]: short-named structural profiles (`profiles/structural.yaml`);
//!   [`conformance`]: the validator plus those, as "does this resource conform to profile X".
//! - [`signature`]: CDex signatures (RFC 8785 canonical JSON, detached JWS, X.509 checks),
//!   verified step by step, and made with a test-only PKI.
//! - [`attachment`]: FHIR Attachments carry what they say (base64, content type, size, hash).
//!
//! See `README.md` for an example.

pub mod attachment;
pub mod conformance;
pub mod fhirpath;
pub mod fhirpath_subset;
pub mod profiles;
pub mod signature;
pub mod validate;

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
