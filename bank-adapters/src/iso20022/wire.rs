//! The schema subset, as serde structs. Field names are the schema's element names and field
//! order is the schema's sequence order (the writer emits fields in declaration order, and
//! `xmllint --schema` in the interop tests holds it to the official XSDs). Optional elements
//! are `Option` and skipped when absent; repeated ones are `Vec` with `default`. Elements the
//! crate does not use are not declared, so the reader skips them.
//!
//! Only this file knows element names; `pain001.rs`, `pain002.rs` and `camt.rs` convert
//! between these and the crate's domain types.

#![allow(non_snake_case)]

use serde::{Deserialize, Serialize};

/// `ActiveOrHistoricCurrencyAndAmount`: `<Amt Ccy="CNY">12.50</Amt>`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Amount {
    #[serde(rename = "@Ccy")]
    pub Ccy: String,
    #[serde(rename = "$text")]
    pub value: String,
}

/// `DateAndDateTime2Choice`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct DateChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Dt: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub DtTm: Option<String>,
}

/// `GenericAccountIdentification1` / `GenericFinancialIdentification1` (the `Id` part).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct GenericId {
    pub Id: String,
}

/// `AccountIdentification4Choice`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct AccountId {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub IBAN: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Othr: Option<GenericId>,
}

impl AccountId {
    /// The account number, whichever branch of the choice carries it.
    pub fn number(&self) -> Option<&str> {
        self.IBAN.as_deref().or(self.Othr.as_ref().map(|other| other.Id.as_str()))
    }
}

/// `CashAccount38` / `CashAccount39` (the parts used).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CashAccount {
    pub Id: AccountId,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Ccy: Option<String>,
}

/// `PartyIdentification135` (the name).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PartyName {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Nm: Option<String>,
}

/// `FinancialInstitutionIdentification18` (the parts used).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct FinancialInstitution {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BICFI: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Othr: Option<GenericId>,
}

/// `BranchAndFinancialInstitutionIdentification6`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Agent {
    pub FinInstnId: FinancialInstitution,
}

/// `RemittanceInformation16` (unstructured lines).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Remittance {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub Ustrd: Vec<String>,
}

/// `StatusReason6Choice`, `EntryStatus1Choice`, `BalanceType10Choice`: a code or a
/// proprietary text.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CodeChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Cd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Prtry: Option<String>,
}

// ---- pain.001.001.09 ----

/// `CustomerCreditTransferInitiationV09` inside `Document`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pain001Document {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    pub CstmrCdtTrfInitn: CustomerCreditTransferInitiation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CustomerCreditTransferInitiation {
    pub GrpHdr: Pain001GroupHeader,
    #[serde(default)]
    pub PmtInf: Vec<PaymentInstruction>,
}

/// `GroupHeader85`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pain001GroupHeader {
    pub MsgId: String,
    pub CreDtTm: String,
    pub NbOfTxs: String,
    pub CtrlSum: String,
    pub InitgPty: PartyName,
}

/// `PaymentInstruction30`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PaymentInstruction {
    pub PmtInfId: String,
    pub PmtMtd: String,
    pub BtchBookg: bool,
    pub NbOfTxs: String,
    pub CtrlSum: String,
    pub ReqdExctnDt: DateChoice,
    pub Dbtr: PartyName,
    pub DbtrAcct: CashAccount,
    pub DbtrAgt: Agent,
    #[serde(default)]
    pub CdtTrfTxInf: Vec<CreditTransferTransaction>,
}

/// `CreditTransferTransaction34`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CreditTransferTransaction {
    pub PmtId: PaymentIdentification,
    pub Amt: InstructedAmount,
    pub Cdtr: PartyName,
    pub CdtrAcct: CashAccount,
}

/// `PaymentIdentification6`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PaymentIdentification {
    pub InstrId: String,
    pub EndToEndId: String,
}

/// `AmountType4Choice`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct InstructedAmount {
    pub InstdAmt: Amount,
}

// ---- pain.002.001.10 / .12 ----

/// `CustomerPaymentStatusReportV10` (or V12) inside `Document`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pain002Document {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    pub CstmrPmtStsRpt: PaymentStatusReport,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PaymentStatusReport {
    pub GrpHdr: StatusGroupHeader,
    pub OrgnlGrpInfAndSts: OriginalGroupInformation,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub OrgnlPmtInfAndSts: Vec<OriginalPaymentInformation>,
}

