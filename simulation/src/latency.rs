//! Named distances between data centers: every drill runs under one of them, so a timing that
//! only works on a short link shows up as failing seeds instead of in production.
//!
//! A profile gives the world's link delay between any two data centers and the round trip the
//! nodes are told to expect (`NodeConfig::inter_dc_round_trip_ms`), from which they derive
//! their Raft timings. The expected round trip is the profile's worst steady round trip (two
//! worst one-way delays and the intra-data-center hops); cross-border links also spike now
//! and then beyond it, as real long-haul routes do, so the nodes must ride out the odd late
//! heartbeat.
//!
//! `cargo xtask sim --latency PROFILE` picks one through `TIANPING_SIM_LATENCY` (read by the
//! `drills` test binary); without it the drills run `national`.

use std::fmt;
use std::time::Duration;

use tianping_node::sim_link::LinkDelay;

/// The variable the `drills` test binary reads its profile from.
pub const LATENCY_VARIABLE: &str = "TIANPING_SIM_LATENCY";

/// Margin for the intra-data-center hops (madsim's 1 ms minimum, twice each way) in the round
/// trip the nodes are told to expect.
const LOCAL_HOPS: Duration = Duration::from_millis(2);

/// How far apart the data centers are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatencyProfile {
    /// Same metro area: 1–5 ms one way.
    Metro,
    /// One country: 20–45 ms one way.
    #[default]
    National,
    /// Across borders: 60–120 ms one way, and 2 % of messages 20–100 ms later still.
    CrossBorder,
}

impl LatencyProfile {
    /// Every profile, shortest first.
    pub const ALL: [LatencyProfile; 3] =
        [LatencyProfile::Metro, LatencyProfile::National, LatencyProfile::CrossBorder];

    /// The profile's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            LatencyProfile::Metro => "metro",
            LatencyProfile::National => "national",
            LatencyProfile::CrossBorder => "cross-border",
        }
    }

    /// The profile called `name`, if any.
    pub fn parse(name: &str) -> Option<LatencyProfile> {
        LatencyProfile::ALL.into_iter().find(|profile| profile.name() == name)
    }

    /// The profile `TIANPING_SIM_LATENCY` names (the default when unset); an unknown name is
    /// an error naming the known ones.
    pub fn from_environment() -> Result<LatencyProfile, String> {
        match std::env::var(LATENCY_VARIABLE) {
            Err(_) => Ok(LatencyProfile::default()),
            Ok(name) => LatencyProfile::parse(&name).ok_or_else(|| {
                let known: Vec<&str> = LatencyProfile::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "{LATENCY_VARIABLE}: unknown profile `{name}` (known: {})",
                    known.join(", ")
                )
            }),
        }
    }

    /// The extra one-way delay of a link between two data centers.
    pub fn link_delay(self) -> LinkDelay {
        let ms = Duration::from_millis;
        match self {
            LatencyProfile::Metro => LinkDelay::steady(ms(1)..ms(5)),
            LatencyProfile::National => LinkDelay::steady(ms(20)..ms(45)),
            LatencyProfile::CrossBorder => {
                LinkDelay { one_way: ms(60)..ms(120), spikes_per_mille: 20, spike: ms(20)..ms(100) }
            }
        }
    }

    /// The round trip between data centers the nodes are told to expect, in milliseconds: two
    /// worst steady one-way delays plus the local hops (spikes are not planned for).
    pub fn round_trip_ms(self) -> u64 {
        let one_way = self.link_delay().one_way.end;
        let round_trip = one_way.saturating_mul(2).saturating_add(LOCAL_HOPS);
        u64::try_from(round_trip.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for LatencyProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for profile in LatencyProfile::ALL {
            assert_eq!(LatencyProfile::parse(profile.name()), Some(profile));
        }
        assert_eq!(LatencyProfile::parse("lunar"), None);
    }

    #[test]
    fn the_expected_round_trip_covers_two_steady_worst_delays() {
        assert_eq!(LatencyProfile::Metro.round_trip_ms(), 12);
        assert_eq!(LatencyProfile::National.round_trip_ms(), 92);
        assert_eq!(LatencyProfile::CrossBorder.round_trip_ms(), 242);
        assert_eq!(LatencyProfile::CrossBorder.link_delay().worst(), Duration::from_millis(220));
    }
}
