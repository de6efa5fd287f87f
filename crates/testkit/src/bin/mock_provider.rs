//! `mock-provider`: runs the mock OpenAI/Anthropic provider as a standalone process.

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use vibectl_testkit::{MockProvider, MockReply};

/// Mock LLM provider speaking the OpenAI Chat Completions and Anthropic Messages wire formats.
#[derive(Parser, Debug)]
#[command(name = "mock-provider", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// API key clients must present.
    #[arg(long, default_value = "test-key")]
    api_key: String,
    /// Delay before the response headers, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Reply text.
    #[arg(long, default_value = "Hello from the mock provider.")]
    text: String,
    /// Number of text pieces in streamed replies.
    #[arg(long, default_value_t = 4)]
    chunks: usize,
    /// Delay between SSE events of streamed replies, in milliseconds.
    #[arg(long, default_value_t = 0)]
    chunk_interval_ms: u64,
    /// Do not record requests (for load tests).
    #[arg(long)]
    no_recording: bool,
    /// Tokio worker threads (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    rt.enable_all();
    if let Some(n) = args.workers {
        rt.worker_threads(n.max(1));
    }
    rt.build()
        .context("building the tokio runtime")?
        .block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mock = MockProvider::start_on(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    mock.set_api_key(&args.api_key);
    mock.set_recording(!args.no_recording);
    mock.set_default_reply(
        MockReply::text(args.text)
            .chunks(args.chunks)
            .latency(Duration::from_millis(args.latency_ms))
            .chunk_interval(Duration::from_millis(args.chunk_interval_ms)),
    );
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{}", mock.addr())?;
        out.flush()?;
    }
    wait_for_signal().await?;
    mock.shutdown().await;
    Ok(())
}

#[cfg(unix)]
async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_for_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
