//! Golden bytes of the batch format: a fixed batch holding every command kind, encoded and
//! compared with hex written down here. If this test fails, the encoding of a log entry's
//! batch changed: a replica running the previous build would refuse (or worse, misread) the
//! new entries. Make the change deliberate — a new `BATCH_FORMAT_VERSION` and a reader for the
//! old one (ARCHITECTURE.md, "Formats and rolling upgrades") — then update the hex.

use tianping_ledger::format::{self, BATCH_FORMAT_VERSION, FormatError};
use tianping_ledger::{
    AccountFlags, AccountLimitsChange, AccountStatus, AccountStatusChange, AssignSuspense, Batch,
    ClaimPayouts, Command, DiscrepancyClass, Limits, NewAccount, NewCollection, NewDiscrepancy,
    NewPayout, NewTransfer, PayoutBatchClaim, PayoutOutcome, RecordPayoutOutcome,
    ResolveDiscrepancy, SetAccountLimits, SetAccountStatus, TransferFlags,
};

/// One command of every kind (the match below fails to compile when a kind is added), each
/// field a distinct non-default value so a reordered or resized field shows in the bytes.
fn every_command_kind() -> Batch {
    let mut batch = every_version_1_command_kind();
    batch.commands.extend([
        Command::ChangeAccountStatus(AccountStatusChange {
            id: 0x0a0b_0c0d_0e0f_1011_1213_1415_1617_1819,
            account_id: 1,
            expected_controls_version: 3,
            status: AccountStatus::OutflowBlocked,
            reason: "chargeback wave".to_owned(),
            actor: "risk-desk".to_owned(),
        }),
        Command::ChangeAccountLimits(AccountLimitsChange {
            id: 701,
            account_id: 2,
            expected_controls_version: 0,
            limits: Limits {
                per_transfer_amount_max: None,
                per_day_amount_max: Some(9_000_000),
                per_day_count_max: None,
            },
            reason: "limit review".to_owned(),
            actor: "ops-desk".to_owned(),
        }),
        Command::ClaimPayoutBatch(PayoutBatchClaim {
            claim_id: 0x2122_2324_2526_2728_292a_2b2c_2d2e_2f30,
            worker_id: 5,
            bank: 3,
            max: 64,
            lease_ms: 30_000,
        }),
    ]);
    for command in &batch.commands {
        // Exhaustive on purpose: a new command kind must join the golden batch.
        match command {
            Command::CreateAccount(_)
            | Command::CreateTransfer(_)
            | Command::SetAccountStatus(_)
            | Command::SetAccountLimits(_)
            | Command::CreatePayout(_)
            | Command::ClaimPayouts(_)
            | Command::RecordPayoutOutcome(_)
            | Command::BookCollection(_)
            | Command::AssignSuspense(_)
            | Command::RecordDiscrepancy(_)
            | Command::ResolveDiscrepancy(_)
            | Command::ChangeAccountStatus(_)
            | Command::ChangeAccountLimits(_)
            | Command::ClaimPayoutBatch(_) => {}
        }
    }
    batch
}

