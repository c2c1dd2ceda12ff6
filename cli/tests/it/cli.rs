//! The `tianping` command line against a cluster of `tianping node` processes: the built
//! binary, run as a user runs it, checked by its output and exit status.

use std::process::Command;

use crate::processes::ProcessCluster;
use crate::support::{bounded, stdout, tianping};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_creates_and_looks_up_transfers_and_shows_the_cluster() {
    bounded(async {
        let cluster = ProcessCluster::start_on_loopback(3, |_| {}).await;
        let leader = cluster.initialize().await;
        let follower = cluster
            .nodes
            .iter()
            .map(|node| node.node_id)
            .find(|node_id| *node_id != leader)
            .expect("a follower");
        let address = cluster.node(follower).api_address();
        let address = Some(address.as_str());

        for id in ["10", "20"] {
            let created = tianping(
                address,
                &["account", "create", "--id", id, "--ledger", "1", "--code", "1"],
            )
            .await;
            assert!(created.status.success());
            assert!(stdout(&created).starts_with(&format!("account {id}: ok")));
        }
        let transfer = [
            "transfer", "create", "--id", "1", "--debit", "10", "--credit", "20", "--amount",
            "500", "--ledger", "1", "--code", "1",
        ];
        let created = tianping(address, &transfer).await;
        assert!(created.status.success());
        assert!(stdout(&created).starts_with("transfer 1: ok, amount 500"), "{}", stdout(&created));
        // The same command again is safe: `exists`, still success.
        let replayed = tianping(address, &transfer).await;
        assert!(replayed.status.success());
        assert!(stdout(&replayed).starts_with("transfer 1: exists"));

        // A business refusal: printed by name, exit status 1.
        let refused = tianping(
            address,
            &[
                "transfer", "create", "--id", "2", "--debit", "10", "--credit", "99", "--amount",
                "1", "--ledger", "1", "--code", "1",
            ],
        )
        .await;
        assert_eq!(refused.status.code(), Some(1));
        assert!(stdout(&refused).contains("credit_account_not_found"));

        // Lookup on the leader, JSON for scripts; a missing id fails the command.
        let leader_address = cluster.node(leader).api_address();
        let found = tianping(Some(&leader_address), &["transfer", "lookup", "1", "--json"]).await;
        assert!(found.status.success());
        let json: serde_json::Value = serde_json::from_slice(&found.stdout).expect("JSON");
        assert_eq!(json["transfers"][0]["amount"], "500");
        assert_eq!(json["transfers"][0]["debit_account_id"], "10");
        let missing = tianping(Some(&leader_address), &["transfer", "lookup", "1", "2"]).await;
        assert_eq!(missing.status.code(), Some(1));
        assert!(stdout(&missing).contains("transfer 2: not found"));

        // Status through a follower: every member, lag asked of the leader.
        let shown = tianping(address, &["cluster", "status"]).await;
        assert!(shown.status.success());
        let text = stdout(&shown);
        assert!(text.starts_with(&format!("cluster: leader node {leader}, term ")), "{text}");
        assert!(text.contains("3 voters, 0 learners"), "{text}");
        for node in &cluster.nodes {
            let line = text
                .lines()
                .find(|line| line.trim_start().starts_with(&format!("node {} ", node.node_id)))
                .unwrap_or_else(|| panic!("a line for node {}: {text}", node.node_id));
            assert!(line.contains(&format!("dc=dc-{}", node.node_id)), "{line}");
            assert!(line.contains("lag="), "{line}");
        }
        assert!(text.contains(&format!("lag: from the leader, node {leader}")), "{text}");

        // The risk desk: block account 10 (its debits refused), then unblock it; limits; the
        // audit trail names both changes with their reasons.
        let blocked = tianping(
            address,
            &["account", "block", "10", "--reason", "case 4711", "--actor", "risk:wang"],
        )
        .await;
        assert!(blocked.status.success());
        assert!(
            stdout(&blocked).starts_with("account 10 outflow_blocked: ok"),
            "{}",
            stdout(&blocked)
        );
        let debit = [
            "transfer", "create", "--id", "4", "--debit", "10", "--credit", "20", "--amount", "1",
            "--ledger", "1", "--code", "1",
        ];
        let refused = tianping(address, &debit).await;
        assert_eq!(refused.status.code(), Some(1));
        assert!(stdout(&refused).contains("debit_account_outflow_blocked"), "{}", stdout(&refused));
        let unblocked =
            tianping(address, &["account", "unblock", "10", "--reason", "cleared"]).await;
        assert!(unblocked.status.success());
        let limited = tianping(
            address,
            &["account", "limits", "10", "--per-transfer", "100", "--reason", "KYC tier 1"],
        )
        .await;
        assert!(limited.status.success(), "{}", stdout(&limited));
        let over_limit = tianping(
            address,
            &[
                "transfer", "create", "--id", "5", "--debit", "10", "--credit", "20", "--amount",
                "101", "--ledger", "1", "--code", "1",
            ],
        )
        .await;
        assert_eq!(over_limit.status.code(), Some(1), "{}", stdout(&over_limit));
        let closing = tianping(address, &["account", "close", "10", "--reason", "left"]).await;
        assert_eq!(closing.status.code(), Some(1), "a funded account does not close");
        assert!(stdout(&closing).contains("close_requires_zero_balance"), "{}", stdout(&closing));
        let audit = tianping(address, &["account", "audit", "10"]).await;
        assert!(audit.status.success());
        let trail = stdout(&audit);
        let lines: Vec<&str> = trail.lines().collect();
        assert_eq!(lines.len(), 3, "{trail}");
        assert!(lines[0].contains("status active -> outflow_blocked"), "{trail}");
        assert!(lines[0].contains("reason=\"case 4711\" actor=\"risk:wang\""), "{trail}");
        assert!(lines[1].contains("status outflow_blocked -> active"), "{trail}");
        assert!(lines[2].contains("limits [unlimited] -> [per_transfer=100"), "{trail}");
        let missing_reason = tianping(address, &["account", "freeze", "10"]).await;
        assert_eq!(missing_reason.status.code(), Some(2), "--reason is required");

        // The suspense desk: a bank credit naming no account of ours waits in suspense;
        // `collections suspense` lists it, `collections assign` moves it to account 20 once.
        for id in ["30", "31"] {
            let created = tianping(
                address,
                &["account", "create", "--id", id, "--ledger", "1", "--code", "1"],
            )
            .await;
            assert!(created.status.success());
        }
        let client = tianping_client::Client::new(tianping_client::ClientConfig::new([cluster
            .node(leader)
            .api_address()]))
        .expect("client");
        let credit = tianping_client::NewCollection {
            id: 700,
            bank: 1,
            bank_reference: "CAMT-77".into(),
            beneficiary_account_id: 99,
            settlement_account_id: 30,
            suspense_account_id: 31,
            amount: 250,
            ledger: 1,
            code: 4,
            ..tianping_client::NewCollection::default()
        };
        client.book_collection(credit).await.expect("booked to suspense");
        let listed = tianping(address, &["collections", "suspense"]).await;
        assert!(listed.status.success());
        let text = stdout(&listed);
        assert!(
            text.starts_with("bank 1 CAMT-77 amount 250 beneficiary_not_found beneficiary 99"),
            "{text}"
        );
        assert!(text.contains("1 credit(s) waiting, 250 minor units in all"), "{text}");
        let assign = [
            "collections",
            "assign",
            "--id",
            "701",
            "--bank",
            "1",
            "--reference",
            "CAMT-77",
            "--account",
            "20",
            "--reason",
            "payer named account 20 by phone",
        ];
        let assigned = tianping(address, &assign).await;
        assert!(assigned.status.success());
        assert!(stdout(&assigned).contains("to account 20: ok"), "{}", stdout(&assigned));
        let again = tianping(address, &assign).await;
        assert!(again.status.success(), "a retry with the same id answers exists");
        assert!(stdout(&again).contains(": exists"), "{}", stdout(&again));
        let mut other_id = assign;
        other_id[3] = "702";
        let twice = tianping(address, &other_id).await;
        assert_eq!(twice.status.code(), Some(1), "assigned once only");
        assert!(stdout(&twice).contains("suspense_already_assigned"), "{}", stdout(&twice));
        let empty = tianping(address, &["collections", "suspense", "--json"]).await;
        let json: serde_json::Value = serde_json::from_slice(&empty.stdout).expect("JSON");
        assert_eq!(json["suspense"], serde_json::json!([]));
        let balances = tianping(address, &["account", "lookup", "20", "--json"]).await;
        let json: serde_json::Value = serde_json::from_slice(&balances.stdout).expect("JSON");
        assert_eq!(json["accounts"][0]["credits_posted"], "750", "500 + the 250 assigned");

        // Usage mistakes and unreachable nodes: a message and a non-zero exit, no panic.
        let unreachable = tianping(Some("127.0.0.1:1"), &["cluster", "status"]).await;
        assert_eq!(unreachable.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&unreachable.stderr).into_owned();
        assert!(stderr.contains("cannot reach a node at 127.0.0.1:1"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let bad_amount =
            tianping(address, &["transfer", "create", "--id", "3", "--amount", "-5"]).await;
        assert_eq!(bad_amount.status.code(), Some(2), "clap's usage error");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_without_an_address_or_dev_cluster_says_how_to_name_one() {
    bounded(async {
        let empty = tempfile::tempdir().expect("temporary directory");
        let output = tokio::task::spawn_blocking({
            let directory = empty.path().to_path_buf();
            move || {
                Command::new(env!("CARGO_BIN_EXE_tianping"))
                    .args(["cluster", "status"])
                    .env_remove("TIANPING_ADDR")
                    .env_remove("TIANPING_DEV_DATA_DIR")
                    .current_dir(directory)
                    .output()
            }
        })
        .await
        .expect("join")
        .expect("run tianping");
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("pass --addr HOST:PORT"), "{stderr}");
        assert!(stderr.contains("tianping dev up"), "{stderr}");
    })
    .await;
}
