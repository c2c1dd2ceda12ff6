//! `pain.001.001.09`, customer credit transfer initiation: one payout attempt as a message.
//!
//! One message carries exactly one payment (`NbOfTxs` = 1 at both levels, `CtrlSum` = the
//! amount), so a bank's answer to a message is an answer about one payout, and a resend of a
//! payout is a new message (fresh `MsgId`, `PmtInfId` and `InstrId`) with the same
//! `EndToEndId` — the payout id, which the bank deduplicates by.
//!
//! Reading ([`read`]) is the bank simulator's side: it accepts exactly the shape written here
//! — one payment information block with one transaction, `NbOfTxs` 1 and control sums equal
//! to the amount at both levels — and refuses anything else rather than executing part of a
//! message.
//!
//! The debtor agent is written as `Othr/Id` = `NOTPROVIDED` (the common convention when the
//! debtor's bank is the receiving bank itself) and the creditor agent is omitted: banks that
//! need them will get them with the per-bank configuration of the next slice.

use crate::calendar::{Date, utc_date_time_text};
use crate::iso20022::wire::{
    AccountId, Agent, Amount, CashAccount, CreditTransferTransaction,
    CustomerCreditTransferInitiation, DateChoice, FinancialInstitution, GenericId,
    InstructedAmount, Pain001Document, Pain001GroupHeader, PartyName, PaymentIdentification,
    PaymentInstruction,
};
use crate::iso20022::{XmlError, amount_text, read_document, write_document};
use crate::money::Money;
use crate::payment::{AttemptId, EndToEndId, Party, PayoutInstruction};

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
        PmtMtd: "TRF".to_owned(),
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
        xmlns: NAMESPACE.to_owned(),
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

/// A pain.001 as a bank receives it: one payout attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedInitiation {
    /// `GrpHdr/MsgId`: the attempt's message id.
    pub message_id: AttemptId,
    /// `GrpHdr/CreDtTm`, as written.
    pub created: String,
    /// `PmtInf/PmtInfId`.
    pub payment_information_id: String,
    /// `PmtId/InstrId`.
    pub instruction_id: AttemptId,
    /// `PmtId/EndToEndId`: the payer's idempotency key.
    pub end_to_end_id: EndToEndId,
    /// `InstdAmt` with its currency.
    pub amount: Money,
    /// The paying account and its holder.
    pub debtor: Party,
    /// The beneficiary.
    pub creditor: Party,
    /// `ReqdExctnDt/Dt` (or the date part of `DtTm`).
    pub requested_execution_date: Date,
}

/// Reads a pain.001.001.09 holding exactly one payment (module doc).
pub fn read(text: &str) -> Result<ReceivedInitiation, XmlError> {
    let document: Pain001Document = read_document(text, NAMESPACE)?;
    let initiation = document.CstmrCdtTrfInitn;
    let malformed = |detail: &str| XmlError::Malformed { detail: detail.to_owned() };
    let [payment] = initiation.PmtInf.as_slice() else {
        return Err(malformed("a pain.001 must hold exactly one PmtInf"));
    };
    let [transaction] = payment.CdtTrfTxInf.as_slice() else {
        return Err(malformed("a pain.001 must hold exactly one CdtTrfTxInf"));
    };
    if initiation.GrpHdr.NbOfTxs != "1" || payment.NbOfTxs != "1" {
        return Err(malformed("NbOfTxs must be 1"));
    }
    let wire_amount = &transaction.Amt.InstdAmt;
    let amount = Money::parse(&wire_amount.value, &wire_amount.Ccy)
        .map_err(|source| XmlError::Money { element: "InstdAmt", source })?;
    for (element, sum) in
        [("GrpHdr/CtrlSum", &initiation.GrpHdr.CtrlSum), ("PmtInf/CtrlSum", &payment.CtrlSum)]
    {
        let control = Money::parse(sum, &wire_amount.Ccy)
            .map_err(|source| XmlError::Money { element, source })?;
        if control != amount {
            return Err(malformed("a control sum differs from the instructed amount"));
        }
    }
    let account = |account: &CashAccount, element: &'static str| {
        account.Id.number().map(str::to_owned).ok_or(XmlError::Missing { element })
    };
    let name = |party: &PartyName, element: &'static str| {
        party.Nm.clone().ok_or(XmlError::Missing { element })
    };
    let date_text = match (&payment.ReqdExctnDt.Dt, &payment.ReqdExctnDt.DtTm) {
        (Some(date), _) => date.clone(),
        (None, Some(date_time)) => date_time.chars().take(10).collect(),
        (None, None) => return Err(XmlError::Missing { element: "ReqdExctnDt" }),
    };
    Ok(ReceivedInitiation {
        message_id: AttemptId::parse(&initiation.GrpHdr.MsgId)?,
        created: initiation.GrpHdr.CreDtTm.clone(),
        payment_information_id: payment.PmtInfId.clone(),
        instruction_id: AttemptId::parse(&transaction.PmtId.InstrId)?,
        end_to_end_id: EndToEndId::parse(&transaction.PmtId.EndToEndId)?,
        amount,
        debtor: Party::new(
            &account(&payment.DbtrAcct, "DbtrAcct")?,
            &name(&payment.Dbtr, "Dbtr/Nm")?,
        )?,
        creditor: Party::new(
            &account(&transaction.CdtrAcct, "CdtrAcct")?,
            &name(&transaction.Cdtr, "Cdtr/Nm")?,
        )?,
        requested_execution_date: Date::parse(&date_text)
            .map_err(|source| XmlError::Date { element: "ReqdExctnDt", source })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calendar::Date;
    use crate::money::{Currency, Money};
    use crate::payment::{AttemptId, AttemptIds, EndToEndId, Party};

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
    fn reads_back_what_it_writes_and_refuses_other_shapes() {
        let sent = instruction(7_000_123, 123_450, Currency::Cny);
        let text = write(&sent, "Tianping").expect("writes");
        let received = read(&text).expect("reads");
        assert_eq!(received.end_to_end_id, sent.end_to_end_id);
        assert_eq!(received.message_id, sent.attempt.message_id);
        assert_eq!(received.instruction_id, sent.attempt.instruction_id);
        assert_eq!(received.amount, sent.amount);
        assert_eq!(received.debtor, sent.debtor);
        assert_eq!(received.creditor, sent.creditor);
        assert_eq!(received.requested_execution_date, sent.requested_execution_date);
        let wrong_sum = text.replacen("<CtrlSum>1234.50</CtrlSum>", "<CtrlSum>1.00</CtrlSum>", 1);
        assert!(matches!(read(&wrong_sum), Err(XmlError::Malformed { .. })));
        let two = text.replacen("<NbOfTxs>1</NbOfTxs>", "<NbOfTxs>2</NbOfTxs>", 1);
        assert!(matches!(read(&two), Err(XmlError::Malformed { .. })));
        let too_precise = text.replace(">1234.50<", ">1234.505<");
        assert!(matches!(read(&too_precise), Err(XmlError::Money { .. })));
    }

    #[test]
    fn refuses_amounts_iso_20022_cannot_carry() {
        let too_large = instruction(1, 10u128.pow(18), Currency::Jpy);
        assert!(matches!(write(&too_large, "Tianping"), Err(XmlError::AmountTooLarge { .. })));
    }
}