/// One command of every kind format version 1 had.
fn every_version_1_command_kind() -> Batch {
    let commands = vec![
        Command::CreateAccount(NewAccount {
            id: 0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10,
            ledger: 156,
            code: 7,
            flags: AccountFlags::HISTORY,
            credit_line: 1_000_000,
            user_data: 42,
        }),
        Command::CreateTransfer(NewTransfer {
            id: 10,
            debit_account_id: 1,
            credit_account_id: 2,
            amount: u128::from(u64::MAX) + 3,
            pending_id: 9,
            user_data: 77,
            timeout: 60,
            ledger: 156,
            code: 2,
            flags: TransferFlags::PENDING,
        }),
        Command::SetAccountStatus(SetAccountStatus {
            account_id: 1,
            status: AccountStatus::Frozen,
            reason: "court order 17".to_owned(),
            actor: "risk-desk".to_owned(),
        }),
        Command::SetAccountLimits(SetAccountLimits {
            account_id: 2,
            limits: Limits {
                per_transfer_amount_max: Some(500_000),
                per_day_amount_max: None,
                per_day_count_max: Some(20),
            },
            reason: "new customer".to_owned(),
            actor: "onboarding".to_owned(),
        }),
        Command::CreatePayout(NewPayout {
            id: 300,
            debit_account_id: 1,
            credit_account_id: 3,
            amount: 12_345,
            user_data: 5,
            ledger: 156,
            code: 3,
            flags: TransferFlags::LINKED,
            bank: 7,
            beneficiary: "张三 6222".to_owned(),
        }),
        Command::ClaimPayouts(ClaimPayouts { worker_id: 11, bank: 7, max: 64, lease_ms: 30_000 }),
        Command::RecordPayoutOutcome(RecordPayoutOutcome {
            payout_id: 300,
            worker_id: 11,
            fencing_token: 4,
            outcome: PayoutOutcome::Succeeded,
        }),
        Command::BookCollection(NewCollection {
            id: 400,
            bank: 7,
            bank_reference: "CAMT-2025-001".to_owned(),
            beneficiary_account_id: 2,
            settlement_account_id: 4,
            suspense_account_id: 5,
            amount: 99,
            user_data: 6,
            ledger: 156,
            code: 4,
        }),
        Command::AssignSuspense(AssignSuspense {
            id: 500,
            bank: 7,
            bank_reference: "CAMT-2025-002".to_owned(),
            account_id: 2,
            reason: "payer named TP2 by phone".to_owned(),
            actor: "ops-desk".to_owned(),
        }),
        Command::RecordDiscrepancy(NewDiscrepancy {
            id: 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100,
            bank: 7,
            class: DiscrepancyClass::AmountMismatch,
            reference: "E2E-2025-003".to_owned(),
            account_ids: vec![1, 3],
            ledger_amount: Some(12_345),
            bank_amount: None,
            ledger_evidence: "payout 300 succeeded".to_owned(),
            bank_evidence: "camt.053 entry 12 344".to_owned(),
            cutoff: 1_764_000_000_000_000_000,
            actor: "reconciler:dc-a".to_owned(),
        }),
        Command::ResolveDiscrepancy(ResolveDiscrepancy {
            id: 600,
            reason: "bank fee, booked".to_owned(),
            actor: "ops-desk".to_owned(),
        }),
    ];
    Batch { timestamp: 1_764_000_000_123_456_789, commands }
}

/// `every_version_1_command_kind` as a version-1 node wrote it. (`AssignSuspense` joined as
/// the ninth kind, `RecordDiscrepancy` and `ResolveDiscrepancy` as the tenth and eleventh
/// while version 1 was current.) This build must keep reading it: version 2 only appended
/// commands, so one decoder reads both.
const GOLDEN_VERSION_1_BATCH_HEX: &str = concat!(
    "01959a97f9f694bfbd180b00909eb8e8c0e1828589909cb0d080c18182029c010708c0843d2a010a",
    "010282808080808080808002094d3c9c0102020201020e636f757274206f72646572203137097269",
    "736b2d6465736b030201a0c21e0001140c6e657720637573746f6d65720a6f6e626f617264696e67",
    "04ac020103b960059c010301070be5bca0e4b8892036323232050b0740b0ea0106ac020b04020790",
    "03070d43414d542d323032352d30303102040563069c010408f403070d43414d542d323032352d30",
    "303202187061796572206e616d6564205450322062792070686f6e65086f70732d6465736b098082",
    "8898c0a081838790a4d0b081c3868e1e07030c4532452d323032352d30303302010301b960001470",
    "61796f757420333030207375636365656465641563616d742e30353320656e747279203132203334",
    "348080a8bef694bfbd180f7265636f6e63696c65723a64632d610ad8041062616e6b206665652c20",
    "626f6f6b6564086f70732d6465736b",
);

