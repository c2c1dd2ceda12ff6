//! Canonical bytes for every record: keys are big-endian so that byte order equals the
//! tables' logical order (RocksDB iterates in that order), values are postcard. The state
//! digest hashes exactly these bytes, so two stores agree on the digest iff they hold the
//! same records.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::collection::{CollectionKey, SuspenseKey};
use crate::discrepancy::DiscrepancyBlock;
use crate::payout::PayoutState;
use crate::store::{AccountTransferEntry, ExpiryKey, PayoutIndexKey};

/// Bytes that do not decode as the record they should be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodecError {
    /// What was being decoded.
    pub what: &'static str,
}

impl std::fmt::Display for CodecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "stored bytes do not decode as {}", self.what)
    }
}

impl std::error::Error for CodecError {}

/// Encodes a value record.
pub fn encode_value<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs, enums, integers and strings into a Vec cannot fail; if it
    // ever did, writing a partial record would be worse than stopping.
    postcard::to_stdvec(value).expect("postcard serialises ledger records into a Vec")
}

/// Decodes a value record.
pub fn decode_value<T: DeserializeOwned>(
    bytes: &[u8],
    what: &'static str,
) -> Result<T, CodecError> {
    postcard::from_bytes(bytes).map_err(|_| CodecError { what })
}

/// Key of an id-keyed table (accounts, transfers, pending transfers, payouts, refusals,
/// discrepancies).
pub fn id_key(id: u128) -> [u8; 16] {
    id.to_be_bytes()
}

/// Key of a timestamp-keyed table (the discrepancy index).
pub fn timestamp_key(timestamp: u64) -> [u8; 8] {
    timestamp.to_be_bytes()
}

/// Key of an audit record: timestamp, then the account (an event may change several).
pub fn audit_key(timestamp: u64, account_id: u128) -> [u8; 24] {
    let mut bytes = [0; 24];
    bytes[..8].copy_from_slice(&timestamp.to_be_bytes());
    bytes[8..].copy_from_slice(&account_id.to_be_bytes());
    bytes
}

/// Key of a discrepancy block: the account, then the discrepancy.
pub fn discrepancy_block_key(block: &DiscrepancyBlock) -> [u8; 32] {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(&block.account_id.to_be_bytes());
    bytes[16..].copy_from_slice(&block.discrepancy_id.to_be_bytes());
    bytes
}

/// Key of the expiry index.
pub fn expiry_key(key: &ExpiryKey) -> [u8; 24] {
    let mut bytes = [0; 24];
    bytes[..8].copy_from_slice(&key.expires_at.to_be_bytes());
    bytes[8..].copy_from_slice(&key.transfer_id.to_be_bytes());
    bytes
}

/// Key of the payout index.
pub fn payout_index_key(key: &PayoutIndexKey) -> [u8; 29] {
    let mut bytes = [0; 29];
    bytes[0] = key.state as u8;
    bytes[1..5].copy_from_slice(&key.bank.to_be_bytes());
    bytes[5..13].copy_from_slice(&key.order.to_be_bytes());
    bytes[13..].copy_from_slice(&key.payout_id.to_be_bytes());
    bytes
}

/// Key of the collections table: bank, then the reference's bytes.
pub fn collection_key(key: &CollectionKey) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(4 + key.bank_reference.len());
    bytes.extend_from_slice(&key.bank.to_be_bytes());
    bytes.extend_from_slice(key.bank_reference.as_bytes());
    bytes
}

/// Key of an account's history entry.
pub fn account_transfer_key(entry: &AccountTransferEntry) -> [u8; 40] {
    let mut bytes = [0; 40];
    bytes[..16].copy_from_slice(&entry.account_id.to_be_bytes());
    bytes[16..24].copy_from_slice(&entry.timestamp.to_be_bytes());
    bytes[24..].copy_from_slice(&entry.transfer_id.to_be_bytes());
    bytes
}

/// Key of a balance snapshot.
pub fn account_balance_key(account_id: u128, timestamp: u64) -> [u8; 24] {
    let mut bytes = [0; 24];
    bytes[..16].copy_from_slice(&account_id.to_be_bytes());
    bytes[16..].copy_from_slice(&timestamp.to_be_bytes());
    bytes
}

/// Key of a payout history record: payout id, then timestamp.
pub fn payout_history_key(payout_id: u128, timestamp: u64) -> [u8; 24] {
    let mut bytes = [0; 24];
    bytes[..16].copy_from_slice(&payout_id.to_be_bytes());
    bytes[16..].copy_from_slice(&timestamp.to_be_bytes());
    bytes
}

/// Key of the suspense index: bank, then booking time.
pub fn suspense_key(key: &SuspenseKey) -> [u8; 12] {
    let mut bytes = [0; 12];
    bytes[..4].copy_from_slice(&key.bank.to_be_bytes());
    bytes[4..].copy_from_slice(&key.timestamp.to_be_bytes());
    bytes
}

fn array<const N: usize>(bytes: &[u8], what: &'static str) -> Result<[u8; N], CodecError> {
    bytes.try_into().map_err(|_| CodecError { what })
}

