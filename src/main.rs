//! The one `sextant` binary: every component is a subcommand (DESIGN.md §6).
//!
//! This file only parses the command line and hands off; each subcommand
//! lives in `cmd/`. `anyhow` is used here, at the binary's edge, and nowhere
//! in the libraries.

mod cmd;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's allocator (see ARCHITECTURE.md, "Memory
/// allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay`, which its Rust bindings do not name:
/// in mimalloc.h's option enum it comes right before `use_numa_nodes`.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t =
    libmimalloc_sys::mi_option_use_numa_nodes - 1;
/// How long freed memory stays with the process before it goes back to the
/// OS (mimalloc's default is 1 s). Commits churn through buffers whose
/// pages the default returned and then faulted in again, zeroed: with a
/// minute, `sextant dev` committed 8–12% more upserts at 32 clients for
/// ~10% less CPU each, peak resident memory 1.37–1.38 GiB against
/// 1.26–1.30 (ARCHITECTURE.md, "Memory allocator").
const ALLOCATOR_PURGE_DELAY_MS: std::ffi::c_long = 60_000;

/// Turns transparent huge pages off for this process (and what it forks).
/// mimalloc asks for them on its arenas, so every first touch of a 2 MiB
/// region zeroed all of it: where free guest memory goes back to the host
/// (a VM with free page reporting, like the machines we measure on) that
/// cost 2.3 ms per MiB against 0.4 with 4 KiB pages, and a COPY of 100,000
/// rows into a fresh `sextant dev` spent 44% of its CPU zeroing huge pages
/// (1.75–1.93 s; 1.17–1.29 s with this call). Databases commonly run with
/// THP off for the same first-touch and compaction stalls. Best effort: a
/// kernel without the call leaves THP as configured.
fn disable_transparent_huge_pages() {
    // SAFETY: PR_SET_THP_DISABLE takes integer arguments and only sets a
    // flag on this process's memory descriptor.
    let r = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    if r != 0 {
        eprintln!(
            "warning: could not turn transparent huge pages off: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Sextant: an Aurora-style, Postgres-compatible database for buffering change data.
#[derive(Parser, Debug)]
#[command(name = "sextant", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a whole cluster in one process on loopback (development).
    Dev(cmd::dev::DevArgs),
    /// Run a storage node.
    Storage(cmd::storage::StorageArgs),
    /// Run a compute node (the writer or a read replica).
    Compute(cmd::compute::ComputeArgs),
    /// Print the writer, readers and their lag, and each PG's replicas
    /// with their SCL.
    Status(cmd::status::StatusArgs),
    /// Run the proxy: TLS, IAM and SCRAM auth, writer and reader
    /// endpoints, transparent failover.
    Proxy(cmd::proxy::ProxyArgs),
    /// Print an IAM auth token for the proxy (like `aws rds generate-db-auth-token`).
    Token(cmd::token::TokenArgs),
    /// Export a table one file per closed time window (hourly by default).
    Export(cmd::export::ExportArgs),
    /// Run the change-event ingest service (HTTP JSON events into tables).
    Ingest(cmd::ingest::IngestArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(cmd::bench::BenchCommand),
}

/// Stack of each runtime thread.
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

fn main() -> anyhow::Result<()> {
    disable_transparent_huge_pages();
    // SAFETY: sets a plain integer option; mimalloc reads options at each
    // use, so setting one while the allocator runs is supported.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, ALLOCATOR_PURGE_DELAY_MS) };
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SEXTANT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    // Big stacks (address space, touched only as used): recursion the SQL
    // layer does not guard itself (formatting a deep expression) has room.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Storage(args) = &cli.command {
        builder.worker_threads(usize::from(args.worker_threads));
    }
    let runtime = builder
        .enable_all()
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Dev(args) => cmd::dev::run(args).await,
            Command::Storage(args) => cmd::storage::run(args).await,
            Command::Compute(args) => cmd::compute::run(args).await,
            Command::Status(args) => cmd::status::run(args).await,
            Command::Proxy(args) => cmd::proxy::run(args).await,
            Command::Token(args) => cmd::token::run(args).await,
            Command::Export(args) => cmd::export::run(args).await,
            Command::Ingest(args) => cmd::ingest::run(args).await,
            Command::Bench(cmd::bench::BenchCommand::Volume(args)) => {
                cmd::bench::volume(args).await
            }
            Command::Bench(cmd::bench::BenchCommand::Floor(args)) => cmd::bench::floor(args).await,
            Command::Bench(cmd::bench::BenchCommand::Lag(args)) => cmd::bench_lag::run(args).await,
            Command::Bench(cmd::bench::BenchCommand::Engine(args)) => {
                cmd::bench_engine::run(args).await
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::{disable_transparent_huge_pages, Cli, Command, MI_OPTION_PURGE_DELAY};
    use clap::Parser;

    /// Without `--buffer-pool` (or its environment variable) the writer
    /// and readers of `sextant dev` and a `sextant compute` node get 1 GiB.
    #[test]
    fn buffer_pool_defaults_to_one_gib() {
        for var in ["SEXTANT_DEV_BUFFER_POOL", "SEXTANT_COMPUTE_BUFFER_POOL"] {
            if std::env::var_os(var).is_some() {
                return; // the environment overrides the default checked here
            }
        }
        let dev = Cli::try_parse_from(["sextant", "dev"]).expect("parses");
        let Command::Dev(dev) = dev.command else {
            panic!("not dev: {dev:?}");
        };
        assert_eq!(dev.buffer_pool, 1 << 30);
        let compute = Cli::try_parse_from([
            "sextant",
            "compute",
            "--role",
            "writer",
            "--listen",
            "127.0.0.1:5432",
            "--admin",
            "127.0.0.1:8081",
            "--cluster",
            "cluster.toml",
        ])
        .expect("parses");
        let Command::Compute(compute) = compute.command else {
            panic!("not compute: {compute:?}");
        };
        assert_eq!(compute.buffer_pool, 1 << 30);
    }

    /// After the call the kernel reports THP off for the process.
    #[test]
    fn transparent_huge_pages_are_off() {
        disable_transparent_huge_pages();
        // SAFETY: reads a flag of this process.
        let r = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
        assert_eq!(r, 1);
    }

    /// The option number is the purge delay's: nothing else in mimalloc's
    /// option enum defaults to one second (its neighbours default to 1
    /// and 0).
    #[test]
    fn purge_delay_option_is_mimallocs() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the environment overrides the default checked here
        }
        // SAFETY: reads an integer option.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