/// `every_command_kind` in format version 2 (version 1's commands, then
/// `ChangeAccountStatus`, `ChangeAccountLimits` and `ClaimPayoutBatch`).
const GOLDEN_BATCH_HEX: &str = concat!(
    "02959a97f9f694bfbd180e00909eb8e8c0e1828589909cb0d080c18182029c010708c0843d2a010a",
    "010282808080808080808002094d3c9c0102020201020e636f757274206f72646572203137097269",
    "736b2d6465736b030201a0c21e0001140c6e657720637573746f6d65720a6f6e626f617264696e67",
    "04ac020103b960059c010301070be5bca0e4b8892036323232050b0740b0ea0106ac020b04020790",
    "03070d43414d542d323032352d30303102040563069c010408f403070d43414d542d323032352d30",
    "303202187061796572206e616d6564205450322062792070686f6e65086f70732d6465736b098082",
    "8898c0a081838790a4d0b081c3868e1e07030c4532452d323032352d30303302010301b960001470",
    "61796f757420333030207375636365656465641563616d742e30353320656e747279203132203334",
    "348080a8bef694bfbd180f7265636f6e63696c65723a64632d610ad8041062616e6b206665652c20",
    "626f6f6b6564086f70732d6465736b0b99b0dcb0d182c58992a2c0f8e0a183868b140103010f6368",
    "617267656261636b2077617665097269736b2d6465736b0cbd0502000001c0a8a504000c6c696d69",
    "7420726576696577086f70732d6465736b0db0deb8e9c2e58a95a9d09cb1d284c991a242050340b0",
    "ea01",
);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[test]
fn the_batch_encoding_is_pinned_by_golden_bytes() {
    let batch = every_command_kind();
    let encoded = format::encode_batch(&batch);
    assert_eq!(hex(&encoded), GOLDEN_BATCH_HEX, "the batch encoding changed (see module doc)");
    assert_eq!(encoded[0], BATCH_FORMAT_VERSION);
    // Version 1's body is exactly what the unversioned batch encoded to before versions.
    let unversioned = postcard::to_stdvec(&(batch.timestamp, &batch.commands)).expect("encodes");
    assert_eq!(encoded[1..], unversioned[..]);
    assert_eq!(format::decode_batch(&encoded), Ok(batch));
}

#[test]
fn a_version_1_batch_still_reads_the_same() {
    let bytes: Vec<u8> = (0..GOLDEN_VERSION_1_BATCH_HEX.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(&GOLDEN_VERSION_1_BATCH_HEX[at..at + 2], 16).expect("hex"))
        .collect();
    assert_eq!(bytes[0], 1);
    assert_eq!(format::decode_batch(&bytes), Ok(every_version_1_command_kind()));
}

#[test]
fn a_batch_of_an_unknown_version_is_refused_by_name() {
    let mut encoded = format::encode_batch(&every_command_kind());
    encoded[0] = BATCH_FORMAT_VERSION + 1;
    let error = format::decode_batch(&encoded).expect_err("a newer version must not decode");
    assert_eq!(
        error,
        FormatError::UnknownVersion {
            format: "batch",
            found: BATCH_FORMAT_VERSION + 1,
            newest_known: BATCH_FORMAT_VERSION
        }
    );
    assert_eq!(
        error.to_string(),
        "batch format version 3 is unknown to this node, which reads versions 1 to 2: it was \
         written by a newer node (upgrade this one) or is not a batch"
    );
    encoded[0] = 0;
    assert!(matches!(format::decode_batch(&encoded), Err(FormatError::UnknownVersion { .. })));
    assert_eq!(format::decode_batch(&[]), Err(FormatError::Empty { format: "batch" }));
}

/// Nested inside another value (as in a log entry or a Raft message), serde refuses the
/// unknown version too, so no reader ever misreads a newer batch as its own.
#[test]
fn a_nested_batch_of_an_unknown_version_is_refused() {
    let entry = (7u64, every_command_kind());
    let mut encoded = postcard::to_stdvec(&entry).expect("encodes");
    // The batch starts after the u64 7 (one varint byte).
    assert_eq!(encoded[1], BATCH_FORMAT_VERSION);
    assert_eq!(postcard::from_bytes::<(u64, Batch)>(&encoded).expect("decodes"), entry);
    encoded[1] = BATCH_FORMAT_VERSION + 1;
    assert!(postcard::from_bytes::<(u64, Batch)>(&encoded).is_err());
}
