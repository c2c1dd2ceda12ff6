//! ISO 20022 XML: the messages banks exchange as files or over host-to-host links.
//!
//! - [`pain001`] writes `pain.001.001.09` (customer credit transfer initiation): one payout
//!   attempt per message.
//! - [`pain002`] reads and writes `pain.002.001.10` (customer payment status report; also
//!   `.12`, whose official schema is the one shipped where CI can validate).
//! - [`camt`] reads and writes `camt.054.001.08` (debit/credit notifications) and
//!   `camt.053.001.08` (statements).
//!
//! Every document goes through `quick-xml`'s serde support and the private `wire` structs,
//! whose field names and order are the schema's, so the text is never assembled by hand.
//! Reading is tolerant of what real documents add (unknown elements are skipped, prefixes are
//! allowed) and strict on what decides money: the root must be `Document` in exactly the
//! expected namespace (another message or another version is a typed [`XmlError`]), amounts
//! go through [`crate::money`], dates through [`crate::calendar`], and documents over
//! [`DOCUMENT_BYTES_MAX`] are refused before parsing.

pub mod camt;
pub mod pain001;
pub mod pain002;
mod wire;

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::calendar::CalendarError;
use crate::money::{Currency, MoneyError};
use crate::payment::ReferenceError;

/// The namespace prefix every ISO 20022 message schema shares; the message id and version
/// follow it (`pain.001.001.09`).
pub const NAMESPACE_PREFIX: &str = "urn:iso:std:iso:20022:tech:xsd:";

/// The largest document read: a day's camt.053 for a busy custody account is a few MiB; a
/// bound keeps a broken or hostile peer from exhausting memory.
pub const DOCUMENT_BYTES_MAX: usize = 64 * 1024 * 1024;

/// ISO 20022 amounts (`ActiveOrHistoricCurrencyAndAmount`, `DecimalNumber`) allow at most 18
/// digits in total: larger amounts cannot be written, whatever `u128` holds.
pub const AMOUNT_DIGITS_MAX: usize = 18;

/// Why a document could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum XmlError {
    /// Larger than [`DOCUMENT_BYTES_MAX`].
    #[error("document of {bytes} bytes is over the {DOCUMENT_BYTES_MAX}-byte bound")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// No root element, or the root is not `Document`.
    #[error("the root element is {found:?}, not an ISO 20022 Document")]
    NotADocument {
        /// The root's local name, or empty when there is none.
        found: String,
    },
    /// The root is in another message's namespace (a camt.053 where a pain.002 was expected).
    #[error("expected message {expected}, the document is {found:?}")]
    WrongMessage {
        /// The expected namespace.
        expected: &'static str,
        /// The document's namespace (empty when it has none).
        found: String,
    },
    /// Same message, another version (`pain.002.001.03` where `.10` was expected): versions
    /// differ in structure, so reading one as another could misplace statuses or amounts.
    #[error("expected message version {expected}, the document is {found}")]
    WrongVersion {
        /// The expected namespace.
        expected: &'static str,
        /// The document's namespace.
        found: String,
    },
    /// Not well-formed, or a required element is missing or of the wrong shape.
    #[error("malformed document: {detail}")]
    Malformed {
        /// The parser's message.
        detail: String,
    },
    /// A required element is missing (beyond what the schema shape already enforces).
    #[error("missing {element}")]
    Missing {
        /// Path of the element.
        element: &'static str,
    },
    /// A code the crate does not know where it must know it (a `CdtDbtInd` other than
    /// `CRDT`/`DBIT`).
    #[error("{element} has unknown code {value:?}")]
    UnknownCode {
        /// Which element.
        element: &'static str,
        /// The value found.
        value: String,
    },
    /// An amount or currency that [`crate::money`] refuses.
    #[error("amount in {element}: {source}")]
    Money {
        /// Which element.
        element: &'static str,
        /// Why.
        source: MoneyError,
    },
    /// An amount with more than [`AMOUNT_DIGITS_MAX`] digits: not representable in ISO 20022.
    #[error(
        "{minor_units} minor units of {currency} exceed the {AMOUNT_DIGITS_MAX} digits ISO 20022 allows"
    )]
    AmountTooLarge {
        /// The amount.
        minor_units: u128,
        /// Its currency.
        currency: Currency,
    },
    /// A date that [`crate::calendar`] refuses.
    #[error("date in {element}: {source}")]
    Date {
        /// Which element.
        element: &'static str,
        /// Why.
        source: CalendarError,
    },
    /// An id or name that cannot go into (or did not come well-formed out of) a document.
    #[error("reference: {0}")]
    Reference(#[from] ReferenceError),
    /// The serializer failed.
    #[error("could not write the document: {detail}")]
    Write {
        /// The serializer's message.
        detail: String,
    },
}

