//! Run statuses: how a run ended ([`EndStatus`]) and what readers see ([`RunStatus`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How a run ended, as passed to [`Run::finish`](crate::Run::finish).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EndStatus {
    /// Ran to the end.
    Finished,
    /// Stopped by an error (also what dropping an unfinished [`Run`](crate::Run) records).
    Failed,
    /// Stopped by the user (Ctrl-C).
    Interrupted,
    /// Stopped because the loss became NaN or infinite (a learning rate too high): a result
    /// of the experiment, not a failure of the program.
    Diverged,
}

impl EndStatus {
    /// The stored name: `finished`, `failed`, `interrupted` or `diverged`.
    pub fn as_str(self) -> &'static str {
        RunStatus::from(self).as_str()
    }
}

/// A run's status as readers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Recording, with a recent heartbeat.
    Running,
    /// Ended with [`EndStatus::Finished`].
    Finished,
    /// Ended with [`EndStatus::Failed`], or dropped without `finish`.
    Failed,
    /// Ended with [`EndStatus::Interrupted`] (Ctrl-C).
    Interrupted,
    /// Ended with [`EndStatus::Diverged`] (the loss became NaN or infinite).
    Diverged,
    /// Stored as running, but its heartbeat stopped: the process died (kill -9, power loss)
    /// without ending the run. Never stored; decided when the run is read.
    Crashed,
}

impl RunStatus {
    /// The lowercase name used in the store, filters and output.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Interrupted => "interrupted",
            RunStatus::Diverged => "diverged",
            RunStatus::Crashed => "crashed",
        }
    }
}

impl From<EndStatus> for RunStatus {
    fn from(status: EndStatus) -> RunStatus {
        match status {
            EndStatus::Finished => RunStatus::Finished,
            EndStatus::Failed => RunStatus::Failed,
            EndStatus::Interrupted => RunStatus::Interrupted,
            EndStatus::Diverged => RunStatus::Diverged,
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<RunStatus, String> {
        Ok(match s {
            "running" => RunStatus::Running,
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "interrupted" => RunStatus::Interrupted,
            "diverged" => RunStatus::Diverged,
            "crashed" => RunStatus::Crashed,
            other => return Err(format!("unknown run status `{other}`")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for s in [
            RunStatus::Running,
            RunStatus::Finished,
            RunStatus::Failed,
            RunStatus::Interrupted,
            RunStatus::Diverged,
            RunStatus::Crashed,
        ] {
            assert_eq!(s.as_str().parse::<RunStatus>().unwrap(), s);
        }
        assert_eq!(EndStatus::Interrupted.as_str(), "interrupted");
        assert_eq!(EndStatus::Diverged.as_str(), "diverged");
    }
}
