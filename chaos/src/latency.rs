//! Delays between data centers: the profiles the simulation runs under (`simulation/src/
//! latency.rs`: metro 1–5 ms, national 20–45 ms, cross-border 60–120 ms one way with 2 % of
//! messages 20–100 ms later still), as the fault proxy applies them to real bytes, so a drill
//! on processes and a simulated drill are held to the same distances.
//!
//! The proxy delays each chunk of bytes it reads by a fresh sample, but never delivers a chunk
//! before the one read ahead of it (TCP is a byte stream: jitter cannot reorder it), so a
//! connection's bytes arrive in order, each at least its sampled delay late.

use std::fmt;
use std::ops::Range;
use std::time::Duration;

/// One direction's extra delay: uniform in `one_way`, and now and then a spike on top.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delay {
    /// The steady one-way delay, uniform in this range (`start..start`: fixed).
    pub one_way: Range<Duration>,
    /// How many chunks in a thousand are late by a further `spike`.
    pub spikes_per_mille: u16,
    /// A spike's extra delay, uniform in this range.
    pub spike: Range<Duration>,
}

impl Delay {
    /// No delay at all: the link forwards bytes as soon as it reads them.
    pub const NONE: Delay = Delay::fixed(Duration::ZERO);

    /// Always exactly `delay`.
    pub const fn fixed(delay: Duration) -> Delay {
        Delay::steady(delay..delay)
    }

    /// Uniform in `one_way`, no spikes.
    pub const fn steady(one_way: Range<Duration>) -> Delay {
        Delay { one_way, spikes_per_mille: 0, spike: Duration::ZERO..Duration::ZERO }
    }

    /// The longest delay a chunk can get (a spike included).
    pub fn worst(&self) -> Duration {
        let spike = if self.spikes_per_mille > 0 { self.spike.end } else { Duration::ZERO };
        self.one_way.end.max(self.one_way.start).saturating_add(spike)
    }

    /// One chunk's delay, drawn from `jitter`.
    pub fn sample(&self, jitter: &mut Jitter) -> Duration {
        let mut delay = jitter.within(&self.one_way);
        if self.spikes_per_mille > 0 && jitter.below(1000) < u64::from(self.spikes_per_mille) {
            delay = delay.saturating_add(jitter.within(&self.spike));
        }
        delay
    }
}

/// How far apart the data centers are: the simulation's three profiles, by the same names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatencyProfile {
    /// Same metro area: 1–5 ms one way.
    Metro,
    /// One country: 20–45 ms one way.
    #[default]
    National,
    /// Across borders: 60–120 ms one way, and 2 % of chunks 20–100 ms later still.
    CrossBorder,
}

impl LatencyProfile {
    /// Every profile, shortest first.
    pub const ALL: [LatencyProfile; 3] =
        [LatencyProfile::Metro, LatencyProfile::National, LatencyProfile::CrossBorder];

    /// The profile's name on the command line (the simulation's `TIANPING_SIM_LATENCY` names).
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

    /// The one-way delay of every link between two data centers.
    pub fn delay(self) -> Delay {
        let ms = Duration::from_millis;
        match self {
            LatencyProfile::Metro => Delay::steady(ms(1)..ms(5)),
            LatencyProfile::National => Delay::steady(ms(20)..ms(45)),
            LatencyProfile::CrossBorder => {
                Delay { one_way: ms(60)..ms(120), spikes_per_mille: 20, spike: ms(20)..ms(100) }
            }
        }
    }

    /// The round trip between data centers the nodes are told to expect
    /// (`inter_dc_round_trip_ms`), in milliseconds: two worst steady one-way delays and 2 ms
    /// for the local hops, as the simulation computes it.
    pub fn round_trip_ms(self) -> u64 {
        let round_trip =
            self.delay().one_way.end.saturating_mul(2).saturating_add(Duration::from_millis(2));
        u64::try_from(round_trip.as_millis()).unwrap_or(u64::MAX)
    }
}

impl fmt::Display for LatencyProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A small seeded generator (SplitMix64) for delays: each proxied direction draws from its own,
/// seeded from the drill's seed, so a drill names the seed its delays came from. (The times
/// bytes arrive still depend on the machine: this is a real network, not a simulation.)
#[derive(Clone, Debug)]
pub struct Jitter {
    state: u64,
}

impl Jitter {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Jitter {
        Jitter { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (0 when `bound` is 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        if bound == 0 { 0 } else { self.next_u64() % bound }
    }

    /// A duration in `range` (its start when the range is empty).
    pub fn within(&mut self, range: &Range<Duration>) -> Duration {
        let Some(width) = range.end.checked_sub(range.start) else {
            return range.start;
        };
        let width_ns = u64::try_from(width.as_nanos()).unwrap_or(u64::MAX);
        range.start.saturating_add(Duration::from_nanos(self.below(width_ns)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_match_the_simulation() {
        for profile in LatencyProfile::ALL {
            assert_eq!(LatencyProfile::parse(profile.name()), Some(profile));
        }
        assert_eq!(LatencyProfile::parse("lunar"), None);
        assert_eq!(LatencyProfile::Metro.round_trip_ms(), 12);
        assert_eq!(LatencyProfile::National.round_trip_ms(), 92);
        assert_eq!(LatencyProfile::CrossBorder.round_trip_ms(), 242);
        assert_eq!(LatencyProfile::CrossBorder.delay().worst(), Duration::from_millis(220));
    }

    #[test]
    fn samples_stay_in_their_range_and_spikes_come_at_their_rate() {
        let mut jitter = Jitter::new(7);
        let national = LatencyProfile::National.delay();
        for _ in 0..1000 {
            let delay = national.sample(&mut jitter);
            assert!(delay >= Duration::from_millis(20) && delay < Duration::from_millis(45));
        }
        let cross_border = LatencyProfile::CrossBorder.delay();
        let spiked = (0..10_000)
            .filter(|_| cross_border.sample(&mut jitter) >= Duration::from_millis(120))
            .count();
        assert!((100..=300).contains(&spiked), "2 % of 10 000 expected, got {spiked}");
        assert_eq!(Delay::fixed(Duration::from_millis(3)).sample(&mut jitter).as_millis(), 3);
    }
}