/// Checks that `text` is an ISO 20022 `Document` in exactly `expected`'s namespace, then
/// deserializes it: the one entry point of every parser in this module.
pub(crate) fn read_document<T: serde::de::DeserializeOwned>(
    text: &str,
    expected: &'static str,
) -> Result<T, XmlError> {
    if text.len() > DOCUMENT_BYTES_MAX {
        return Err(XmlError::TooLarge { bytes: text.len() });
    }
    check_root(text, expected)?;
    quick_xml::de::from_str(text).map_err(|error| XmlError::Malformed { detail: error.to_string() })
}

/// The root element's namespace check.
fn check_root(text: &str, expected: &'static str) -> Result<(), XmlError> {
    let mut reader = NsReader::from_str(text);
    loop {
        let (namespace, event) = reader
            .read_resolved_event()
            .map_err(|error| XmlError::Malformed { detail: error.to_string() })?;
        let start = match event {
            Event::Start(start) | Event::Empty(start) => start,
            Event::Eof => return Err(XmlError::NotADocument { found: String::new() }),
            _ => continue,
        };
        let local = start.local_name().into_inner().to_owned();
        if local != "Document" {
            return Err(XmlError::NotADocument { found: local });
        }
        let found = match namespace {
            ResolveResult::Bound(namespace) => namespace.into_inner().to_owned(),
            ResolveResult::Unbound | ResolveResult::Unknown(_) => String::new(),
        };
        if found == expected {
            return Ok(());
        }
        // "urn:…:pain.002.001.03" vs "urn:…:pain.002.001.10": same message, other version.
        let family =
            |namespace: &str| namespace.rsplit_once('.').map(|(family, _)| family.to_owned());
        return if found.starts_with(NAMESPACE_PREFIX) && family(&found) == family(expected) {
            Err(XmlError::WrongVersion { expected, found })
        } else {
            Err(XmlError::WrongMessage { expected, found })
        };
    }
}

/// Serializes a wire document with an XML declaration, the one entry point of every writer.
pub(crate) fn write_document<T: serde::Serialize>(document: &T) -> Result<String, XmlError> {
    let body = quick_xml::se::to_string_with_root("Document", document)
        .map_err(|error| XmlError::Write { detail: error.to_string() })?;
    Ok(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}\n"))
}

/// An amount as ISO 20022 text, refusing what the schema's 18 digits cannot hold.
pub(crate) fn amount_text(minor_units: u128, currency: Currency) -> Result<String, XmlError> {
    let text = crate::money::format_minor_units(minor_units, currency);
    let digits = text.bytes().filter(u8::is_ascii_digit).count();
    if digits > AMOUNT_DIGITS_MAX {
        return Err(XmlError::AmountTooLarge { minor_units, currency });
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAIN_002_10: &str = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10";

    fn root_check(text: &str) -> Result<(), XmlError> {
        check_root(text, PAIN_002_10)
    }

    #[test]
    fn roots_are_checked_by_namespace() {
        assert!(
            root_check(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"/>"#)
                .is_ok()
        );
        assert!(root_check(r#"<?xml version="1.0"?><!-- c --><p:Document xmlns:p="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10"/>"#).is_ok());
        assert!(matches!(
            root_check(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"/>"#),
            Err(XmlError::WrongVersion { .. })
        ));
        assert!(matches!(
            root_check(r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"/>"#),
            Err(XmlError::WrongMessage { .. })
        ));
        assert!(matches!(root_check(r#"<Document/>"#), Err(XmlError::WrongMessage { .. })));
        assert!(matches!(root_check(r#"<Doc xmlns="x"/>"#), Err(XmlError::NotADocument { .. })));
        assert!(matches!(root_check(""), Err(XmlError::NotADocument { .. })));
        assert!(matches!(root_check("<Document"), Err(XmlError::Malformed { .. })));
    }

    #[test]
    fn amounts_beyond_eighteen_digits_cannot_be_written() {
        assert_eq!(
            amount_text(999_999_999_999_999_999, Currency::Jpy).ok().as_deref(),
            Some("999999999999999999")
        );
        assert!(matches!(
            amount_text(1_000_000_000_000_000_000, Currency::Jpy),
            Err(XmlError::AmountTooLarge { .. })
        ));
        assert_eq!(amount_text(5, Currency::Kwd).ok().as_deref(), Some("0.005"));
    }
}
