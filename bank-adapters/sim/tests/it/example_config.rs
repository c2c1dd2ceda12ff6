//! The documented example configuration loads and builds, with dev keys generated beside a
//! copy of it, and has a bank of each protocol.

use tianping_bank_adapters::keys::SignScheme;
use tianping_bank_sim::bank::records::Protocol;
use tianping_bank_sim::config::{SimConfig, generate_dev_keys};

#[test]
fn the_example_configuration_builds_with_generated_dev_keys() {
    let directory = tempfile::tempdir().expect("temporary directory");
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/bank-sim.example.toml");
    let copy = directory.path().join("bank-sim.toml");
    std::fs::copy(example, &copy).expect("copies");
    generate_dev_keys(&directory.path().join("keys"), &[("direct-b", SignScheme::Sm2Sm3)])
        .expect("dev keys");
    let config = SimConfig::load(&copy).expect("loads");
    let protocols: Vec<Protocol> = config.banks.iter().map(|bank| bank.protocol).collect();
    assert!(protocols.contains(&Protocol::Iso20022) && protocols.contains(&Protocol::Direct));
    let simulator = config.build(1_715_851_800_000).expect("builds");
    assert_eq!(simulator.banks().count(), 2);
    // Without the keys, the direct bank cannot be built.
    std::fs::remove_dir_all(directory.path().join("keys")).expect("removes");
    assert!(config.build(0).is_err());
}
