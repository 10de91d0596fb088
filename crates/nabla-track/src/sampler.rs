//! The system sampler: a thread that logs `sys/*` metrics every few seconds, and the one-off
//! description of the machine stored with each run.
//!
//! Metrics (step = sample number, from 0):
//! - `sys/cpu_percent`: this process's CPU use since the previous sample, in percent of one
//!   core (a process busy on 4 cores reads 400);
//! - `sys/rss_mb`: this process's resident memory, MiB;
//! - `sys/mem_used_percent`: the whole system's used memory, percent of total;
//! - `sys/gpu{i}_util_percent`, `sys/gpu{i}_mem_used_mb`: per GPU, only where a driver
//!   reports them (NVIDIA through NVML); nothing is logged, and nothing fails, without one.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{json, Value};
use sysinfo::{CpuRefreshKind, Gpus, MemoryRefreshKind, ProcessRefreshKind, ProcessesToUpdate, RefreshKind, System};

use crate::queue::Queue;
use crate::writer::Msg;

const MIB: f64 = 1024.0 * 1024.0;

/// A running sampler thread; dropping `stop` ends it.
pub(crate) struct Sampler {
    stop: Option<SyncSender<()>>,
    handle: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling every `interval`, sending points to the run's writer.
    pub(crate) fn start(interval: Duration, queue: Arc<Queue>, next_metric: Arc<AtomicU32>) -> Option<Sampler> {
        let (stop, stopped) = std::sync::mpsc::sync_channel(1);
        let handle = std::thread::Builder::new()
            .name("nabla-track-sampler".into())
            .spawn(move || sample_loop(interval, &queue, &next_metric, &stopped))
            .ok()?;
        Some(Sampler { stop: Some(stop), handle: Some(handle) })
    }

    /// Stops the thread and waits for it.
    pub(crate) fn stop(&mut self) {
        self.stop.take();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop();
    }
}

fn sample_loop(interval: Duration, queue: &Queue, next_metric: &AtomicU32, stopped: &Receiver<()>) {
    let Ok(mut system) = System::new_with_specifics(RefreshKind::nothing()) else { return };
    let Ok(pid) = sysinfo::get_current_pid() else { return };
    let mut gpus = Gpus::new_with_refreshed_list().ok();
    let process_kind = ProcessRefreshKind::nothing().with_cpu().with_memory();
    // The first refresh sets the baseline for the CPU-time difference.
    system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), false, process_kind);
    let mut metrics: Vec<(String, u32)> = Vec::new();
    let mut id_of = |name: &str| -> Option<u32> {
        if let Some((_, id)) = metrics.iter().find(|(n, _)| n == name) {
            return Some(*id);
        }
        let id = next_metric.fetch_add(1, Ordering::Relaxed);
        queue.push([Msg::Metric { id, name: name.to_string() }]).ok()?;
        metrics.push((name.to_string(), id));
        Some(id)
    };
    let mut step = 0i64;
    loop {
        match stopped.recv_timeout(interval) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
        }
        system.refresh_processes_specifics(ProcessesToUpdate::Some(&[pid]), false, process_kind);
        system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let mut values: Vec<(String, f64)> = Vec::with_capacity(8);
        if let Some(process) = system.process(pid) {
            values.push(("sys/cpu_percent".into(), f64::from(process.cpu_usage())));
            values.push(("sys/rss_mb".into(), process.memory() as f64 / MIB));
        }
        if system.total_memory() > 0 {
            values.push((
                "sys/mem_used_percent".into(),
                100.0 * system.used_memory() as f64 / system.total_memory() as f64,
            ));
        }
        if let Some(gpus) = gpus.as_mut() {
            gpus.refresh(false);
            for (i, gpu) in gpus.iter().enumerate() {
                if let Some(usage) = gpu.usage() {
                    values.push((format!("sys/gpu{i}_util_percent"), f64::from(usage)));
                }
                if let Some(used) = gpu.used_memory() {
                    values.push((format!("sys/gpu{i}_mem_used_mb"), used as f64 / MIB));
                }
            }
        }
        let wall = crate::store::now_secs();
        for (name, value) in values {
            let Some(metric) = id_of(&name) else { return };
            if queue.push([Msg::Point { metric, step, value, wall }]).is_err() {
                return;
            }
        }
        step += 1;
    }
}

/// A description of this machine for the run's `system` column: OS, CPU, memory, GPUs.
pub(crate) fn system_info() -> Value {
    let system = System::new_with_specifics(
        RefreshKind::nothing().with_cpu(CpuRefreshKind::nothing()).with_memory(MemoryRefreshKind::nothing().with_ram()),
    )
    .ok();
    let cpu = system.as_ref().and_then(|s| s.cpus().first().map(|c| c.brand().trim().to_string()));
    let gpus: Vec<Value> = Gpus::new_with_refreshed_list()
        .map(|gpus| {
            gpus.iter()
                .map(|g| json!({"model": g.model(), "vendor": g.vendor(), "memory_mb": g.total_memory().map(|b| (b as f64 / MIB).round())}))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "os": System::long_os_version().ok(),
        "kernel": System::kernel_version().ok(),
        "arch": std::env::consts::ARCH,
        "cpu": cpu,
        "logical_cpus": system.as_ref().map(|s| s.cpus().len()),
        "physical_cores": System::physical_core_count().ok(),
        "memory_mb": system.as_ref().map(|s| (s.total_memory() as f64 / MIB).round()),
        "gpus": gpus,
    })
}