/// `GroupHeader86` (and the same shape in V10).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatusGroupHeader {
    pub MsgId: String,
    pub CreDtTm: String,
}

/// `OriginalGroupHeader17`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OriginalGroupInformation {
    pub OrgnlMsgId: String,
    pub OrgnlMsgNmId: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub GrpSts: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub StsRsnInf: Vec<StatusReasonInformation>,
}

/// `StatusReasonInformation12`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct StatusReasonInformation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Rsn: Option<CodeChoice>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub AddtlInf: Vec<String>,
}

/// `OriginalPaymentInstruction40`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct OriginalPaymentInformation {
    pub OrgnlPmtInfId: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub PmtInfSts: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub StsRsnInf: Vec<StatusReasonInformation>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub TxInfAndSts: Vec<TransactionInformation>,
}

/// `PaymentTransaction129` (and its V10 counterpart).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TransactionInformation {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub OrgnlInstrId: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub OrgnlEndToEndId: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub TxSts: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub StsRsnInf: Vec<StatusReasonInformation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub AcctSvcrRef: Option<String>,
}

// ---- camt.053.001.08 / camt.054.001.08 ----

/// `GroupHeader81`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CamtGroupHeader {
    pub MsgId: String,
    pub CreDtTm: String,
}

/// `BankToCustomerStatementV08` inside `Document`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Camt053Document {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    pub BkToCstmrStmt: BankToCustomerStatement,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BankToCustomerStatement {
    pub GrpHdr: CamtGroupHeader,
    #[serde(default)]
    pub Stmt: Vec<AccountStatement>,
}

/// `AccountStatement9`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountStatement {
    pub Id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CreDtTm: Option<String>,
    pub Acct: CashAccount,
    #[serde(default)]
    pub Bal: Vec<CashBalance>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub Ntry: Vec<ReportEntry>,
}

/// `CashBalance8`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct CashBalance {
    pub Tp: BalanceType,
    pub Amt: Amount,
    pub CdtDbtInd: String,
    pub Dt: DateChoice,
}

/// `BalanceType13`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BalanceType {
    pub CdOrPrtry: CodeChoice,
}

/// `BankToCustomerDebitCreditNotificationV08` inside `Document`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Camt054Document {
    #[serde(rename = "@xmlns", default, skip_deserializing)]
    pub xmlns: String,
    pub BkToCstmrDbtCdtNtfctn: BankToCustomerNotification,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BankToCustomerNotification {
    pub GrpHdr: CamtGroupHeader,
    #[serde(default)]
    pub Ntfctn: Vec<AccountNotification>,
}

/// `AccountNotification17`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct AccountNotification {
    pub Id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub CreDtTm: Option<String>,
    pub Acct: CashAccount,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub Ntry: Vec<ReportEntry>,
}

/// `ReportEntry10`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReportEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub NtryRef: Option<String>,
    pub Amt: Amount,
    pub CdtDbtInd: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub RvslInd: Option<bool>,
    pub Sts: CodeChoice,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub BookgDt: Option<DateChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ValDt: Option<DateChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub AcctSvcrRef: Option<String>,
    // Required by the schema, so always written; never needed when reading.
    #[serde(default)]
    pub BkTxCd: BankTransactionCode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub NtryDtls: Vec<EntryDetails>,
}

/// `BankTransactionCodeStructure4` (the ISO domain branch).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct BankTransactionCode {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Domn: Option<BankTransactionDomain>,
}

/// `BankTransactionCodeStructure5`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BankTransactionDomain {
    pub Cd: String,
    pub Fmly: BankTransactionFamily,
}

/// `BankTransactionCodeStructure6`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BankTransactionFamily {
    pub Cd: String,
    pub SubFmlyCd: String,
}

/// `EntryDetails9`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EntryDetails {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub TxDtls: Vec<EntryTransaction>,
}

/// `EntryTransaction10` (the parts used).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EntryTransaction {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Refs: Option<TransactionReferences>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub RltdPties: Option<TransactionParties>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub RmtInf: Option<Remittance>,
}

/// `TransactionReferences6` (the parts used).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TransactionReferences {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub AcctSvcrRef: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub InstrId: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub EndToEndId: Option<String>,
}

/// `TransactionParties6` (names only).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct TransactionParties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Dbtr: Option<PartyChoice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Cdtr: Option<PartyChoice>,
}

/// `Party40Choice` (the party branch).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct PartyChoice {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub Pty: Option<PartyName>,
}