/// Inverse of `id_key`.
pub fn decode_id_key(bytes: &[u8]) -> Result<u128, CodecError> {
    Ok(u128::from_be_bytes(array(bytes, "id key")?))
}

/// Inverse of `timestamp_key`.
pub fn decode_timestamp_key(bytes: &[u8]) -> Result<u64, CodecError> {
    Ok(u64::from_be_bytes(array(bytes, "timestamp key")?))
}

/// Inverse of `audit_key`: (timestamp, account).
pub fn decode_audit_key(bytes: &[u8]) -> Result<(u64, u128), CodecError> {
    const WHAT: &str = "audit key";
    let bytes: [u8; 24] = array(bytes, WHAT)?;
    Ok((
        u64::from_be_bytes(array(&bytes[..8], WHAT)?),
        u128::from_be_bytes(array(&bytes[8..], WHAT)?),
    ))
}

/// Inverse of `discrepancy_block_key`.
pub fn decode_discrepancy_block_key(bytes: &[u8]) -> Result<DiscrepancyBlock, CodecError> {
    const WHAT: &str = "discrepancy block key";
    let bytes: [u8; 32] = array(bytes, WHAT)?;
    Ok(DiscrepancyBlock {
        account_id: u128::from_be_bytes(array(&bytes[..16], WHAT)?),
        discrepancy_id: u128::from_be_bytes(array(&bytes[16..], WHAT)?),
    })
}

/// Inverse of `expiry_key`.
pub fn decode_expiry_key(bytes: &[u8]) -> Result<ExpiryKey, CodecError> {
    let bytes: [u8; 24] = array(bytes, "expiry key")?;
    Ok(ExpiryKey {
        expires_at: u64::from_be_bytes(array(&bytes[..8], "expiry key")?),
        transfer_id: u128::from_be_bytes(array(&bytes[8..], "expiry key")?),
    })
}

/// Inverse of `payout_index_key`.
pub fn decode_payout_index_key(bytes: &[u8]) -> Result<PayoutIndexKey, CodecError> {
    const WHAT: &str = "payout index key";
    let bytes: [u8; 29] = array(bytes, WHAT)?;
    let state =
        PayoutState::ALL.get(usize::from(bytes[0])).copied().ok_or(CodecError { what: WHAT })?;
    Ok(PayoutIndexKey {
        state,
        bank: u32::from_be_bytes(array(&bytes[1..5], WHAT)?),
        order: u64::from_be_bytes(array(&bytes[5..13], WHAT)?),
        payout_id: u128::from_be_bytes(array(&bytes[13..], WHAT)?),
    })
}

/// Inverse of `collection_key`.
pub fn decode_collection_key(bytes: &[u8]) -> Result<CollectionKey, CodecError> {
    const WHAT: &str = "collection key";
    if bytes.len() < 4 {
        return Err(CodecError { what: WHAT });
    }
    let bank_reference =
        String::from_utf8(bytes[4..].to_vec()).map_err(|_| CodecError { what: WHAT })?;
    Ok(CollectionKey { bank: u32::from_be_bytes(array(&bytes[..4], WHAT)?), bank_reference })
}

/// Inverse of `account_transfer_key`.
pub fn decode_account_transfer_key(bytes: &[u8]) -> Result<AccountTransferEntry, CodecError> {
    const WHAT: &str = "account transfer key";
    let bytes: [u8; 40] = array(bytes, WHAT)?;
    Ok(AccountTransferEntry {
        account_id: u128::from_be_bytes(array(&bytes[..16], WHAT)?),
        timestamp: u64::from_be_bytes(array(&bytes[16..24], WHAT)?),
        transfer_id: u128::from_be_bytes(array(&bytes[24..], WHAT)?),
    })
}

/// Inverse of `account_balance_key`.
pub fn decode_account_balance_key(bytes: &[u8]) -> Result<(u128, u64), CodecError> {
    const WHAT: &str = "account balance key";
    let bytes: [u8; 24] = array(bytes, WHAT)?;
    Ok((
        u128::from_be_bytes(array(&bytes[..16], WHAT)?),
        u64::from_be_bytes(array(&bytes[16..], WHAT)?),
    ))
}

/// Inverse of `payout_history_key`.
pub fn decode_payout_history_key(bytes: &[u8]) -> Result<(u128, u64), CodecError> {
    const WHAT: &str = "payout history key";
    let bytes: [u8; 24] = array(bytes, WHAT)?;
    Ok((
        u128::from_be_bytes(array(&bytes[..16], WHAT)?),
        u64::from_be_bytes(array(&bytes[16..], WHAT)?),
    ))
}

/// Inverse of `suspense_key`.
pub fn decode_suspense_key(bytes: &[u8]) -> Result<SuspenseKey, CodecError> {
    const WHAT: &str = "suspense key";
    let bytes: [u8; 12] = array(bytes, WHAT)?;
    Ok(SuspenseKey {
        bank: u32::from_be_bytes(array(&bytes[..4], WHAT)?),
        timestamp: u64::from_be_bytes(array(&bytes[4..], WHAT)?),
    })
}
