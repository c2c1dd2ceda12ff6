//! Refusal records: the finality of a state-dependent refusal (TigerBeetle's
//! `id_already_failed`).
//!
//! A client that was told "refused" for transfer id X may pay by other means; if a delayed
//! copy of the same request (say, one a stalled follower forwards after the client's retry
//! was answered) later found enough funds and succeeded, the money would move twice. So every
//! create-transfer or create-payout event refused with a transient code
//! (`ResultCode::is_transient`) leaves a `Refusal` under its id, and any later event with
//! that id is answered `id_already_failed`. Refusals are never deleted.

use serde::{Deserialize, Serialize};

use crate::result::ResultCode;

/// One id whose creation was refused for a reason that depended on the state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Refusal {
    /// The transfer or payout id (they share one id space).
    pub id: u128,
    /// The code the first attempt was answered; stored as its stable wire number, so the
    /// record's bytes do not depend on the enum's declaration order.
    #[serde(with = "stable_code")]
    pub code: ResultCode,
    /// The refused event's timestamp.
    pub timestamp: u64,
}

/// Serialises a `ResultCode` as its stable numeric value (`ResultCode::value`).
mod stable_code {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::result::ResultCode;

    pub(super) fn serialize<S: Serializer>(
        code: &ResultCode,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(code.value())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<ResultCode, D::Error> {
        let value = u16::deserialize(deserializer)?;
        ResultCode::from_value(value)
            .ok_or_else(|| D::Error::custom(format!("unknown result code {value}")))
    }
}

#[cfg(test)]
mod tests {
    use super::Refusal;
    use crate::codec;
    use crate::result::ResultCode;

    #[test]
    fn a_refusal_round_trips_through_its_canonical_bytes() {
        let refusal = Refusal { id: 7, code: ResultCode::ExceedsCredits, timestamp: 42 };
        let bytes = codec::encode_value(&refusal);
        assert_eq!(codec::decode_value::<Refusal>(&bytes, "refusal"), Ok(refusal));
    }

    #[test]
    fn an_unknown_code_does_not_decode() {
        // id 7 (one varint byte), code 134 (retired; varint 0x86 0x01), timestamp 42.
        let bytes = [7, 0x86, 0x01, 42];
        assert!(codec::decode_value::<Refusal>(&bytes, "refusal").is_err());
    }
}
