//! Network weather: for a few seconds every link loses packets (5–30 %) and/or every message
//! takes 100–800 ms longer (a latency spike), then the world's configured network returns.
//! madsim's network settings are global, so this is cluster-wide weather, set and cleared
//! through `World::set_network_weather` / `clear_network_weather`, which keep the configured
//! base latency. madsim's connections resend a lost message after a backoff, so loss shows up
//! as delays and reordering between connections, not as holes in a stream.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use madsim::rand::{Rng, thread_rng};

use super::millis;
use crate::world::World;

/// Packet loss, in percent, when the weather has any.
pub const LOSS_PERCENT: Range<u64> = 5..30;
/// Extra one-way latency of a spike, in milliseconds.
pub const SPIKE_MS: Range<u64> = 100..800;
/// How long the weather lasts, in milliseconds.
pub const WINDOW_MS: Range<u64> = 2_000..6_000;

/// Loses `loss` (0..1) of the packets and adds `extra_latency` to every message for `window`.
pub fn start(world: &Arc<World>, loss: f64, extra_latency: Duration, window: Duration) -> String {
    let token = world.set_network_weather(loss, extra_latency);
    let timer_world = world.clone();
    drop(madsim::task::spawn(async move {
        madsim::time::sleep(window).await;
        timer_world.clear_network_weather(Some(token));
    }));
    format!(
        "network weather for {:.3}s: {:.0}% packet loss, +{}ms latency",
        window.as_secs_f64(),
        loss * 100.0,
        extra_latency.as_millis()
    )
}

/// Random weather from the seed: loss, a spike, or both.
pub fn random(world: &Arc<World>) -> String {
    let (lossy, spiky) = match thread_rng().gen_range(0..3) {
        0 => (true, false),
        1 => (false, true),
        _ => (true, true),
    };
    let loss = if lossy { thread_rng().gen_range(LOSS_PERCENT) as f64 / 100.0 } else { 0.0 };
    let spike = if spiky { millis(SPIKE_MS) } else { Duration::ZERO };
    start(world, loss, spike, millis(WINDOW_MS))
}
