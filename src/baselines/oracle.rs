//! TEMP stand-in until the real oracle lands.
use crate::trace::Job;
pub struct OracleCost { pub cost_usd: f64, pub instance_seconds: f64, pub launches: u64 }
pub fn oracle_cost(jobs: &[Job], boot_s: f64, price_per_hour_usd: f64, _jobs_per_worker: u32) -> OracleCost {
    let busy: f64 = jobs.iter().map(|j| j.service_s).sum();
    let s = busy + boot_s;
    OracleCost { cost_usd: s * price_per_hour_usd / 3600.0, instance_seconds: s, launches: 1 }
}
