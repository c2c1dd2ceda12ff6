//! `pain.001.001.09`, customer credit transfer initiation: one payout attempt as a message.
//!
//! One message carries exactly one payment (`NbOfTxs` = 1 at both levels, `CtrlSum` = the
//! amount), so a bank's answer to a message is an answer about one payout, and a resend of a
//! payout is a new message (fresh `MsgId`, `PmtInfId` and `InstrId`) with the same
//! `EndToEndId` — the payout id, which the bank deduplicates by.
//!
//! The debtor agent is written as `Othr/Id` = `NOTPROVIDED` (the common convention when the
//! debtor's bank is the receiving bank itself) and the creditor agent is omitted: banks that
//! need them will get them with the per-bank configuration of the next slice.

use crate::calendar::utc_date_time_text;
use crate::gateway::PayoutInstruction;
use crate::iso20022::wire::{
    AccountId, Agent, Amount, CashAccount, CreditTransferTransaction,
    CustomerCreditTransferInitiation, DateChoice, FinancialInstitution, GenericId,
    InstructedAmount, Pain001Document, Pain001GroupHeader, PartyName, PaymentIdentification,
    PaymentInstruction,
};
use crate::iso20022::{XmlError, amount_text, write_document};

/// The namespace of the version written.
pub const NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09";

/// The message name id a pain.002 names in `OrgnlMsgNmId` when it answers one of ours.
pub const MESSAGE_NAME: &str = "pain.001.001.09";

/// Writes `instruction` as a pain.001.001.09 document. `initiating_party` is the name the
/// bank knows us by (`InitgPty/Nm`).
pub fn write(instruction: &PayoutInstruction, initiating_party: &str) -> Result<String, XmlError> {
    let amount = amount_text(instruction.amount.minor_units, instruction.amount.currency)?;
    let currency = instruction.amount.currency.code().to_owned();
    let account = |number: &str| CashAccount {
        Id: AccountId { IBAN: None, Othr: Some(GenericId { Id: number.to_owned() }) },
        Ccy: None,
    };
    let name = |name: &str| PartyName { Nm: Some(name.to_owned()) };
    let transaction = CreditTransferTransaction {
        PmtId: PaymentIdentification {
            InstrId: instruction.attempt.instruction_id.as_str().to_owned(),
            EndToEndId: instruction.end_to_end_id.as_str().to_owned(),
        },
        Amt: InstructedAmount { InstdAmt: Amount { Ccy: currency.clone(), value: amount.clone() } },
        Cdtr: name(instruction.creditor.name()),
        CdtrAcct: account(instruction.creditor.account()),
    };
    let payment = PaymentInstruction {
        PmtInfId: instruction.attempt.instruction_id.as_str().to_owned(),
        PmtMtd: "TRF",
        BtchBookg: false,
        NbOfTxs: "1".to_owned(),
        CtrlSum: amount.clone(),
        ReqdExctnDt: DateChoice {
            Dt: Some(instruction.requested_execution_date.to_string()),
            DtTm: None,
        },
        Dbtr: name(instruction.debtor.name()),
        DbtrAcct: CashAccount { Ccy: Some(currency), ..account(instruction.debtor.account()) },
        DbtrAgt: Agent {
            FinInstnId: FinancialInstitution {
                BICFI: None,
                Othr: Some(GenericId { Id: "NOTPROVIDED".to_owned() }),
            },
        },
        CdtTrfTxInf: vec![transaction],
    };
    let document = Pain001Document {
        xmlns: NAMESPACE,
        CstmrCdtTrfInitn: CustomerCreditTransferInitiation {
            GrpHdr: Pain001GroupHeader {
                MsgId: instruction.attempt.message_id.as_str().to_owned(),
                CreDtTm: utc_date_time_text(instruction.created_at_unix_ms),
                NbOfTxs: "1".to_owned(),
                CtrlSum: amount,
                InitgPty: name(initiating_party),
            },
            PmtInf: vec![payment],
        },
    };
    write_document(&document)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Date;
    use crate::gateway::{AttemptId, AttemptIds, EndToEndId, Party};
    use crate::money::{Currency, Money};

    pub(crate) fn instruction(
        payout_id: u128,
        minor_units: u128,
        currency: Currency,
    ) -> PayoutInstruction {
        PayoutInstruction {
            end_to_end_id: EndToEndId::from_payout_id(payout_id).expect("short id"),
            attempt: AttemptIds {
                message_id: AttemptId::parse("MSG-1").expect("id"),
                instruction_id: AttemptId::parse("INSTR-1").expect("id"),
            },
            amount: Money { minor_units, currency },
            debtor: Party::new("110060149018000123", "天平支付 custody").expect("party"),
            creditor: Party::new("6222020200001234567", "张三 & <Zhang>").expect("party"),
            requested_execution_date: Date::new(2024, 5, 16).expect("date"),
            created_at_unix_ms: 1_715_851_800_123,
        }
    }

    #[test]
    fn writes_one_payment_with_the_payout_id_as_end_to_end_id() {
        let text =
            write(&instruction(7_000_123, 123_450, Currency::Cny), "Tianping").expect("writes");
        for expected in [
            "xmlns=\"urn:iso:std:iso:20022:tech:xsd:pain.001.001.09\"",
            "<MsgId>MSG-1</MsgId>",
            "<CreDtTm>2024-05-16T09:30:00.123Z</CreDtTm>",
            "<NbOfTxs>1</NbOfTxs><CtrlSum>1234.50</CtrlSum>",
            "<PmtInfId>INSTR-1</PmtInfId><PmtMtd>TRF</PmtMtd>",
            "<InstrId>INSTR-1</InstrId><EndToEndId>7000123</EndToEndId>",
            "<InstdAmt Ccy=\"CNY\">1234.50</InstdAmt>",
            "<Nm>张三 &amp; &lt;Zhang&gt;</Nm>",
            "<ReqdExctnDt><Dt>2024-05-16</Dt></ReqdExctnDt>",
        ] {
            assert!(text.contains(expected), "missing {expected} in {text}");
        }
    }

    #[test]
    fn refuses_amounts_iso_20022_cannot_carry() {
        let too_large = instruction(1, 10u128.pow(18), Currency::Jpy);
        assert!(matches!(write(&too_large, "Tianping"), Err(XmlError::AmountTooLarge { .. })));
    }
}
