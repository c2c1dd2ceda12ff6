//! The supervisor's one error type.

use std::path::PathBuf;

/// Why a node or the cluster could not be started, reached or stopped.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// A file or directory could not be read, written or removed.
    #[error("{action} {}: {source}", path.display())]
    File {
        /// What was being done ("writing", "removing", ...).
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A file's contents do not parse (a node config, a bound-addresses file).
    #[error("{}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A process could not be started or signalled.
    #[error("{what}: {source}")]
    Process {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A node exited while it should be running; the end of its log says why.
    #[error("node {node_id} exited ({status}); the end of {}:\n{log_tail}", log.display())]
    Exited {
        /// The node.
        node_id: u64,
        /// How it exited.
        status: std::process::ExitStatus,
        /// Its log file.
        log: PathBuf,
        /// The last lines of that log.
        log_tail: String,
    },
    /// Something did not happen in time.
    #[error("{0}")]
    Timeout(String),
    /// A node's gRPC API refused or failed a call.
    #[error("{0}")]
    Node(String),
    /// The request cannot be carried out as asked (e.g. a data directory holding a larger
    /// cluster than the one asked for).
    #[error("{0}")]
    Usage(String),
}

impl SupervisorError {
    /// A file error's constructor, for `map_err`.
    pub(crate) fn file(
        action: &'static str,
        path: &std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> SupervisorError {
        let path = path.to_path_buf();
        move |source| SupervisorError::File { action, path, source }
    }
}
