//! Faults the twin injects at the wire, on top of those the simulated world injects itself
//! (failed, throttled and stale reads, refused writes, capacity errors...): an AccessDenied
//! answer, a garbled body (HTTP 200 that does not parse) and a dropped connection (closed with
//! no answer). Each request's fate is a hash of the seed, the tick, the operation and how many
//! such requests came before, not a draw from a stream, so a lockstep run stays deterministic
//! whatever order concurrent requests arrive in. Choosing the rates is the caller's business.

/// Per-request probabilities of each wire fault (they add up to the chance of any).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct WireFaults {
    pub denied: f64,
    pub garbled: f64,
    pub dropped: f64,
    pub seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireFault {
    Denied,
    Garbled,
    Dropped,
}

impl WireFault {
    pub fn name(self) -> &'static str {
        match self {
            WireFault::Denied => "denied",
            WireFault::Garbled => "garbled",
            WireFault::Dropped => "dropped",
        }
    }
}

impl WireFaults {
    /// `denied=0.01,garbled=0.02,dropped=0.01` (any subset; probabilities in 0..=1).
    pub fn parse(spec: &str, seed: u64) -> Result<Self, String> {
        let mut f = WireFaults {
            seed,
            ..WireFaults::default()
        };
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("{part:?} is not NAME=PROBABILITY"))?;
            let p: f64 = v
                .trim()
                .parse()
                .ok()
                .filter(|p: &f64| (0.0..=1.0).contains(p))
                .ok_or_else(|| format!("{k}={v}: the probability must be a number in 0..=1"))?;
            match k.trim() {
                "denied" => f.denied = p,
                "garbled" => f.garbled = p,
                "dropped" => f.dropped = p,
                other => {
                    return Err(format!(
                        "unknown wire fault {other:?} (choose from: denied, garbled, dropped)"
                    ));
                }
            }
        }
        if f.denied + f.garbled + f.dropped > 1.0 {
            return Err("the wire fault probabilities add up to more than 1".into());
        }
        Ok(f)
    }

    pub fn is_off(&self) -> bool {
        self.denied <= 0.0 && self.garbled <= 0.0 && self.dropped <= 0.0
    }

    /// The fault (if any) for the `n`-th request of `op` in the tick at `now_s`.
    pub fn pick(&self, now_s: f64, op: &str, n: u64) -> Option<WireFault> {
        if self.is_off() {
            return None;
        }
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for b in bytes {
                h ^= u64::from(*b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(&self.seed.to_le_bytes());
        eat(&now_s.to_bits().to_le_bytes());
        eat(op.as_bytes());
        eat(&n.to_le_bytes());
        // splitmix64 finaliser: FNV's low bits alone are poorly mixed.
        let mut z = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        if u < self.denied {
            Some(WireFault::Denied)
        } else if u < self.denied + self.garbled {
            Some(WireFault::Garbled)
        } else if u < self.denied + self.garbled + self.dropped {
            Some(WireFault::Dropped)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_bad_specs() {
        let f = WireFaults::parse("denied=0.01, garbled=0.02,dropped=0", 3).unwrap();
        assert_eq!(
            (f.denied, f.garbled, f.dropped, f.seed),
            (0.01, 0.02, 0.0, 3)
        );
        assert!(
            WireFaults::parse("gremlins=0.1", 1)
                .unwrap_err()
                .contains("gremlins")
        );
        assert!(
            WireFaults::parse("denied=2", 1)
                .unwrap_err()
                .contains("0..=1")
        );
        assert!(WireFaults::parse("denied", 1).is_err());
        assert!(WireFaults::parse("", 1).unwrap().is_off());
    }

    #[test]
    fn picks_are_a_function_of_the_request_and_hit_their_rates() {
        let f = WireFaults::parse("denied=0.1,garbled=0.1,dropped=0.1", 7).unwrap();
        let picks: Vec<_> = (0..10_000)
            .map(|n| f.pick(15.0, "ecs:ListTasks", n))
            .collect();
        let again: Vec<_> = (0..10_000)
            .map(|n| f.pick(15.0, "ecs:ListTasks", n))
            .collect();
        assert_eq!(picks, again);
        for kind in [WireFault::Denied, WireFault::Garbled, WireFault::Dropped] {
            let k = picks.iter().filter(|p| **p == Some(kind)).count();
            assert!((800..1200).contains(&k), "{kind:?}: {k}");
        }
        assert_eq!(WireFaults::default().pick(1.0, "x", 1), None);
    }
}
