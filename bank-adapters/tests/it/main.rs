//! Interoperability tests: Tianping's ISO 20022 documents against the official XSDs, its
//! parsers against documents other implementations generate, and (with the keys module) its
//! SM2/SM3 signatures against an independent implementation. They need the Python virtualenv
//! and XSDs that `cargo xtask test` prepares (`xtask/src/interop.rs`) and fail — never skip —
//! without them.

mod gmssl;
mod interop;
mod python_documents;
mod rotation;
mod samples;
// Shared with the bank simulator's XSD tests (`bank-adapters/sim/tests/it/xsd.rs`).
#[path = "../interop/schemas.rs"]
mod schemas;
mod xsd;
